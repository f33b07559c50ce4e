"""Inputs resolved before the first request (issue 11 item 6) and the served model's revision (issue 11 item 8)."""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from finr1_core.testing.fake_openai import FakeOpenAIServer
from finr1_evaluate.benchmarks import get_benchmark, sample_path

MODEL = "m-under-test"


def _run(ev, server, output, *extra: str) -> int:
    return ev.run_cli(["run", "--base-url", server.base_url, "--model", MODEL, "--output", str(output), *extra])


# --- issue 11 item 6: every input before the first request ------------------------------------------------


def test_a_hub_failure_on_the_last_benchmark_comes_before_any_request(ev, tmp_path, capsys):
    """Finance-Instruct-500k has no local layout: it was fetched after the others had been generated."""
    items = get_benchmark("tfns").load(samples=True)
    with FakeOpenAIServer(ev.ScriptedModel(items, ev.gold_answer), model=MODEL) as server:
        data = f"tfns={sample_path('tfns')}"  # finance_instruct_500k: its default Hub id, absent on the test Hub
        rc = _run(ev, server, tmp_path / "out", "--benchmark", "tfns,finance_instruct_500k", "--data", data)
        assert rc == 1
        assert server.stats().chat_requests == 0  # nothing was paid for
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "hf://datasets/Josephgflowers/Finance-Instruct-500k: cannot resolve its revision" in err
    assert "--data finance_instruct_500k=PATH" in err
    assert not (tmp_path / "out").exists()


def test_a_benchmark_without_a_hub_copy_is_refused_before_any_request(ev, tmp_path, capsys):
    with FakeOpenAIServer(model=MODEL) as server:
        assert (
            _run(
                ev,
                server,
                tmp_path / "out",
                "--benchmark",
                "tfns,ant_finance",
                "--data",
                "tfns=" + str(sample_path("tfns")),
            )
            == 1
        )
        assert server.stats().chat_requests == 0
    assert "benchmark ant_finance has no Hub copy: pass --data ant_finance=PATH" in capsys.readouterr().err


def test_a_config_for_every_benchmark_runs_a_subset(ev, tmp_path, capsys):
    """A config listing --data and scoring for the five headline sets serves a run of one of them."""
    names = ["finqa", "convfinqa", "ant_finance", "tfns", "finance_instruct_500k"]
    cfg = tmp_path / "all.yaml"
    cfg.write_text(
        "data: " + ",".join(f"{n}={sample_path(n)}" for n in names) + "\n"
        "scoring: {finqa: rule, convfinqa: rule, ant_finance: rule, tfns: rule, finance_instruct_500k: rule_then_judge}\n",
        encoding="utf-8",
    )
    items = get_benchmark("tfns").load(samples=True)
    with FakeOpenAIServer(ev.ScriptedModel(items, ev.gold_answer), model=MODEL) as server:
        rc = ev.run_cli(
            ["--log-level", "DEBUG", "run", "--base-url", server.base_url, "--model", MODEL, "--config", str(cfg),
             "--benchmark", "tfns", "--output", str(tmp_path / "out")]
        )  # fmt: skip
        assert rc == 0 and server.stats().chat_requests == len(items)
    err = capsys.readouterr().err
    assert "--data: ignoring entries for benchmarks not selected in this run: ant_finance, convfinqa" in err
    assert "scoring: ignoring entries for benchmarks not selected" in err
    lineage = ev.read_lineage(tmp_path / "out")
    assert [r["ref"] for r in lineage["inputs"]] == [str(sample_path("tfns"))]
    assert lineage["config"]["scoring"] == {"tfns": "rule"}
    # a name that is no benchmark at all is a typo: named, not ignored
    cfg.write_text(f"data: tfns={sample_path('tfns')},tfnss=/nowhere\n", encoding="utf-8")
    with FakeOpenAIServer(model=MODEL) as server:
        assert _run(ev, server, tmp_path / "typo", "--benchmark", "tfns", "--config", str(cfg)) == 1
    assert "--data: tfnss is not a benchmark" in capsys.readouterr().err


