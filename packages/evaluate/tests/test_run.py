"""`finr1-evaluate run` end to end against the loopback fake OpenAI server.

Every headline benchmark with data in ../shared/data scores 100% when the fake model answers each item
with its gold answer and 0% when it answers wrongly (skipped when the data is absent), on a stratified
``--limit`` sample and on the shipped samples; plus output formats, sampling parameters and bad input.
"""

from __future__ import annotations

import json

import pytest

from finr1_core.schemas import EvalSample
from finr1_core.testing.fake_openai import FakeOpenAIServer
from finr1_evaluate.benchmarks import get_benchmark

MODEL = "m-under-test"
OBJECTIVE = ["finqa", "convfinqa", "tfns", "ant_finance"]


def _run(ev, server, output, *extra: str) -> int:
    return ev.run_cli(["run", "--base-url", server.base_url, "--model", MODEL, "--output", str(output), *extra])


@pytest.mark.parametrize("benchmark", OBJECTIVE)
@pytest.mark.parametrize("answer", ["gold", "wrong"])
def test_headline_shared_data_gold_is_100_wrong_is_0(benchmark, answer, ev, tmp_path):
    data = ev.shared_path(benchmark)
    items = get_benchmark(benchmark).load(data)
    script = ev.ScriptedModel(items, ev.gold_answer if answer == "gold" else ev.wrong_answer)
    with FakeOpenAIServer(script, model=MODEL) as server:
        rc = _run(ev, server, tmp_path, "--benchmark", benchmark, "--data", str(data), "--limit", "60")
        assert rc == 0
        assert server.stats().chat_requests == 60
    assert script.unknown == 0  # every request was one of the benchmark's prompts
    entry = ev.read_results(tmp_path)["benchmarks"][benchmark]
    assert entry["n"] == entry["n_scored"] == 60
    assert entry["accuracy"] == (100.0 if answer == "gold" else 0.0)
    assert entry["rule_only"]["accuracy"] == entry["accuracy"]
    assert entry["extraction_failures"] == entry["generation_errors"] == entry["judge_failures"] == 0
    assert entry["total_items"] == len(items) and len(entry["sampled_ids"]) == 60
    # Stratified: every stratum with a proportional share of at least one item is represented.
    strata = {item.category for item in items}
    sampled = {item.category for item in items if item.id in set(entry["sampled_ids"])}
    big = {c for c in strata if sum(i.category == c for i in items) * 60 / len(items) >= 1}
    assert big <= sampled


@pytest.mark.parametrize("benchmark", [*OBJECTIVE, "finance_instruct_500k"])
def test_shipped_samples_gold_and_wrong(benchmark, ev, tmp_path):
    items = get_benchmark(benchmark).load(samples=True)
    judge_args: list[str] = []
    with FakeOpenAIServer(ev.fair_judge, model="judge") as judge:
        if benchmark == "finance_instruct_500k":  # free text: only a judge can score it
            judge_args = ["--judge-base-url", judge.base_url, "--judge-model", "judge"]
        for answer, expected in (("gold", 100.0), ("wrong", 0.0)):
            script = ev.ScriptedModel(items, ev.gold_answer if answer == "gold" else ev.wrong_answer)
            with FakeOpenAIServer(script, model=MODEL) as server:
                out = tmp_path / answer
                assert _run(ev, server, out, "--benchmark", benchmark, "--samples", *judge_args) == 0
            entry = ev.read_results(out)["benchmarks"][benchmark]
            assert entry["n"] == len(items) and entry["accuracy"] == expected, (answer, entry)
    if benchmark == "finance_instruct_500k":
        assert entry["judge"]["calls"] == len(items) and entry["rule_only"]["accuracy"] == 0.0


