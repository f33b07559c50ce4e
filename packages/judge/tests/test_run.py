"""`finr1-judge run` end to end against scripted fake judges: every routing branch and its counts, garbage and
timeouts, the chain of thought kept out of round 1, votes, calibration, shards, kill -9 and resume, bad input.

The second half is issue 14's: the run never reports a result it does not have. Refused keys and dead judges fail
the run, confused judges (echoing, rambling, both verdicts, a reasoning parser on an instruct model) score nothing,
a kill in round 2 loses and repeats nothing, bad input is one line, and no secret reaches any stream or file."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from finr1_core import refs
from finr1_core.lineage import Lineage
from finr1_core.schemas import DistilledRow, JudgedRow, RLRow, SFTRow, to_dataset
from finr1_core.testing.fake_openai import (
    FakeAnswer,
    FakeOpenAIServer,
    both_verdicts_judge,
    echo_judge,
    rambling_judge,
)
from finr1_core.testing.leaks import assert_no_leaks, distinctive_secrets
from finr1_judge.cli import main
from finr1_judge.config import FIN_R1_SYSTEM_PROMPT
from finr1_judge.routing import format_ok

COT = "COT-SECRET"
QUESTION = "QUESTION-SECRET"
STEPS = f"First, {COT} read the table carefully.\nSecond, pick the two values we need.\nThird, divide them and round."
ALL_GOOD = "\n".join(f"C{i}: 1" for i in range(1, 8)) + "\n\\boxed{1}"
KEY = re.compile(r"KEY-[a-z0-9_]+")


def _row(
    key: str,
    source: str,
    answer_type: str,
    reference: str,
    completion: str,
    *,
    sample: int = 0,
    reasoning: str = STEPS,
    error: str | None = None,
    **extra,
) -> DistilledRow:
    question = f"{QUESTION} {key}: what is the answer?"
    return DistilledRow(
        id=f"{source}/{key}",
        source=source,
        category="reasoning_business_knowledge",
        language="en",
        messages=[{"role": "user", "content": question}],
        reference=reference,
        answer_type=answer_type,
        meta={"question": question},
        teacher="teacher",
        sample_index=sample,
        reasoning=None if error else reasoning,
        completion=None if error else completion,
        error=error,
        **extra,
    )


def _write_input(path: Path, rows: list[DistilledRow]) -> str:
    refs.save_dataset_ref({"train": to_dataset(DistilledRow, rows)}, str(path), Lineage.start("finr1-distill", "0"))
    return str(path)


class Script:
    """Scripted judge: answers by the KEY-… marker in the prompt and the round; records every prompt."""

    def __init__(self, round1: dict[str, list[str]], round2: dict[str, list[str]]) -> None:
        self.answers = {"round1": round1, "round2": round2}
        self.prompts: list[tuple[str, str, str]] = []  # (round, key, text)
        self.lock = threading.Lock()

    @staticmethod
    def round_of(text: str) -> str:
        return "round2" if "seven criteria" in text else "round1"

    def __call__(self, request: dict) -> FakeAnswer:
        text = request["messages"][-1]["content"]
        rnd = self.round_of(text)
        keys = KEY.findall(text)
        key = keys[0] if keys else "?"
        with self.lock:
            n = sum(1 for r, k, _ in self.prompts if r == rnd and k == key)
            self.prompts.append((rnd, key, text))
        script = self.answers[rnd].get(key) or (["\\boxed{1}"] if rnd == "round1" else [ALL_GOOD])
        return FakeAnswer(script[min(n, len(script) - 1)], reasoning="")

    def count(self, rnd: str, key: str) -> int:
        return sum(1 for r, k, _ in self.prompts if r == rnd and k == key)


def _config(tmp_path: Path, server: FakeOpenAIServer, **extra) -> str:
    data = {
        "judge": {
            "base_url": server.base_url,
            "model": "fake-model",
            "api_key_env": None,
            "timeout_s": 0.5,
            "max_retries": 0,
        },
        "progress": False,
        **extra,
    }
    path = tmp_path / "judge.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return str(path)


def _splits(out: Path) -> dict:
    data, _ = refs.load_dataset_ref(str(out))
    return {
        "sft": [SFTRow.from_row(r) for r in data["sft"]],
        "rl": [RLRow.from_row(r) for r in data["rl"]],
        "rejected": [JudgedRow.from_row(r) for r in data["rejected"]],
        "judged": [JudgedRow.from_row(r) for r in data["judged"]],
    }


def _error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, stderr
    return errors[0]


# --- every branch -------------------------------------------------------------------------------------------


ROWS = [
    # objective, rule-graded
    _row("KEY-good", "finqa", "numeric", "0.14464", "The margin is \\boxed{14.46\\%}."),
    _row("KEY-wrong", "finqa", "numeric", "0.5", "\\boxed{0.9}"),
    _row("KEY-multi", "finqa", "numeric", "12", "\\boxed{12}", sample=0),
    _row("KEY-multi", "finqa", "numeric", "12", "\\boxed{15}", sample=1),
    # objective, gold the rules cannot parse: the LLM judge decides, and it never enters rl
    _row("KEY-undecided", "finqa", "numeric", "roughly KEY-undecided one third", "\\boxed{0.33}"),
    # free-form: the LLM judge
    _row("KEY-badreason", "fi", "text", "EBITDA KEY-badreason", "EBITDA adds back D&A."),
    _row("KEY-llmwrong", "fi", "text", "gold KEY-llmwrong", "something else"),
    _row("KEY-garbage", "fi", "text", "gold KEY-garbage", "an answer"),
    _row("KEY-retry", "fi", "text", "gold KEY-retry", "an answer"),
    _row("KEY-timeout", "fi", "text", "gold KEY-timeout", "an answer"),
    # rejected before any judge call
    _row(
        "KEY-format", "fi", "text", "gold KEY-format", "x", reasoning="I wrote </think> inside my trace.\nTwo.\nThree."
    ),
    _row(
        "KEY-err",
        "tfns",
        "label",
        "0",
        "",
        error="HTTP 500: upstream failed (after 6 attempts)",
        labels={"0": ["Bearish"], "1": ["Bullish"], "2": ["Neutral"]},
    ),
]
ROUND1 = {
    "KEY-llmwrong": ["\\boxed{0}"],
    "KEY-garbage": ["It looks right to me.", "Score: 1", "\\boxed{yes}"],
    "KEY-retry": ["I would say correct", "\\boxed{1}"],
}
ROUND2 = {
    "KEY-badreason": [ALL_GOOD.replace("C2: 1", "C2: 0").replace("\\boxed{1}", "\\boxed{0}")],
    "KEY-retry": ["The reasoning is fine overall."],
}


def test_every_routing_branch_counts_and_the_chain_of_thought_never_reaches_round_1(tmp_path, capsys):
    script = Script(ROUND1, ROUND2)

    def fault(request, attempt):
        text = request["messages"][-1]["content"]
        return "hang" if "KEY-timeout" in text and Script.round_of(text) == "round1" else None

    src = _write_input(tmp_path / "distill", ROWS)
    out = tmp_path / "judge"
    with FakeOpenAIServer(answers=script, fault_fn=fault, hang_s=2, reasoning_mode="none") as server:
        assert main(["run", "--config", _config(tmp_path, server), "--input", src, "--output", str(out)]) == 0
    console = capsys.readouterr().out
    splits = _splits(out)
    judged = {(r.id.split("/")[1], r.sample_index): r for r in splits["judged"]}
    assert len(judged) == len(ROWS)

    def reason(key, sample=0):
        return judged[(key, sample)].reject_reason

    # sft: good in both rounds, in exactly the format the format reward checks
    assert sorted(r.id for r in splits["sft"]) == ["finqa/KEY-good#0", "finqa/KEY-multi#0", "finqa/KEY-undecided#0"]
    for row in splits["sft"]:
        assert [m.role for m in row.messages] == ["system", "user", "assistant"]
        assert row.messages[0].content == FIN_R1_SYSTEM_PROMPT and format_ok(row.messages[-1].content)
    good = judged[("KEY-good", 0)]
    assert (good.label, good.answer_score, good.answer_method, good.reasoning_score) == ("good", 1, "rule", 1)
    assert good.criteria.model_dump() == dict.fromkeys(good.criteria.model_dump(), True)
    assert good.mechanical.steps == 3 and good.extracted
    assert judged[("KEY-undecided", 0)].answer_method == "llm"
    # round 1 rejections: rule, llm, null (garbage and timeouts, raw text kept), never silently 0
    assert reason("KEY-wrong") == reason("KEY-multi", 1) == "answer_wrong (rule)"
    assert reason("KEY-llmwrong") == "answer_wrong (llm)"
    for key in ("KEY-garbage", "KEY-timeout"):
        row = judged[(key, 0)]
        assert row.answer_score is None and row.reject_reason.startswith("answer_judge_failed"), key
    assert judged[("KEY-garbage", 0)].judge_answer_raw == "\\boxed{yes}"
    assert judged[("KEY-timeout", 0)].judge_answer_raw.startswith("error: timeout")
    assert script.count("round1", "KEY-garbage") == 3 and script.count("round1", "KEY-retry") == 2
    # round 2 rejections
    assert reason("KEY-badreason") == "reasoning_bad: term_overlap"
    assert judged[("KEY-badreason", 0)].criteria.term_overlap is False
    retry = judged[("KEY-retry", 0)]
    assert retry.answer_score == 1 and retry.reasoning_score is None
    assert retry.reject_reason.startswith("reasoning_judge_failed") and retry.judge_reasoning_raw
    # rejected before any judge call
    assert reason("KEY-format").startswith("format: tag </think>") and script.count("round1", "KEY-format") == 0
    assert reason("KEY-err").startswith("distill_error: HTTP 500")
    # rl: every verifiable objective item, one row per item, failed ones flagged; never free-form
    assert {(r.id, r.failed_filter) for r in splits["rl"]} == {
        ("finqa/KEY-good", False),
        ("finqa/KEY-wrong", True),
        ("finqa/KEY-multi", False),
        ("tfns/KEY-err", True),
    }
    assert {r.id.split("/")[1] for r in splits["rejected"]} == {k for k, _ in judged} - {"KEY-good", "KEY-undecided"}
    assert len(splits["rejected"]) == 9
    # the chain of thought and the question never reach round 1; round 2 does see the reasoning
    round1 = [text for rnd, _, text in script.prompts if rnd == "round1"]
    assert round1 and not any(COT in t or QUESTION in t for t in round1)
    assert any(COT in text for rnd, _, text in script.prompts if rnd == "round2")
    # summary: per source and per round, on the console and in the card
    lineage = refs.read_lineage(str(out))
    assert lineage.counts == {"sft": 3, "rl": 4, "rejected": 9, "judged": 12}
    card = (out / "README.md").read_text(encoding="utf-8")
    for text in (console, card):
        assert "| finqa | 5 | 0 | 0 | 0 | 3 | 2 | 0 | 3 | 0 | 0 | 3 | 3 (1) |" in text
        assert "| fi | 6 | 0 | 1 | 0 | 2 | 1 | 2 | 0 | 1 | 1 | 0 | 0 (0) |" in text
        assert "| tfns | 1 | 1 | 0 | 0 | 0 | 0 | 0 | 0 | 0 | 0 | 0 | 1 (1) |" in text
        assert "rule pass 2, rule fail 2; LLM pass 3, fail 1, null 2 (null-verdict rate 33.3%)" in text
        assert "Round 2 (reasoning): pass 3, fail 1, null 1 (null-verdict rate 20.0%)" in text


def test_mechanical_checks_can_reject_before_any_judge_call(tmp_path):
    rows = [
        _row("KEY-short", "fi", "text", "gold KEY-short", "gold KEY-short", reasoning="It is obviously right."),
        _row("KEY-fine", "fi", "text", "gold KEY-fine", "gold KEY-fine"),
    ]
    script = Script({}, {})
    src = _write_input(tmp_path / "distill", rows)
    out = tmp_path / "judge"
    with FakeOpenAIServer(answers=script, reasoning_mode="none") as server:
        cfg = _config(tmp_path, server, mechanical={"reject_before_judge": True})
        assert main(["run", "--config", cfg, "--input", src, "--output", str(out)]) == 0
    judged = {r.id: r for r in _splits(out)["judged"]}
    assert judged["fi/KEY-short"].reject_reason == "mechanical: min_three_steps"
    assert judged["fi/KEY-short"].mechanical.min_three_steps is False
    assert judged["fi/KEY-fine"].label == "good"
    assert script.count("round1", "KEY-short") == 0 and script.count("round2", "KEY-short") == 0


def test_repeats_vote_by_majority_and_a_tie_is_null(tmp_path):
    rows = [_row(f"KEY-{k}", "fi", "text", f"gold KEY-{k}", "an answer") for k in ("yes", "no", "tie")]
    # Three repeats per row; the answers each row gets are fixed, whatever order the requests arrive in.
    script = Script(
        {
            "KEY-yes": ["\\boxed{1}", "\\boxed{0}", "\\boxed{1}"],
            "KEY-no": ["\\boxed{0}", "\\boxed{1}", "\\boxed{0}"],
            "KEY-tie": ["\\boxed{1}", "garbage", "\\boxed{0}", "garbage", "garbage"],
        },
        {},
    )
    src = _write_input(tmp_path / "distill", rows)
    out = tmp_path / "judge"
    with FakeOpenAIServer(answers=script, reasoning_mode="none") as server:
        cfg = _config(tmp_path, server, repeats=3, concurrency=1)
        assert main(["run", "--config", cfg, "--input", src, "--output", str(out)]) == 0
    judged = {r.id: r for r in _splits(out)["judged"]}
    assert judged["fi/KEY-yes"].answer_score == 1 and judged["fi/KEY-no"].answer_score == 0
    assert judged["fi/KEY-tie"].answer_score is None
    assert judged["fi/KEY-tie"].judge_answer_raw.count("[fake-model #") == 3


def test_two_judges_must_agree(tmp_path):
    rows = [_row("KEY-a", "fi", "text", "gold KEY-a", "an answer")]
    src = _write_input(tmp_path / "distill", rows)
    out = tmp_path / "judge"
    with (
        FakeOpenAIServer(answers=Script({}, {}), reasoning_mode="none") as one,
        FakeOpenAIServer(answers=Script({"KEY-a": ["\\boxed{0}"]}, {}), reasoning_mode="none") as two,
    ):
        extra = [{"name": "second", "base_url": two.base_url, "model": "fake-model", "api_key_env": None}]
        cfg = _config(tmp_path, one, extra_judges=extra)
        assert main(["run", "--config", cfg, "--input", src, "--output", str(out)]) == 0
    row = _splits(out)["judged"][0]
    assert (
        row.answer_score is None
        and "[fake-model #0]" in row.judge_answer_raw
        and "[second #0]" in row.judge_answer_raw  # [judge #repeat]
    )


def test_calibration_reports_agreement_and_kappa(tmp_path, capsys):
    rows = [
        _row("KEY-p1", "finqa", "numeric", "12", "\\boxed{12}"),
        _row("KEY-p2", "finqa", "numeric", "13", "\\boxed{13}"),
        _row("KEY-p3", "finqa", "numeric", "14", "\\boxed{14}"),
        _row("KEY-f1", "finqa", "numeric", "15", "\\boxed{99}"),
    ]

    # The LLM agrees with the rule on p1, p2, f1 and not on p3: p_o = 0.75, p_e = 0.75*0.5 + 0.25*0.5 = 0.5.
    # Round 1 shows only the reference and the answer, so the judge is scripted by the reference.
    def answer(request):
        text = request["messages"][-1]["content"]
        if "seven criteria" in text:
            return FakeAnswer(ALL_GOOD)
        return FakeAnswer("\\boxed{0}" if re.search(r"Correct answer:\n(14|15)\n", text) else "\\boxed{1}")

    src = _write_input(tmp_path / "distill", rows)
    out = tmp_path / "judge"
    with FakeOpenAIServer(answers=answer, reasoning_mode="none") as server:
        cfg = _config(tmp_path, server, calibration={"share": 1.0})
        assert main(["run", "--config", cfg, "--input", src, "--output", str(out)]) == 0
    console = capsys.readouterr().out
    judged = {r.id: r for r in _splits(out)["judged"]}
    assert judged["finqa/KEY-p3"].answer_score == 1 and judged["finqa/KEY-p3"].answer_method == "rule"  # rule decides
    assert judged["finqa/KEY-p3"].judge_answer_raw.startswith("calibration")
    expected = "4 rule-graded rows also sent to the LLM judge; agreement 75.0%, Cohen's kappa 0.500"
    assert expected in console and expected in (out / "README.md").read_text(encoding="utf-8")


def test_shards_judge_disjoint_items_into_one_dataset(tmp_path):
    rows = [_row(f"KEY-s{i}", "fi", "text", f"gold KEY-s{i}", "an answer") for i in range(8)]
    rows += [_row("KEY-m", "finqa", "numeric", "3", "\\boxed{3}", sample=s) for s in range(2)]
    script = Script({}, {})
    src = _write_input(tmp_path / "distill", rows)
    out = tmp_path / "judge"
    with FakeOpenAIServer(answers=script, reasoning_mode="none") as server:
        cfg = _config(tmp_path, server)
        for index in range(2):
            assert main(["run", "--config", cfg, "--input", src, "--output", str(out), "--shard", f"{index}/2"]) == 0
    splits = _splits(out)
    assert sorted((r.id, r.sample_index) for r in splits["judged"]) == sorted((r.id, r.sample_index) for r in rows)
    assert [r.id for r in splits["rl"]] == ["finqa/KEY-m"]  # an item's samples stay in one shard
    assert all(script.count("round1", f"KEY-s{i}") == 1 for i in range(8))
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "| fi | 8 |" in card and "| finqa | 2 |" in card and "Written by 2 shards" in card


# --- crash safety -------------------------------------------------------------------------------------------


def _kill_9_when_logged(args: list[str], log: Path, lines: int) -> set[str]:
    """Run the CLI in a subprocess, ``kill -9`` it once ``log`` holds ``lines`` results; the vote ids logged."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if log.exists() and log.read_bytes().count(b"\n") >= lines:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    return {json.loads(line)["item_id"] for line in log.read_bytes().split(b"\n")[:-1]}


