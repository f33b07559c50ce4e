"""Stage plumbing: --shard parsing and selection, resume folders, unsharded and sharded writes (local and Hub)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections import Counter

import pytest

from finr1_core import refs
from finr1_core.errors import ArtifactError, ConfigError
from finr1_core.lineage import InputRecord
from finr1_core.stage import Shard, Stage, merge_summaries, parse_shard, shard_index


def _rows(ids):
    import datasets

    features = datasets.Features({"id": datasets.Value("string"), "x": datasets.Value("int64")})
    return datasets.Dataset.from_dict({"id": list(ids), "x": [len(i) for i in ids]}, features=features)


IDS = [f"src/{i}" for i in range(60)]


# --- shard specs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "index", "count"), [("0/1", 0, 1), ("2/8", 2, 8), (" 7 / 8 ", 7, 8)])
def test_parse_shard_accepts_i_of_n(spec, index, count):
    shard = parse_shard(spec)
    assert shard == Shard(index, count)
    assert str(shard) == f"{index}/{count}"
    assert shard.label == f"{index:05d}-of-{count:05d}"


@pytest.mark.parametrize("spec", [None, "", "  "])
def test_no_shard_spec_means_the_whole_input(spec):
    assert parse_shard(spec) is None


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("8/8", "between 0 and 7"),
        ("3", "expected I/N"),
        ("1/0", "at least 1"),
        ("-1/4", "expected I/N"),
        ("a/b", "expected I/N"),
        ("1/2/3", "expected I/N"),
        ("1.5/4", "expected I/N"),
    ],
)
def test_bad_shard_specs_are_one_line_errors(spec, fragment):
    with pytest.raises(ConfigError) as info:
        parse_shard(spec)
    message = str(info.value)
    assert fragment in message and repr(spec) in message and "\n" not in message


@pytest.mark.parametrize("count", [1, 3, 8])
def test_shards_are_disjoint_and_cover_every_item(count):
    ids = [f"finqa/{i}" for i in range(2000)]
    owners = Counter()
    for index in range(count):
        for item in Shard(index, count).select(ids, key=lambda x: x):
            owners[item] += 1
    assert set(owners) == set(ids) and set(owners.values()) == {1}
    sizes = Counter(shard_index(i, count) for i in ids)
    assert min(sizes.values()) > 0.8 * len(ids) / count  # roughly balanced


def test_shard_selection_keeps_order_and_is_stable_across_processes():
    mine = [shard_index(i, 5) for i in IDS]
    code = "import json,sys; from finr1_core.stage import shard_index; print(json.dumps([shard_index(f'src/{i}', 5) for i in range(60)]))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    ).stdout
    assert json.loads(out) == mine
    picked = list(Shard(2, 5).select(IDS, key=lambda x: x))
    assert picked == [i for i in IDS if shard_index(i, 5) == 2]


def test_merge_summaries_adds_numbers_unions_lists_and_recurses():
    a = {"rows": 3, "rate": 0.5, "removed": ["b", "a"], "per_source": {"finqa": {"ok": 1}}, "name": "x"}
    b = {"rows": 4, "rate": 0.25, "removed": ["c", "a"], "per_source": {"finqa": {"ok": 2}, "tfns": {"ok": 5}}}
    merged = merge_summaries(a, b)
    assert merged == {
        "rows": 7,
        "rate": 0.75,
        "removed": ["a", "b", "c"],
        "per_source": {"finqa": {"ok": 3}, "tfns": {"ok": 5}},
        "name": "x",
    }


# --- unsharded runs --------------------------------------------------------------------------------


def test_unsharded_stage_reads_writes_card_lineage_and_logs_one_line(tmp_path, caplog):
    src = tmp_path / "in"
    refs.save_dataset_ref({"train": _rows(IDS[:5])}, str(src), refs.Lineage.start("finr1-test", "0"))
    out = tmp_path / "out"
    stage = Stage("finr1-judge", "0.1.0", {"output": str(out), "judge": {"api_key_env": "K"}}, output=str(out))
    rows = stage.read_dataset(str(src), split="train")
    assert len(rows) == 5
    state = stage.state_dir
    assert state.is_dir() and state == refs.work_dir(str(out)) / "run"
    (state / "results.jsonl").write_text("{}\n")
    with caplog.at_level(logging.INFO, logger="finr1_core.stage"):
        record = stage.write(
            {"sft": _rows(IDS[:2]), "rl": _rows(IDS[2:5])},
            summary={"judged": 5},
            card_body=lambda s: f"Judged {s['judged']} rows.",
        )
    assert record.counts == {"sft": 2, "rl": 3}
    lineage = refs.read_lineage(str(out))
    assert lineage is not None and lineage.counts == {"sft": 2, "rl": 3}
    assert [i.ref for i in lineage.inputs] == [str(src)] and lineage.inputs[0].revision_sha
    assert "Judged 5 rows." in (out / "README.md").read_text()
    assert not state.exists()  # resume state goes once the output is complete
    line = next(r.getMessage() for r in caplog.records if r.name == "finr1_core.stage")
    assert str(src) in line and str(out) in line and "5 rows" in line and "sft: 2" in line and "rl: 3" in line


# --- sharded runs -------------------------------------------------------------------------------------


def _run_shard(out, spec, config=None, ids=IDS, force=False):
    shard = parse_shard(spec)
    config = {"seed": 1, **(config or {}), "shard": spec}
    stage = Stage("finr1-distill", "0.1.0", config, output=str(out), shard=shard, force=force)
    stage.add_input(InputRecord(ref="samples:finqa", revision_sha="a" * 40))
    state = stage.state_dir
    assert state.name == f"shard-{shard.label}"
    mine = list(shard.select(ids, key=lambda x: x))
    removed = [f"gone/{spec}"]
    summary = {"items": len(mine), "removed_ids": removed, "per_source": {"finqa": {"items": len(mine)}}}
    record = stage.write(
        {"train": _rows(mine), "errors": _rows(mine[:1]), "empty": _rows([])},
        summary=summary,
        card_body=lambda s: f"Distilled {s['items']} items; removed {', '.join(s['removed_ids'])}.",
    )
    assert not state.exists()
    return record, mine


def test_local_shards_write_disjoint_files_and_the_last_one_completes_the_dataset(tmp_path):
    out = tmp_path / "distill"
    seen = []
    for index in range(3):
        record, mine = _run_shard(out, f"{index}/3")
        seen += mine
        files = sorted(p.name for p in (out / "data").iterdir())
        assert f"train-{index:05d}-of-00003.parquet" in files
        if index < 2:
            assert record.revision_sha is None
            assert refs.read_lineage(str(out)) is None  # incomplete until every shard is in
    assert sorted(seen) == sorted(IDS)
    assert sorted(p.name for p in (out / "data").iterdir()) == sorted(
        [f"{split}-{i:05d}-of-00003.parquet" for split in ("train", "errors") for i in range(3)]
        + ["empty-00000-of-00001.parquet"]  # a split without rows is stored once, as finr1_core.refs does
    )
    lineage = refs.read_lineage(str(out))
    assert lineage is not None
    assert lineage.counts["train"] == len(IDS) and lineage.counts["errors"] == 3
    assert lineage.config["shards"] == 3 and "shard" not in lineage.config
    data, _ = refs.load_dataset_ref(str(out))
    assert sorted(data["train"]["id"]) == sorted(IDS)
    assert len(data["empty"]) == 0 and data["empty"].features == data["train"].features
    card = (out / "README.md").read_text()
    assert f"Distilled {len(IDS)} items" in card and "gone/0/3, gone/1/3, gone/2/3" in card
    assert len(list((out / "shards").glob("shard-*.json"))) == 3
    assert not (out / refs.WORK_DIRNAME).exists()


def test_reading_a_half_written_sharded_output_is_refused(tmp_path):
    out = tmp_path / "distill"
    _run_shard(out, "1/3")
    reader = Stage("finr1-judge", "0.1.0", {}, output=str(tmp_path / "judge"))
    with pytest.raises(ArtifactError, match="only 1 of 3 shards are written"):
        reader.read_dataset(str(out), split="train")


def test_shards_of_one_run_may_differ_in_operational_settings(tmp_path):
    out = tmp_path / "distill"
    _run_shard(out, "0/2", config={"concurrency": 8, "teacher": {"base_url": "http://a/v1", "model": "m"}})
    record, _ = _run_shard(
        out, "1/2", config={"concurrency": 64, "teacher": {"base_url": "http://b/v1", "model": "m"}}
    )
    assert record.revision_sha and refs.read_lineage(str(out)).counts["train"] == len(IDS)


def test_a_later_run_with_other_settings_and_force_replaces_stale_shards(tmp_path):
    out = tmp_path / "distill"
    for index in range(3):
        _run_shard(out, f"{index}/3")
    new_ids = IDS[:20]
    for index in range(2):
        _run_shard(out, f"{index}/2", config={"seed": 2}, ids=new_ids, force=True)
    assert sorted(p.name for p in (out / "shards").iterdir()) == [f"shard-{i:05d}-of-00002.json" for i in range(2)]
    data, _ = refs.load_dataset_ref(str(out))
    assert sorted(data["train"]["id"]) == sorted(new_ids)
    assert refs.read_lineage(str(out)).counts["train"] == 20


def test_a_single_shard_run_is_a_whole_dataset(tmp_path):
    out = tmp_path / "distill"
    record, mine = _run_shard(out, "0/1")
    assert record.revision_sha and sorted(mine) == sorted(IDS)
    data, _ = refs.load_dataset_ref(str(out))
    assert len(data["train"]) == len(IDS) and len(data["empty"]) == 0


def test_an_unsharded_rerun_replaces_a_sharded_output(tmp_path):
    out = tmp_path / "distill"
    for index in range(2):
        _run_shard(out, f"{index}/2")
    stage = Stage("finr1-distill", "0.1.0", {"seed": 1}, output=str(out))
    stage.add_input(InputRecord(ref="samples:finqa", revision_sha="a" * 40))  # the same run, not sharded
    stage.write({"train": _rows(IDS[:4])})
    data, _ = refs.load_dataset_ref(str(out))
    assert sorted(data) == ["train"] and len(data["train"]) == 4
    assert not (out / "shards").exists()


def test_a_shard_refuses_a_foreign_directory(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(ArtifactError, match="did not write"):
        _run_shard(out, "0/2")
    assert (out / "notes.txt").read_text() == "keep me"


def test_hub_shards_complete_one_dataset(hub_server, hub_repo_id):
    ref = f"hf://datasets/{hub_repo_id}@run-1"
    for index in range(2):
        record, _ = _run_shard(ref, f"{index}/2")
        if index == 0:
            assert record.revision_sha is None and refs.read_lineage(ref) is None
    assert record.revision_sha
    lineage = refs.read_lineage(ref)
    assert lineage is not None and lineage.counts["train"] == len(IDS)
    data, source = refs.load_dataset_ref(ref)
    assert sorted(data["train"]["id"]) == sorted(IDS) and source.revision_sha == record.revision_sha
    assert len(data["errors"]) == 2 and len(data["empty"]) == 0


# --- re-runs ---------------------------------------------------------------------------------------------------

TEACHER = {"model": "m", "temperature": 0.6, "base_url": "http://a/v1", "api_key_env": "K"}


def _stage(out, teacher=None, force=False, shard=None):
    config = {"output": str(out), "teacher": {**TEACHER, **(teacher or {})}, "concurrency": 4, "shard": shard}
    stage = Stage("finr1-distill", "0.1.0", config, output=str(out), shard=parse_shard(shard), force=force)
    stage.add_input(InputRecord(ref="samples:finqa", revision_sha="a" * 40))
    return stage


def _commits(ref, hub_server):
    repo = refs.parse_ref(ref)
    return hub_server.commit_count(repo.repo_id, "dataset", repo.revision or "main")


@pytest.mark.parametrize("where", ["local", "hub"])
def test_a_complete_output_is_left_alone_and_other_settings_are_refused_unless_force(
    where, hub_server, hub_repo_id, tmp_path
):
    out = str(tmp_path / "distill") if where == "local" else f"hf://datasets/{hub_repo_id}@run-1"
    first = _stage(out)
    assert first.check_rerun() is None
    first.write({"train": _rows(IDS[:5])})
    written = refs.read_lineage(out)
    commits = _commits(out, hub_server) if where == "hub" else None

    again = _stage(out, teacher={"base_url": "http://b/v1"})  # another replica: operational, not a setting
    done = again.check_rerun()
    assert done is not None and done.counts == {"train": 5} and done.revision_sha
    assert not again._state_path().exists()

    changed = _stage(out, teacher={"temperature": 0.9})
    with pytest.raises(ConfigError) as refused:
        changed.check_rerun()
    message = str(refused.value)
    assert "teacher.temperature 0.6 → 0.9" in message and "--force" in message and "\n" not in message
    with pytest.raises(ConfigError, match="teacher.temperature"):  # a caller that skipped the check: refused too
        changed.write({"train": _rows(IDS[:2])})
    assert refs.read_lineage(out) == written
    if where == "hub":
        assert _commits(out, hub_server) == commits  # no commit added on the same branch

    forced = _stage(out, teacher={"temperature": 0.9}, force=True)
    assert forced.check_rerun() is None
    forced.write({"train": _rows(IDS[:2])})
    assert refs.read_lineage(out).config["teacher"]["temperature"] == 0.9


def test_check_complete_is_the_rerun_rule_for_writers_that_are_not_stages(tmp_path):
    from finr1_core.stage import check_complete

    out = tmp_path / "model"
    inputs = [InputRecord(ref="base", revision_sha="b" * 40)]
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text("{}")
    config = {"lr": 1e-5, "trl": {"output_dir": "/scratch/a"}}
    refs.save_model_ref(tmp_path / "m", str(out), refs.Lineage.start("finr1-train", "0", config, inputs))
    same = {"lr": 1e-5, "trl": {"output_dir": "/scratch/b"}}
    assert check_complete(
        out, tool="finr1-train", config=same, inputs=inputs, repo_type="model", ignore={"output_dir"}
    )
    with pytest.raises(ConfigError, match="input base at bbbbbbbbbbbb → cccccccccccc"):
        check_complete(
            out,
            tool="finr1-train",
            config=same,
            inputs=[InputRecord(ref="base", revision_sha="c" * 40)],
            repo_type="model",
            ignore={"output_dir"},
        )
    with pytest.raises(ConfigError, match="lr 1e-05 → 0.001"):
        check_complete(
            out,
            tool="finr1-train",
            config={**same, "lr": 1e-3},
            inputs=inputs,
            repo_type="model",
            ignore={"output_dir"},
        )
    assert check_complete(out, tool="finr1-train", config=same, inputs=inputs, repo_type="model", force=True) is None
    assert check_complete(tmp_path / "absent", tool="t", config={}, inputs=lambda: 1 / 0, repo_type="model") is None


# --- shards and the Hub ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["local", "hub"])
def test_a_sharded_output_with_a_missing_shard_is_refused_for_every_ref_kind(where, hub_server, hub_repo_id, tmp_path):
    ref = str(tmp_path / "distill") if where == "local" else f"hf://datasets/{hub_repo_id}@run-1"
    _run_shard(ref, "0/2")
    for read in (
        lambda: refs.load_dataset_ref(ref),
        lambda: refs.load_dataset_ref(ref, split="train"),
        lambda: Stage("finr1-judge", "0.1.0", {}, output=str(tmp_path / "judge")).read_dataset(ref, split="train"),
    ):
        with pytest.raises(ArtifactError, match=r"only 1 of 2 shards are written .*missing 1/2"):
            read()


@pytest.mark.parametrize("where", ["local", "hub"])
def test_a_complete_output_missing_a_data_file_is_refused(where, hub_server, hub_repo_id, tmp_path):
    ref = str(tmp_path / "distill") if where == "local" else f"hf://datasets/{hub_repo_id}@run-1"
    for index in range(2):
        _run_shard(ref, f"{index}/2")
    lost = "data/train-00001-of-00002.parquet"
    if where == "local":
        (tmp_path / "distill" / lost).unlink()
    else:
        from huggingface_hub import HfApi

        HfApi().delete_file(lost, repo_id=hub_repo_id, repo_type="dataset", revision="run-1")
    with pytest.raises(ArtifactError, match="a data file is missing or was changed"):
        refs.load_dataset_ref(ref)


@pytest.mark.parametrize("where", ["local", "hub"])
def test_shards_with_other_settings_are_refused_when_a_shard_starts(where, hub_server, hub_repo_id, tmp_path):
    ref = str(tmp_path / "distill") if where == "local" else f"hf://datasets/{hub_repo_id}@run-1"
    first = _stage(ref, shard="0/2")
    first.write({"train": _rows(list(first.shard.select(IDS, key=lambda x: x)))})
    other = _stage(ref, teacher={"temperature": 0.9}, shard="1/2")
    with pytest.raises(ConfigError) as refused:
        other.check_rerun()
    assert "shard 0/2: teacher.temperature 0.6 → 0.9" in str(refused.value) and "--force" in str(refused.value)
    with pytest.raises(ConfigError, match="teacher.temperature"):  # the write refuses too: nothing is deleted
        other.write({"train": _rows(IDS[:3])})
    assert refs.open_store(ref).list().shard_records == ["shards/shard-00000-of-00002.json"]
    with pytest.raises(ConfigError, match="splits the input 2 ways, this run 4"):
        _stage(ref, shard="1/4").check_rerun()
    same = _stage(ref, teacher={"base_url": "http://b/v1"}, shard="1/2")  # a replica of its own: fine
    assert same.check_rerun() is None
    assert same.write({"train": _rows(list(same.shard.select(IDS, key=lambda x: x)))}).revision_sha


def test_a_failed_final_hub_commit_keeps_the_shard_state_and_the_rerun_only_merges(
    hub_server, hub_repo_id, monkeypatch
):
    monkeypatch.setattr(refs, "HUB_RETRY", refs.RetryPolicy(retries=1, initial_s=0.0, max_s=0.0))
    ref = f"hf://datasets/{hub_repo_id}@run-1"
    _run_shard(ref, "0/2")
    last = Stage("finr1-distill", "0.1.0", {"seed": 1, "shard": "1/2"}, output=ref, shard=parse_shard("1/2"))
    last.add_input(InputRecord(ref="samples:finqa", revision_sha="a" * 40))
    (last.state_dir / "teacher.jsonl").write_text('{"paid": true}\n')  # what the re-run must not pay for again
    mine = list(last.shard.select(IDS, key=lambda x: x))
    splits = {"train": _rows(mine), "errors": _rows(mine[:1]), "empty": _rows([])}
    with hub_server.fail("POST", r"/commit/", status=503, skip=1, times=None, retry_after=0):  # data in, merge not
        with pytest.raises(ArtifactError, match="HTTP 503"):
            last.write(splits)
    assert (last.state_dir / "teacher.jsonl").is_file() and refs.read_lineage(ref) is None
    rerun = Stage("finr1-distill", "0.1.0", {"seed": 1, "shard": "1/2"}, output=ref, shard=parse_shard("1/2"))
    rerun.add_input(InputRecord(ref="samples:finqa", revision_sha="a" * 40))
    record = rerun.check_rerun(card_body="Merged on the re-run.")
    assert record is not None and record.revision_sha and record.counts["train"] == len(IDS)
    assert refs.read_lineage(ref).counts == {"train": len(IDS), "errors": 2, "empty": 0}
    assert "Merged on the re-run." in hub_server.files(hub_repo_id, "dataset", "run-1")["README.md"].decode()
    assert not rerun._state_path().exists()
    data, _ = refs.load_dataset_ref(ref)
    assert sorted(data["train"]["id"]) == sorted(IDS) and len(data["empty"]) == 0