def test_outputs_and_request_parameters(ev, tmp_path):
    items = get_benchmark("tfns").load(samples=True)
    seen: list[dict] = []
    script = ev.ScriptedModel(items, ev.gold_answer)

    def model(request):
        seen.append(request)
        return script(request)

    with FakeOpenAIServer(model, model=MODEL) as server:
        assert _run(ev, server, tmp_path, "--benchmark", "tfns", "--samples") == 0
        # RECIPE.md §7 defaults, no system prompt
        assert {(r["temperature"], r["top_p"], r["max_tokens"]) for r in seen} == {(0.6, 0.95, 4096)}
        assert all(m["role"] != "system" for r in seen for m in r["messages"])
        seen.clear()
        out2 = tmp_path / "sys"
        rc = _run(
            ev,
            server,
            out2,
            "--benchmark",
            "tfns",
            "--samples",
            "--system-prompt",
            "You are a analyst.",
            "--temperature",
            "0",
            "--max-tokens",
            "512",
        )
        assert rc == 0
        assert {(r["temperature"], r["max_tokens"]) for r in seen} == {(0.0, 512)}
        assert all(r["messages"][0] == {"role": "system", "content": "You are a analyst."} for r in seen)
    results = ev.read_results(tmp_path)
    assert results["model"] == MODEL and results["seed"] == 42 and results["system_prompt"] is None
    assert results["sampling"] == {"temperature": 0.6, "top_p": 0.95, "max_tokens": 4096, "n": 1, "extra_body": {}}
    assert set(results["versions"]) == {"finr1-evaluate", "finr1-core"}
    entry = results["benchmarks"]["tfns"]
    for key in (
        "n",
        "accuracy",
        "ci95",
        "rule_only",
        "rule_judge",
        "judge_failures",
        "extraction_failures",
        "seed",
        "sampled_ids",
        "scoring",
    ):
        assert key in entry
    lo, hi = entry["ci95"]
    assert lo < 100.0 == hi  # Wilson: 8/8 correct still has a lower bound well below 100
    assert ev.read_results(out2)["system_prompt"] == "You are a analyst."
    assert ev.read_results(out2)["cache_hash"] != results["cache_hash"]  # a new config never reuses responses
    rows = ev.read_samples(tmp_path)
    assert len(rows) == len(items)
    for row in rows:
        sample = EvalSample.from_row(row)
        assert sample.benchmark == "tfns" and sample.correct is True and sample.method == "rule"
        assert sample.reasoning and sample.response and sample.extracted
    # The artifact: one split per benchmark readable with plain datasets, a card with the table, the lineage.
    import datasets

    split = datasets.load_dataset(str(tmp_path), split="tfns")
    assert split.num_rows == len(items) and set(split["id"]) == {it.id for it in items}
    card = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert card.startswith("---\n") and "finr1-evaluate" in card.split("---", 2)[1]
    assert "| Model | TFNS |" in card and f"| {MODEL} | 100.0 |" in card
    lineage = ev.read_lineage(tmp_path)
    assert lineage["tool"] == "finr1-evaluate" and lineage["counts"] == {"tfns": len(items)}
    assert lineage["config"]["model"]["model"] == MODEL and lineage["config"]["system_prompt"] is None
    assert lineage["evaluation"]["served_model"]["revision"] == "unknown"
    assert lineage["inputs"][0]["ref"] == "finr1_evaluate/samples/tfns" and lineage["inputs"][0]["revision_sha"]
    names = {p.name for p in tmp_path.iterdir()}
    assert {"README.md", "data", "lineage.json"} <= names and ".finr1-work" not in names  # work dir gone


def test_bad_input_is_one_line_and_nonzero(ev, tmp_path, capsys):
    def one_line_error(argv: list[str], needle: str) -> None:
        assert ev.run_cli(argv) != 0
        err = capsys.readouterr().err.strip()
        assert needle in err, err
        assert len(err.splitlines()) == 1, err

    base = ["run", "--model", MODEL, "--output", str(tmp_path / "o")]
    with FakeOpenAIServer(model=MODEL) as server:
        url = ["--base-url", server.base_url]
        one_line_error([*base, *url, "--benchmark", "nope"], "unknown benchmark 'nope'")
        one_line_error([*base, *url, "--benchmark", "tfns", "--data", str(tmp_path / "missing")], "does not exist")
        one_line_error(
            [*base, *url, "--benchmark", "fincuge_finnl", "--data", str(tmp_path)], "scored by an LLM judge"
        )
        one_line_error([*base, *url, "--benchmark", "tfns", "--samples", "--model", "other"], "does not serve")
        one_line_error([*base, "--benchmark", "tfns", "--samples"], "--base-url")
        one_line_error([*base, *url, "--benchmark", "tfns", "--samples", "--rescore"], "--rescore: no responses")
        assert server.stats().chat_requests == 0
        dead_judge = ["--judge-base-url", "http://127.0.0.1:9/v1", "--judge-model", "j"]
        one_line_error([*base, *url, "--benchmark", "tfns", "--samples", *dead_judge], "cannot reach")
        secret = ["--api-key-env", "FINR1_TEST_UNSET_KEY_VAR"]
        one_line_error([*base, *url, "--benchmark", "tfns", "--samples", *secret], "FINR1_TEST_UNSET_KEY_VAR")
        assert server.stats().chat_requests == 0
    # the server is gone now: unreachable endpoint at start
    one_line_error([*base, *url, "--benchmark", "tfns", "--samples"], "cannot reach")
    one_line_error([*base, *url, "--api-mode", "completions", "--benchmark", "tfns", "--samples"], "cannot reach")
    raw_url = ["--base-url", server.base_url + "/completions"]  # a custom raw URL: only the connection is checked
    one_line_error([*base, *raw_url, "--api-mode", "completions", "--benchmark", "tfns", "--samples"], "cannot reach")
    bad = tmp_path / "bad.yaml"
    bad.write_text("sampling:\n  temprature: 0.1\n", encoding="utf-8")
    one_line_error([*base, *url, "--benchmark", "tfns", "--config", str(bad)], "temprature")