def test_kill_9_then_resume_repeats_no_finished_verdict(tmp_path):
    rows = [_row(f"KEY-k{i}", "fi", "text", f"gold KEY-k{i}", "an answer") for i in range(24)]
    script = Script({}, {})
    src = _write_input(tmp_path / "distill", rows)
    out = tmp_path / "judge"
    log = out / refs.WORK_DIRNAME / "run" / "round1.fake-model.jsonl"
    with FakeOpenAIServer(answers=script, latency_s=0.15, reasoning_mode="none") as server:
        cfg = _config(tmp_path, server, concurrency=3)
        args = [sys.executable, "-m", "finr1_judge.cli", "run", "--config", cfg, "--input", src, "--output", str(out)]
        finished = _kill_9_when_logged(args, log, 8)
        assert 8 <= len(finished) < 24, "the kill must land in round 1"
        before = Counter(k for rnd, k, _ in script.prompts if rnd == "round1")
        proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
    after = Counter(k for rnd, k, _ in script.prompts if rnd == "round1")
    for vid in finished:
        key = vid.split("/")[1].split("#")[0]
        assert after[key] == before[key] == 1, key  # a finished verdict is never asked again
    done_keys = {vid.split("/")[1].split("#")[0] for vid in finished}
    for key in (f"KEY-k{i}" for i in range(24)):
        assert after[key] - before[key] == (0 if key in done_keys else 1), key  # the rest asked once on resume
    judged = _splits(out)["judged"]
    assert sorted(r.id for r in judged) == sorted(r.id for r in rows) and all(r.label == "good" for r in judged)


