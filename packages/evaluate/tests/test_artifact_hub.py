"""The evaluation artifact on the Hub (issue 12): `run --output hf://datasets/...` against the Hub test server.

Data read from the Hub is pinned to the commit sha it resolved to and named with it in the lineage, the served
weights (`--model-ref`) too; the artifact loads with plain `datasets`, `report` and `--ids-from` read it by ref,
and a re-run of a complete artifact is left alone.
"""

from __future__ import annotations

import json

import pytest

from finr1_core.testing.fake_openai import FakeOpenAIServer

MODEL = "m-under-test"


@pytest.fixture
def finr1_cache(tmp_path, monkeypatch):
    """Hub outputs keep their work dir under FINR1_CACHE: a temporary one per test."""
    monkeypatch.setenv("FINR1_CACHE", str(tmp_path / "finr1-cache"))
    return tmp_path / "finr1-cache"


def _repos(hub_repo_id: str, *suffixes: str) -> list[str]:
    base = hub_repo_id.replace("--", "-")  # the fixture's cut of a long test name can end in '-'
    return [f"{base}-{s}" for s in suffixes]


def _push_tfns(repo_id: str, rows: list[tuple[str, int]]) -> str:
    """A TFNS-shaped dataset (text, label; split validation) on the test Hub; returns its commit sha."""
    from datasets import Dataset
    from huggingface_hub import HfApi

    Dataset.from_dict({"text": [r[0] for r in rows], "label": [r[1] for r in rows]}).push_to_hub(
        repo_id, split="validation"
    )
    return HfApi().dataset_info(repo_id).sha


def _push_model(repo_id: str) -> str:
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo_id)
    return api.upload_file(path_or_fileobj=b'{"model_type": "qwen2"}', path_in_repo="config.json", repo_id=repo_id).oid


def test_run_writes_the_artifact_to_the_hub_with_data_and_model_revisions(ev, hub_repo_id, finr1_cache, capsys):
    import datasets
    from huggingface_hub import HfApi

    from finr1_evaluate.benchmarks import get_benchmark

    rows = [
        (f"$XYZ shares {'jump' if i % 3 == 0 else 'slide' if i % 3 == 1 else 'hold'} #{i}", i % 3) for i in range(9)
    ]
    data_repo, model_repo, out_repo = _repos(hub_repo_id, "tfns", "model", "eval")
    data_sha = _push_tfns(data_repo, rows)
    model_sha = _push_model(model_repo)
    items = get_benchmark("tfns").load(hub_id=f"{data_repo}@{data_sha}")
    script = ev.ScriptedModel(items, ev.gold_answer)
    output = f"hf://datasets/{out_repo}@run-1"
    argv = [
        "run",
        "--benchmark",
        "tfns",
        "--data",
        f"tfns=hf://datasets/{data_repo}",
        "--model",
        MODEL,
        "--model-ref",
        f"hf://{model_repo}@main",
        "--output",
        output,
    ]
    with FakeOpenAIServer(script, model=MODEL) as server:
        assert ev.run_cli([*argv, "--base-url", server.base_url]) == 0
        assert server.stats().chat_requests == len(items) == 9
        assert "wrote hf://datasets/" in capsys.readouterr().out
        # the same command again: complete for this config and these revisions, left alone
        assert ev.run_cli([*argv, "--base-url", server.base_url]) == 0
        assert server.stats().chat_requests == 9
        assert "left alone" in capsys.readouterr().out

    api = HfApi()
    files = set(api.list_repo_files(out_repo, repo_type="dataset", revision="run-1"))
    assert {"README.md", "lineage.json"} <= files and any(f.startswith("data/tfns-") for f in files)
    lineage = json.loads(
        open(api.hf_hub_download(out_repo, "lineage.json", repo_type="dataset", revision="run-1")).read()
    )
    inputs = {r["ref"]: r["revision_sha"] for r in lineage["inputs"]}
    assert inputs[f"hf://datasets/{data_repo}"] == data_sha  # the data revision read, as a commit sha
    assert inputs[f"hf://{model_repo}@main"] == model_sha  # the weights served, resolved to a commit sha
    evaluation = lineage["evaluation"]
    assert evaluation["served_model"] == {
        "name": MODEL,
        "endpoint": evaluation["served_model"]["endpoint"],
        "ref": f"hf://{model_repo}@main",
        "revision": model_sha,
        "revision_source": "--model-ref",
        "endpoint_root": None,
    }
    tfns = evaluation["benchmarks"]["tfns"]
    assert tfns["data_revision"] == data_sha and tfns["accuracy"] == 100.0
    assert sorted(tfns["sampled_ids"]) == sorted(it.id for it in items)
    assert lineage["config"]["judge"]["base_url"] == "" and lineage["config"]["system_prompt"] is None
    assert not any(finr1_cache.glob("work/*"))  # the work dir went with the final commit

    # plain datasets reads the benchmark split at the branch
    split = datasets.load_dataset(out_repo, split="tfns", revision="run-1")
    assert split.num_rows == 9 and all(split["correct"])
    # report and --ids-from take the Hub ref
    assert ev.run_cli(["report", output]) == 0
    assert f"| {MODEL} | 100.0 |" in capsys.readouterr().out
    with FakeOpenAIServer(script, model="second") as server:
        rc = ev.run_cli(
            [
                "run",
                "--benchmark",
                "tfns",
                "--data",
                f"tfns=hf://datasets/{data_repo}@{data_sha}",
                "--model",
                "second",
                "--base-url",
                server.base_url,
                "--ids-from",
                output,
                "--limit",
                "3",
                "--output",
                f"hf://datasets/{out_repo}@second",
            ]
        )
        assert rc == 0 and server.stats().chat_requests == 9  # every id of the first run, --limit notwithstanding
    second = ev.read_results(f"hf://datasets/{out_repo}@second")
    assert second["benchmarks"]["tfns"]["sampled_ids"] == tfns["sampled_ids"]


def test_a_changed_data_revision_is_a_changed_input(ev, hub_repo_id, finr1_cache, capsys):
    from finr1_evaluate.benchmarks import get_benchmark

    (data_repo,) = _repos(hub_repo_id, "tfns")
    rows = [(f"$ABC guidance {'raised' if i % 2 else 'cut'} #{i}", i % 2) for i in range(6)]
    first_sha = _push_tfns(data_repo, rows)
    output = str(ev_out := (finr1_cache.parent / "out"))
    argv = ["run", "--benchmark", "tfns", "--data", f"tfns=hf://datasets/{data_repo}", "--model", MODEL]
    items = get_benchmark("tfns").load(hub_id=f"{data_repo}@{first_sha}")
    with FakeOpenAIServer(ev.ScriptedModel(items, ev.gold_answer), model=MODEL) as server:
        assert ev.run_cli([*argv, "--base-url", server.base_url, "--output", output]) == 0
        second_sha = _push_tfns(data_repo, [*rows, ("$ABC new row", 2)])
        assert second_sha != first_sha
        capsys.readouterr()
        assert ev.run_cli([*argv, "--base-url", server.base_url, "--output", output]) == 1
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert err.startswith("error: ") and "is a complete evaluation made with other settings" in err
        assert f"input hf://datasets/{data_repo} (revision {first_sha[:12]} → {second_sha[:12]})" in err
        assert "--force" in err
    assert ev.read_results(ev_out)["benchmarks"]["tfns"]["data_revision"] == first_sha  # left as it was
