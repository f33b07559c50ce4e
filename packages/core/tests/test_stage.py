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


def _run_shard(out, spec, config=None, ids=IDS):
    shard = parse_shard(spec)
    stage = Stage("finr1-distill", "0.1.0", {"seed": 1, **(config or {}), "shard": spec}, output=str(out), shard=shard)
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


def test_a_later_run_with_other_settings_replaces_stale_shards(tmp_path):
    out = tmp_path / "distill"
    for index in range(3):
        _run_shard(out, f"{index}/3")
    new_ids = IDS[:20]
    for index in range(2):
        _run_shard(out, f"{index}/2", config={"seed": 2}, ids=new_ids)
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