# --- bad input ----------------------------------------------------------------------------------------------


def _missing_column(tmp_path: Path) -> list[str]:
    import datasets

    path = tmp_path / "partial"
    refs.save_dataset_ref(
        {"train": datasets.Dataset.from_dict({"id": ["a"], "source": ["x"]})}, str(path), Lineage.start("x", "0")
    )
    return ["--input", str(path)]


def _malformed_row(tmp_path: Path) -> list[str]:
    path = Path(_write_input(tmp_path / "bad", [_row("KEY-a", "fi", "text", "g", "a")]))
    ds, _ = refs.load_dataset_ref(str(path), split="train")
    ds = ds.map(lambda r: {"answer_type": "essay"})
    refs.save_dataset_ref({"train": ds}, str(path), Lineage.start("x", "0"))
    return ["--input", str(path)]


@pytest.mark.parametrize(
    ("make_args", "fragment"),
    [
        (lambda p: ["--input", str(p / "nowhere")], "no such directory"),
        (_missing_column, "missing column(s)"),
        (_malformed_row, "row 0: field 'answer_type'"),
        (lambda p: ["--shard", "1/x"], "shard '1/x'"),
        (lambda p: ["--base-url", "http://127.0.0.1:9/v1"], "cannot reach"),
    ],
    ids=["missing-input", "missing-column", "malformed-row", "bad-shard", "unreachable-endpoint"],
)
def test_bad_input_exits_non_zero_with_one_line(tmp_path, capsys, make_args, fragment):
    src = _write_input(tmp_path / "distill", [_row("KEY-a", "fi", "text", "gold KEY-a", "an answer")])
    script = Script({}, {})
    out = tmp_path / "judge"
    with FakeOpenAIServer(answers=script, reasoning_mode="none") as server:
        args = [
            "run",
            "--config",
            _config(tmp_path, server),
            "--input",
            src,
            "--output",
            str(out),
            *make_args(tmp_path),
        ]
        assert main(args) == 1
    assert fragment in _error_line(capsys.readouterr().err)
    assert script.prompts == [] and refs.read_lineage(str(out)) is None