def test_yaml_benchmark_file(ev, tmp_path):
    rows = [
        {"qid": str(i), "q": f"{i} + {i} = ?", "gold": str(2 * i), "kind": "even" if i % 2 else "odd"}
        for i in range(10)
    ]
    (tmp_path / "sums.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    spec = tmp_path / "sums.yaml"
    spec.write_text(
        "name: sums\ndata: sums.jsonl\nid_column: qid\nquestion_column: q\nreference_column: gold\n"
        "category_column: kind\nanswer_type: numeric\nscoring: rule\n"
        'template: "{q} Put the answer in \\\\boxed{{}}."\n',
        encoding="utf-8",
    )

    def model(request):
        a = int(request["messages"][-1]["content"].split(" + ")[0])
        return f"The sum is \\boxed{{{2 * a if a % 3 else 2 * a + 1}}}"  # wrong for 0, 3, 6, 9

    with FakeOpenAIServer(model, model=MODEL) as server:
        assert _run(ev, server, tmp_path / "out", "--benchmark", str(spec)) == 0
    entry = ev.read_results(tmp_path / "out")["benchmarks"]["sums"]
    assert entry["n"] == 10 and entry["accuracy"] == 60.0
    assert entry["by_category"]["even"]["n"] == 5


def test_adapter_class_benchmark_as_in_the_readme(ev, tmp_path, monkeypatch):
    from finr1_core.formats._io import read_csv
    from finr1_evaluate.benchmarks import BENCHMARKS
    from finr1_evaluate.benchmarks.base import BenchItem, Benchmark, register_benchmark

    class BankExam(Benchmark):
        name = "bank_exam"
        scoring = "rule"
        stratum = "subject"
        layout = "bank_exam/*.csv (id,question,A,B,C,D,answer)"

        def read_local(self, path, variant):
            items = []
            for csv_path in sorted(path.glob("*.csv")):
                _, rows = read_csv(csv_path)
                for _, row in rows:
                    choices = {k: row[k] for k in "ABCD"}
                    prompt = row["question"] + "\n" + "\n".join(f"{k}. {v}" for k, v in choices.items())
                    items.append(
                        BenchItem(
                            id=f"{csv_path.stem}/{row['id']}",
                            category=csv_path.stem,
                            messages=[{"role": "user", "content": prompt + "\n请把答案字母放到 \\boxed{} 中。"}],
                            reference=row["answer"],
                            answer_type="choice",
                            choices=choices,
                            question=row["question"],
                        )
                    )
            return items

    monkeypatch.setitem(BENCHMARKS, "bank_exam", BENCHMARKS.get("bank_exam"))  # restored after the test
    register_benchmark(BankExam(), replace=True)
    folder = tmp_path / "bank_exam"
    folder.mkdir()
    for subject in ("loans", "deposits"):
        lines = ["id,question,A,B,C,D,answer"] + [f"{i},{subject} q{i}?,a,b,c,d,{'ABCD'[i % 4]}" for i in range(6)]
        (folder / f"{subject}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    items = BENCHMARKS["bank_exam"].load(folder)
    assert len(items) == 12
    with FakeOpenAIServer(ev.ScriptedModel(items, ev.gold_answer), model=MODEL) as server:
        assert _run(ev, server, tmp_path / "out", "--benchmark", "bank_exam", "--data", str(tmp_path)) == 0
    entry = ev.read_results(tmp_path / "out")["benchmarks"]["bank_exam"]
    assert entry["accuracy"] == 100.0 and set(entry["by_category"]) == {"loans", "deposits"}


def test_prompt_variant_clean_drops_the_2048_token_line(ev, tmp_path):
    prompts: dict[str, list[str]] = {"faithful": [], "clean": []}
    for variant in prompts:
        items = get_benchmark("finqa").load(samples=True, prompt_variant=variant)
        script = ev.ScriptedModel(items, ev.gold_answer)

        def model(request, variant=variant, script=script):
            prompts[variant].append(request["messages"][-1]["content"])
            return script(request)

        with FakeOpenAIServer(model, model=MODEL) as server:
            args = ["--benchmark", "finqa", "--samples", "--prompt-variant", variant, "--force"]
            rc = _run(ev, server, tmp_path, *args)
            assert rc == 0 and server.stats().chat_requests == len(items)  # a new variant is a new cache key
        assert ev.read_results(tmp_path)["benchmarks"]["finqa"]["accuracy"] == 100.0
    assert all("2048" in p for p in prompts["faithful"])
    assert not any("2048" in p for p in prompts["clean"])


def test_models_route_500_is_accepted_when_health_is_ok(monkeypatch):
    """`transformers serve` answers 500 on GET /v1/models without a Hub cache (TOOLING.md §5); /health decides."""
    import finr1_core.runner
    from finr1_core.errors import EndpointError
    from finr1_evaluate import run as run_module
    from finr1_evaluate.config import ModelEndpoint

    def broken_models(endpoint, timeout_s=15.0):
        raise EndpointError(f"{endpoint.base_url}/models answered HTTP 500: Internal Server Error")

    endpoint = ModelEndpoint(base_url="http://127.0.0.1:1/v1", model=MODEL)
    monkeypatch.setattr(finr1_core.runner, "check_endpoint", broken_models)
    monkeypatch.setattr(run_module, "_healthy", lambda base_url: True)
    run_module._check_endpoint(endpoint)  # accepted with a warning
    monkeypatch.setattr(run_module, "_healthy", lambda base_url: False)
    with pytest.raises(EndpointError, match="HTTP 500"):
        run_module._check_endpoint(endpoint)


def test_both_endpoints_take_every_runner_setting_backoff_and_http_client_included(ev, tmp_path):
    """Issue 12: the model and the judge are core ``EndpointConfig``s, so backoff and the HTTP client are settable."""
    items = get_benchmark("finance_instruct_500k").load(samples=True)
    cfg = tmp_path / "endpoints.yaml"
    cfg.write_text(
        "model: {max_retries: 2, backoff_initial_s: 0, backoff_max_s: 0, http_client: httpx}\n"
        "judge: {max_retries: 2, backoff_initial_s: 0, max_retry_after_s: 5, http_client: lean, max_asks: 2}\n",
        encoding="utf-8",
    )

    def first_call_fails(request, attempt):
        return "500" if attempt == 1 else None

    out = tmp_path / "out"
    with (
        FakeOpenAIServer(ev.ScriptedModel(items, ev.gold_answer), model=MODEL, fault_fn=first_call_fails) as model,
        FakeOpenAIServer(ev.fair_judge, model="judge", fault_fn=first_call_fails) as judge,
    ):
        argv = ["--benchmark", "finance_instruct_500k", "--samples", "--config", str(cfg),
                "--judge-base-url", judge.base_url, "--judge-model", "judge"]  # fmt: skip
        assert _run(ev, model, out, *argv) == 0
        # every first call answered 500 and was retried at once (no backoff), by either client
        assert model.stats().faults == judge.stats().faults == {"500": len(items)}
    assert ev.read_results(out)["benchmarks"]["finance_instruct_500k"]["accuracy"] == 100.0
    config = ev.read_lineage(out)["config"]
    assert config["model"]["backoff_initial_s"] == 0 and config["model"]["http_client"] == "httpx"
    assert config["judge"]["http_client"] == "lean" and config["judge"]["max_asks"] == 2
    assert ev.read_results(out)["judge"]["max_asks"] == 2


def test_the_renamed_judge_attempts_key_is_named_with_its_new_name(ev, tmp_path, capsys):
    cfg = tmp_path / "old.yaml"
    cfg.write_text("judge:\n  attempts: 3\n", encoding="utf-8")
    argv = ["run", "--model", MODEL, "--base-url", "http://127.0.0.1:9/v1", "--output", str(tmp_path / "o")]
    assert ev.run_cli([*argv, "--benchmark", "tfns", "--samples", "--config", str(cfg)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {cfg}:2: unknown key 'judge.attempts' (renamed to 'max_asks');") and "\n" not in err