def test_data_revisions_are_recorded_for_local_data(ev, tmp_path):
    data = tmp_path / "tfns"
    data.mkdir()
    (data / "sent_valid.csv").write_bytes((sample_path("tfns") / "sent_valid.csv").read_bytes())
    items = get_benchmark("tfns").load(data)
    with FakeOpenAIServer(ev.ScriptedModel(items, ev.gold_answer), model=MODEL) as server:
        assert _run(ev, server, tmp_path / "a", "--benchmark", "tfns", "--data", str(data)) == 0
        # the data changed under the same path: the complete output is not "the same" any more
        (data / "sent_valid.csv").write_text((data / "sent_valid.csv").read_text(encoding="utf-8") + "x,0\n")
        assert _run(ev, server, tmp_path / "a", "--benchmark", "tfns", "--data", str(data)) == 1
    before = ev.read_lineage(tmp_path / "a")["inputs"][0]
    assert before["ref"] == str(data) and len(before["revision_sha"]) == 40
    assert ev.read_results(tmp_path / "a")["benchmarks"]["tfns"]["data_revision"] == before["revision_sha"]


# --- issue 11 item 8: the served model's ref and revision -----------------------------------------------------


class _ModelsHandler(BaseHTTPRequestHandler):
    """/v1/models as vLLM answers it: the served name as `id`, what it loaded as `root`."""

    def do_GET(self) -> None:
        body = json.dumps({"object": "list", "data": [{"id": "Fin-R1", "root": "/models/fin-r1", "parent": None}]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


def test_without_model_ref_the_endpoint_root_is_recorded_and_the_revision_is_unknown():
    from finr1_evaluate.inputs import resolve_served_model

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _ModelsHandler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        served = resolve_served_model("Fin-R1", f"http://127.0.0.1:{httpd.server_address[1]}/v1", None, {})
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert served.as_dict()["revision"] == "unknown" and served.revision_source == "unknown"
    assert served.endpoint_root == "/models/fin-r1" and served.record is None
    assert "unknown revision; the endpoint reports root `/models/fin-r1`" in served.describe()


def test_model_ref_local_folder_is_recorded_with_its_fingerprint(ev, tmp_path):
    weights = tmp_path / "student"
    weights.mkdir()
    (weights / "lineage.json").write_text('{"tool": "finr1-train"}', encoding="utf-8")
    items = get_benchmark("tfns").load(samples=True)
    with FakeOpenAIServer(ev.ScriptedModel(items, ev.gold_answer), model=MODEL) as server:
        assert _run(ev, server, tmp_path / "out", "--benchmark", "tfns", "--samples", "--model-ref", str(weights)) == 0
        # other weights behind the same served name: a changed input, and (with --force) new generations
        (weights / "lineage.json").write_text('{"tool": "finr1-train", "step": 2}', encoding="utf-8")
        assert _run(ev, server, tmp_path / "out", "--benchmark", "tfns", "--samples", "--model-ref", str(weights)) == 1
        server.reset_stats()
        args = ["--benchmark", "tfns", "--samples", "--model-ref", str(weights), "--force"]
        assert _run(ev, server, tmp_path / "out", *args) == 0
        assert server.stats().chat_requests == len(items)  # the revision keys the response cache
    lineage = ev.read_lineage(tmp_path / "out")
    expected = hashlib.sha1((weights / "lineage.json").read_bytes()).hexdigest()
    assert {"ref": str(weights), "revision_sha": expected} in lineage["inputs"]
    served = lineage["evaluation"]["served_model"]
    assert (
        served["ref"] == str(weights) and served["revision"] == expected and served["revision_source"] == "--model-ref"
    )
    assert f"`{weights}` at `{expected}` (from --model-ref)" in (tmp_path / "out" / "README.md").read_text()


def test_model_ref_embedded_names_the_embedded_model(tmp_path, monkeypatch):
    import finr1_core.models
    from finr1_evaluate.inputs import resolve_model_ref

    folder = tmp_path / "smollm2-135m-instruct"
    folder.mkdir()
    (folder / "lineage.json").write_text('{"tool": "finr1-core"}', encoding="utf-8")
    monkeypatch.setattr(finr1_core.models, "embedded_model_path", lambda cache_dir=None: folder)
    record = resolve_model_ref("embedded")
    assert record.ref == "embedded"
    assert record.revision_sha == hashlib.sha1((folder / "lineage.json").read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("ref", "needle"),
    [
        ("hf://finr1-test/no-such-model-xyz", "cannot resolve its revision"),
        ("hf://datasets/org/name", "names a dataset repo but a model is expected"),
    ],
)
def test_bad_model_ref_is_one_line_before_any_request(ev, tmp_path, capsys, ref, needle):
    with FakeOpenAIServer(model=MODEL) as server:
        assert _run(ev, server, tmp_path / "out", "--benchmark", "tfns", "--samples", "--model-ref", ref) == 1
        assert server.stats().chat_requests == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert needle in err[-1] and err[-1].startswith("error:")