def test_resume_with_another_judge_model_is_refused(tmp_path, capsys):
    src = _write_input(tmp_path / "distill", [_row("KEY-a", "fi", "text", "gold KEY-a", "an answer")])
    out = tmp_path / "judge"
    state = refs.work_dir(str(out)) / "run"
    state.mkdir(parents=True, exist_ok=True)
    (state / "settings.json").write_text(json.dumps({"judges": [["other", "other-model"]]}), encoding="utf-8")
    with FakeOpenAIServer(answers=Script({}, {}), reasoning_mode="none") as server:
        assert main(["run", "--config", _config(tmp_path, server), "--input", src, "--output", str(out)]) == 1
    assert "other settings (changed:" in _error_line(capsys.readouterr().err)
    assert os.path.exists(state / "settings.json")


# === issue 14: never a result the run does not have ===========================================================


def _free_text_rows(n: int, prefix: str = "KEY-r") -> list:
    return [_row(f"{prefix}{i}", "fi", "text", f"gold {prefix}{i}", f"the answer {prefix}{i}") for i in range(n)]


def _run(tmp_path: Path, server: FakeOpenAIServer, rows: list, *extra: str, **config) -> tuple[int, Path]:
    src = _write_input(tmp_path / "distill", rows)
    out = tmp_path / "judge"
    cfg = _config(tmp_path, server, **config)
    return main(["run", "--config", cfg, "--input", src, "--output", str(out), *extra]), out


