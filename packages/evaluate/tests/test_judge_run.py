"""The LLM judge inside `run`: strategy, retries of unusable verdicts, judge_failed, and what the judge sees."""

from __future__ import annotations

import pytest

from finr1_core.testing.fake_openai import FakeOpenAIServer, both_verdicts_judge, echo_judge, rambling_judge
from finr1_evaluate.benchmarks import get_benchmark

MODEL = "m-under-test"


def _run(ev, model_server, judge_server, output, *extra: str) -> int:
    return ev.run_cli(
        [
            "run",
            "--base-url",
            model_server.base_url,
            "--model",
            MODEL,
            "--output",
            str(output),
            "--judge-base-url",
            judge_server.base_url,
            "--judge-model",
            "judge",
            *extra,
        ]
    )


@pytest.mark.parametrize("reasoning_mode", ["field", "inline", "inline_no_open"])
def test_judge_never_sees_the_chain_of_thought_or_the_question(reasoning_mode, ev, tmp_path):
    items = get_benchmark("finance_instruct_500k").load(samples=True) + get_benchmark("tfns").load(samples=True)
    prompts: list[str] = []

    def judge(request):
        prompts.append(request["messages"][-1]["content"])
        return ev.fair_judge(request)

    # wrong TFNS labels go to the judge (rule says 0); FI-500k gold text always does (rules cannot decide)
    script = ev.ScriptedModel(
        items, lambda it: ev.gold_answer(it) if it.answer_type == "text" else ev.wrong_answer(it)
    )
    with (
        FakeOpenAIServer(script, model=MODEL, reasoning_mode=reasoning_mode) as model,
        FakeOpenAIServer(judge, model="judge") as judge_server,
    ):
        rc = _run(ev, model, judge_server, tmp_path, "--benchmark", "finance_instruct_500k,tfns", "--samples")
        assert rc == 0
    assert len(prompts) == len(items)
    for prompt in prompts:
        assert ev.COT_MARKER not in prompt and "999999" not in prompt
        assert "<think>" not in prompt and "</think>" not in prompt
    questions = [item.question for item in items if item.question]
    assert questions and not any(q in p for q in questions for p in prompts)
    tfns_prompts = [p for p in prompts if "Bearish" in p]
    assert tfns_prompts and all("Label map" in p for p in tfns_prompts)  # TFNS adds the label map
    results = ev.read_results(tmp_path)["benchmarks"]
    assert results["finance_instruct_500k"]["accuracy"] == 100.0
    assert results["tfns"]["accuracy"] == 0.0 and results["tfns"]["judge"]["calls"] == 8
    rows = ev.read_samples(tmp_path)
    assert all(ev.COT_MARKER in (row["reasoning"] or "") for row in rows)  # kept in samples, not shown to judge
    assert all(ev.COT_MARKER not in (row["extracted"] or "") for row in rows)


def test_unusable_verdicts_are_retried_then_judge_failed_not_zero(ev, tmp_path):
    items = get_benchmark("finance_instruct_500k").load(samples=True)
    assert len(items) >= 4
    always_garbage = items[0].reference.strip()
    garbage_once = items[1].reference.strip()
    says_zero = items[2].reference.strip()
    calls: dict[str, int] = {}

    def judge(request):
        prompt = request["messages"][-1]["content"]
        key = next((r for r in (always_garbage, garbage_once, says_zero) if r in prompt), "other")
        calls[key] = calls.get(key, 0) + 1
        if key == always_garbage:
            return ["I refuse to grade.", "判断: maybe", "\\boxed{7}"][calls[key] - 1]
        if key == garbage_once and calls[key] == 1:
            return "Looks fine to me."
        if key == says_zero:
            return "结果：0"
        return "理由…\n\\boxed{1}"

    script = ev.ScriptedModel(items, ev.gold_answer)
    cfg = tmp_path / "lenient.yaml"  # one judge failure in a handful of items is below the default 90%
    cfg.write_text("min_usable:\n  verdicts: 0.5\n", encoding="utf-8")
    out = tmp_path / "out"
    with FakeOpenAIServer(script, model=MODEL) as model, FakeOpenAIServer(judge, model="judge") as judge_server:
        args = ["--benchmark", "finance_instruct_500k", "--samples", "--config", str(cfg)]
        assert _run(ev, model, judge_server, out, *args) == 0
    assert calls[always_garbage] == 3 and calls[garbage_once] == 2 and calls[says_zero] == 1
    entry = ev.read_results(out)["benchmarks"]["finance_instruct_500k"]
    n = len(items)
    assert entry["judge_failures"] == 1 and entry["judge"]["failed"] == 1
    # the failed item is excluded from the denominator, not scored 0
    assert entry["n_scored"] == n - 1
    assert entry["rule_judge"]["correct"] == n - 2
    assert entry["accuracy"] == round(100 * (n - 2) / (n - 1), 1)
    failed = [r for r in ev.read_samples(out) if r["error"]]
    assert len(failed) == 1 and failed[0]["error"].startswith("judge_failed")
    assert failed[0]["correct"] is None and failed[0]["method"] == "llm" and failed[0]["judge_raw"] == "\\boxed{7}"