def _assert_failed_without_output(out: Path, stdout: str) -> None:
    assert refs.read_lineage(str(out)) is None and not (out / "lineage.json").exists()
    assert "(complete)" not in stdout


# --- false success -------------------------------------------------------------------------------------------


def test_a_judge_that_refuses_the_key_stops_the_run_with_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FINR1_TEST_JUDGE_KEY", "sk-wrong-judge-key-0123456789")
    with FakeOpenAIServer(api_key="sk-right-judge-key-0123456789") as server:
        rc, out = _run(tmp_path, server, _free_text_rows(3), "--api-key-env", "FINR1_TEST_JUDGE_KEY")
        assert server.stats().chat_requests == 0
    captured = capsys.readouterr()
    assert rc == 1
    (line,) = [line for line in captured.err.splitlines() if line.startswith("error: ")]
    assert f"{server.base_url}/models refused the key in $FINR1_TEST_JUDGE_KEY (--api-key-env)" in line
    assert "sk-wrong" not in captured.err
    _assert_failed_without_output(out, captured.out)


def test_a_key_revoked_mid_run_stops_at_once_and_the_fixed_rerun_resumes(tmp_path, capsys):
    rows = _free_text_rows(12)
    with FakeOpenAIServer(Script({}, {}), reasoning_mode="none", revoke_after=4) as server:
        rc, out = _run(tmp_path, server, rows, concurrency=1)
        stats = server.stats()
    assert rc == 1 and (stats.ok, stats.refused) == (4, 1)  # the first 401 ends it: no request after it
    captured = capsys.readouterr()
    assert "refused requests without a key" in captured.err
    _assert_failed_without_output(out, captured.out)
    script = Script({}, {})
    with FakeOpenAIServer(script, reasoning_mode="none") as server:
        rc, out = _run(tmp_path, server, rows, concurrency=1)
    assert rc == 0
    assert len([p for p in script.prompts if p[0] == "round1"]) == 12 - 4  # the 4 answered asks were kept


def test_a_judge_failing_every_call_with_500_fails_the_run_and_keeps_the_work_dir(tmp_path, capsys):
    with FakeOpenAIServer(Script({}, {}), reasoning_mode="none", faults={"500": 1.0}) as server:
        rc, out = _run(tmp_path, server, _free_text_rows(4), max_asks=2)
        assert server.stats().chat_requests == 4 * 2  # max_retries 0 in _config; two asks each
    captured = capsys.readouterr()
    assert rc == 1
    line = [line for line in captured.err.splitlines() if line.startswith("error: ")][-1]
    assert "only 0 of 4 judge verdicts (round1) were usable (0%, below --min-usable 50%)" in line
    assert "call_failed 4 (e.g. error: HTTP 500: injected fault 500" in line and "nothing was written" in line
    _assert_failed_without_output(out, captured.out)
    assert (out / refs.WORK_DIRNAME / "run" / "round1.fake-model.jsonl").is_file()


# --- false scores: confused judges at round 1 and round 2 ---------------------------------------------------


@pytest.mark.parametrize(
    ("judge", "problem"),
    [(echo_judge, "echo"), (rambling_judge, "none"), (both_verdicts_judge, "both")],
    ids=["echoing", "rambling", "both-verdicts"],
)
def test_a_confused_judge_at_round_1_scores_nothing_and_fails_the_run(tmp_path, capsys, judge, problem):
    with FakeOpenAIServer(judge, reasoning_mode="none") as server:
        rc, out = _run(tmp_path, server, _free_text_rows(4))
        assert server.stats().chat_requests == 4 * 3  # asked again up to max_asks (3)
    captured = capsys.readouterr()
    assert rc == 1 and f"{problem} 4" in captured.err  # the line names what was wrong with the replies
    _assert_failed_without_output(out, captured.out)