def test_strategy_rule_then_judge_overturns_only_rule_failures(ev, tmp_path):
    items = get_benchmark("finqa").load(samples=True)
    judged: list[str] = []

    def judge(request):
        judged.append(request["messages"][-1]["content"])
        return "\\boxed{1}"  # a lenient judge: everything it sees is right

    half = {item.id for item in items[: len(items) // 2]}
    script = ev.ScriptedModel(items, lambda it: ev.gold_answer(it) if it.id in half else ev.wrong_answer(it))
    with FakeOpenAIServer(script, model=MODEL) as model, FakeOpenAIServer(judge, model="judge") as judge_server:
        assert _run(ev, model, judge_server, tmp_path / "rtj", "--benchmark", "finqa", "--samples") == 0
        assert len(judged) == len(items) - len(half)  # only the rule failures went to the judge
        cfg = tmp_path / "rule.yaml"
        cfg.write_text("scoring:\n  finqa: rule\n", encoding="utf-8")
        judged.clear()
        rc = _run(
            ev, model, judge_server, tmp_path / "rule", "--benchmark", "finqa", "--samples", "--config", str(cfg)
        )
        assert rc == 0 and judged == []
    rtj = ev.read_results(tmp_path / "rtj")["benchmarks"]["finqa"]
    assert rtj["rule_only"]["accuracy"] == round(100 * len(half) / len(items), 1)
    assert rtj["rule_judge"]["accuracy"] == 100.0 and rtj["accuracy"] == 100.0
    assert rtj["judge"]["overturned_to_correct"] == len(items) - len(half)
    rule = ev.read_results(tmp_path / "rule")["benchmarks"]["finqa"]
    assert rule["scoring"] == "rule" and rule["rule_judge"] is None
    assert rule["accuracy"] == rtj["rule_only"]["accuracy"]


@pytest.mark.parametrize(
    ("confused_judge", "problem"),
    [(echo_judge, "echo"), (rambling_judge, "none"), (both_verdicts_judge, "both")],
    ids=["echoes-its-prompt", "rambles", "gives-both-verdicts"],
)
def test_a_confused_judge_scores_nothing_on_the_real_finqa_file(confused_judge, problem, ev, tmp_path, capsys):
    """Issue 14: a judge that echoes its prompt turned a model wrong on every item into ~97% on FinQA.

    The echo carries the prompt's ``\\boxed{1}`` example; a rambling judge gives no verdict, a hedging one gives
    both. Each reply is unusable (core's verdict parser), asked again, then a judge failure: never a 1 or a 0.
    """
    data = ev.shared_path("finqa")
    items = get_benchmark("finqa").load(data)
    script = ev.ScriptedModel(items, ev.wrong_answer)
    out = tmp_path / "out"
    with (
        FakeOpenAIServer(script, model=MODEL) as model,
        FakeOpenAIServer(confused_judge, model="judge", reasoning_mode="none") as judge,
    ):
        args = ["--benchmark", "finqa", "--data", str(data), "--limit", "100"]
        # every verdict is unusable: the run fails and reports no score
        assert _run(ev, model, judge, out, *args) == 1
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert f"only 0 of 100 judge verdicts on finqa were usable (0%, below --min-usable 90%): {problem} 100" in err
        assert not (out / "lineage.json").exists()
        assert judge.stats().chat_requests == 300  # each item asked three times (judge.max_asks), then given up
        cfg = tmp_path / "lenient.yaml"
        cfg.write_text("min_usable:\n  verdicts: 0\n", encoding="utf-8")
        judge.reset_stats()
        model.reset_stats()
        assert _run(ev, model, judge, out, *args, "--config", str(cfg)) == 0
        assert judge.stats().chat_requests == model.stats().chat_requests == 0  # resumed: nothing paid twice
    entry = ev.read_results(out)["benchmarks"]["finqa"]
    assert entry["rule_only"]["accuracy"] == 0.0
    assert entry["judge_failures"] == entry["judge"]["calls"] == 100  # counted as failures, not scored
    assert entry["accuracy"] is None and entry["n_scored"] == 0 and entry["rule_judge"]["correct"] == 0
    rows = ev.read_samples(out)
    assert len(rows) == 100 and all(row["correct"] is None for row in rows)
    assert {row["error"] for row in rows} == {f"judge_failed: no usable verdict after 3 asks ({problem})"}