def _round2_confused(judge):
    """Round 1 passes every row; round 2 goes to the confused judge."""

    def answer(request):
        text = request["messages"][-1]["content"]
        return judge(request) if "seven criteria" in text else FakeAnswer("\\boxed{1}", reasoning="")

    return answer


@pytest.mark.parametrize(
    ("judge", "problem"),
    [(echo_judge, "echo"), (rambling_judge, "none"), (both_verdicts_judge, "both")],
    ids=["echoing", "rambling", "both-verdicts"],
)
@pytest.mark.parametrize("decision", ["criteria", "boxed"])
def test_a_confused_judge_at_round_2_scores_nothing(tmp_path, capsys, judge, problem, decision):
    # The traces end with a box and criterion-like lines of their own, which an echo carries into the reply.
    rows = [
        _row(f"KEY-r{i}", "fi", "text", "gold", "an answer", reasoning=STEPS + "\nC1: 1\nSo the answer is \\boxed{1}.")
        for i in range(4)
    ]
    with FakeOpenAIServer(_round2_confused(judge), reasoning_mode="none") as server:
        rc, out = _run(tmp_path, server, rows, round2={"decision": decision})
    captured = capsys.readouterr()
    assert rc == 1 and "round2) were usable" in captured.err and f"{problem} 4" in captured.err
    _assert_failed_without_output(out, captured.out)


def test_one_echo_among_good_verdicts_is_a_judge_failure_never_a_pass(tmp_path, capsys):
    rows = _free_text_rows(4)
    script = Script({"KEY-r0": ["ignored"]}, {})

    def answer(request):
        text = request["messages"][-1]["content"]
        return echo_judge(request) if "KEY-r0" in text else script(request)

    with FakeOpenAIServer(answer, reasoning_mode="none") as server:
        rc, out = _run(tmp_path, server, rows)
    assert rc == 0
    judged = {r.id: r for r in _splits(out)["judged"]}
    echoed = judged["fi/KEY-r0"]
    assert echoed.answer_score is None and echoed.label == "bad"
    assert echoed.reject_reason == "answer_judge_failed: no usable verdict (echo)"
    assert all(judged[f"fi/KEY-r{i}"].label == "good" for i in (1, 2, 3))
    assert "round-1 null-verdict rate 25.0%" in capsys.readouterr().out


def test_an_instruct_judge_behind_a_reasoning_parser_is_reported_not_scored(tmp_path, capsys):
    answer = FakeAnswer("\\boxed{1}", reasoning="")  # the judge's whole answer lands in reasoning_content
    with FakeOpenAIServer(lambda r: answer, reasoning_mode="all_reasoning") as server:
        rc, out = _run(tmp_path, server, _free_text_rows(3))
    captured = capsys.readouterr()
    assert rc == 1 and "reasoning_only 3" in captured.err
    assert "serve the judge without --reasoning-parser" in captured.err
    _assert_failed_without_output(out, captured.out)


# --- kill -9 in round 2 ------------------------------------------------------------------------------------


def test_kill_9_in_round_2_then_resume_loses_and_repeats_nothing(tmp_path):
    rows = _free_text_rows(24, "KEY-k")
    script = Script({}, {})
    src = _write_input(tmp_path / "distill", rows)
    out = tmp_path / "judge"
    state = out / refs.WORK_DIRNAME / "run"
    r2_log = state / "round2.fake-model.jsonl"
    with FakeOpenAIServer(answers=script, latency_s=0.1, reasoning_mode="none") as server:
        cfg = _config(tmp_path, server, concurrency=3)
        args = [sys.executable, "-m", "finr1_judge.cli", "run", "--config", cfg, "--input", src, "--output", str(out)]
        finished = _kill_9_when_logged(args, r2_log, 6)
        assert 6 <= len(finished) < 24, "the kill must land in round 2"
        before = Counter((rnd, k) for rnd, k, _ in script.prompts)
        proc = subprocess.run(args, capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0, proc.stderr
    after = Counter((rnd, k) for rnd, k, _ in script.prompts)
    done = {vid.split("/")[1].split("#")[0] for vid in finished}
    for key in (f"KEY-k{i}" for i in range(24)):
        assert after[("round1", key)] == before[("round1", key)] == 1, key  # round 1 is never asked again
        if key in done:  # a round-2 verdict logged before the kill is never asked again ...
            assert after[("round2", key)] == before[("round2", key)] == 1, key
        else:  # ... and the rest (in flight or not yet sent at the kill) are asked once on resume
            assert after[("round2", key)] - before[("round2", key)] == 1, key
    judged = _splits(out)["judged"]
    assert sorted(r.id for r in judged) == sorted(r.id for r in rows) and all(r.label == "good" for r in judged)
    assert refs.read_lineage(str(out)) is not None


# --- bad input and messages --------------------------------------------------------------------------------


@pytest.mark.parametrize("column", ["completion", "reasoning", "error"])
def test_a_missing_trace_column_is_an_error_not_a_format_rejection(tmp_path, capsys, column):
    from finr1_core.lineage import Lineage
    from finr1_core.schemas import DistilledRow, to_dataset

    path = tmp_path / "distill"
    ds = to_dataset(DistilledRow, _free_text_rows(2)).remove_columns([column])
    refs.save_dataset_ref({"train": ds}, str(path), Lineage.start("x", "0"))
    with FakeOpenAIServer(Script({}, {}), reasoning_mode="none") as server:
        cfg = _config(tmp_path, server)
        assert main(["run", "--config", cfg, "--input", str(path), "--output", str(tmp_path / "out")]) == 1
        assert server.stats().chat_requests == 0
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith(f"error: {path} split train: missing column(s) {column};")


@pytest.mark.parametrize("content", [b"", b"not a parquet file"], ids=["empty-file", "garbage"])
def test_an_empty_or_unreadable_parquet_is_one_line(tmp_path, capsys, content):
    data = tmp_path / "distill" / "data"
    data.mkdir(parents=True)
    (data / "train-00000-of-00001.parquet").write_bytes(content)
    with FakeOpenAIServer(Script({}, {}), reasoning_mode="none") as server:
        cfg = _config(tmp_path, server)
        assert (
            main(["run", "--config", cfg, "--input", str(tmp_path / "distill"), "--output", str(tmp_path / "o")]) == 1
        )
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"error: dataset {tmp_path / 'distill'}: cannot be read")


def test_an_input_without_rows_is_an_error(tmp_path, capsys):
    with FakeOpenAIServer(Script({}, {}), reasoning_mode="none") as server:
        rc, out = _run(tmp_path, server, [])
    assert rc == 1 and "no rows to judge" in capsys.readouterr().err


def test_errors_name_the_flag_or_the_file_key_the_user_wrote(tmp_path, capsys):
    with FakeOpenAIServer(Script({}, {}), reasoning_mode="none") as server:
        rc, _ = _run(tmp_path, server, _free_text_rows(1), "--model", "other-model")
        assert rc == 1
        assert capsys.readouterr().err.rstrip().endswith("(it serves: fake-model); fix --model")
        cfg = yaml.safe_load(Path(_config(tmp_path, server)).read_text())
        cfg["judge"]["model"] = "other-model"
        cfg["max_tries"] = 3
        path = tmp_path / "old.yaml"
        path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
        src = _write_input(tmp_path / "d2", _free_text_rows(1))
        assert main(["run", "--config", str(path), "--input", src, "--output", str(tmp_path / "o2")]) == 1
        assert "unknown key 'max_tries' (renamed to 'max_asks')" in capsys.readouterr().err
        del cfg["max_tries"]
        path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
        assert main(["run", "--config", str(path), "--input", src, "--output", str(tmp_path / "o2")]) == 1
        assert capsys.readouterr().err.rstrip().endswith(f"fix judge.model in {path}")


# --- leaks ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("outcome", ["success", "401", "500"])
def test_no_secret_reaches_any_stream_or_file_at_debug_level_in_json(tmp_path, capfd, outcome):
    rows = _free_text_rows(3)
    src = _write_input(tmp_path / "distill", rows)
    out = tmp_path / "judge"
    with distinctive_secrets() as secrets:
        faults = {"500": 1.0} if outcome == "500" else None
        with FakeOpenAIServer(Script({}, {}), reasoning_mode="none", api_key=secrets.key, faults=faults) as server:
            if outcome == "401":
                server.revoke_after = 1  # answers one ask, then the key is revoked mid-run
            cfg = _config(tmp_path, server)
            args = ["--log-level", "debug", "--log-format", "json", "run", "--config", cfg, "--input", src]
            args += [
                "--output",
                str(out),
                "--base-url",
                secrets.url(server.base_url),
                "--api-key-env",
                secrets.key_env,
            ]
            rc = main(args)
        stdout, stderr = capfd.readouterr()
        assert rc == (0 if outcome == "success" else 1), stderr
        last = json.loads(stderr.strip().splitlines()[-1]) if rc else None
        if last is not None:
            assert last["level"] == "ERROR" and last["exit_code"] == 1  # the final error line is JSON too
        assert_no_leaks(secrets, paths=[tmp_path], texts={"stdout": stdout, "stderr": stderr})
