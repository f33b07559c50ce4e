"""finr1_core.judging: the one verdict parser and the one judge loop (ask, re-ask unusable replies, vote)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from finr1_core.errors import AuthError
from finr1_core.judging import Judge, ask_judges, log_path, parse_verdict, quotes_prompt
from finr1_core.runner import EndpointConfig, read_results
from finr1_core.testing.fake_openai import (
    FakeAnswer,
    FakeOpenAIServer,
    both_verdicts_judge,
    echo_judge,
    rambling_judge,
)

# A prompt shaped like the evaluation judge's (RECIPE.md §7): rules with a verdict example, then the answers.
PROMPT = (
    "你是一位专业的金融评估专家。请比较【标准回答】和【模型回答】。\n"
    "4. 先用一两句话说明理由，最后把分数 1 或 0 写在 \\boxed{} 中，例如 \\boxed{1}。Give a short reason, then put "
    "the score 1 or 0 in \\boxed{}.\n"
    "【标准回答】Standard answer:\n0.2\n\n【模型回答】Model answer:\n0.7\n"
)


@pytest.mark.parametrize(
    ("text", "score", "problem"),
    [
        ("\\boxed{1}", 1, None),
        ("\\boxed{0}", 0, None),
        ("The answers agree.\n\\boxed{ 1 }", 1, None),
        ("boxed{1}", 1, None),  # a lost backslash still counts
        ("判断：0", 0, None),  # RECIPE §7 patterns, in order
        ("结果: 1", 1, None),
        ("理由略。\\boxed{1} 判断：1", 1, None),  # the same verdict twice is fine
        ("First I thought \\boxed{1} but no: \\boxed{0}", None, "both"),
        ("结果：0 ... \\boxed{1}", None, "both"),
        ("\\boxed{0.5}", None, "not_a_verdict"),
        ("\\boxed{yes}", None, "not_a_verdict"),
        ("\\boxed{1} and finally \\boxed{7}", None, "not_a_verdict"),  # the last box decides
        ("1", None, "none"),
        ("The answer is correct.", None, "none"),
        ("", None, "empty"),
        (None, None, "empty"),
    ],
)
def test_verdicts_are_1_0_or_unusable_with_a_reason(text, score, problem):
    verdict = parse_verdict(text, PROMPT)
    assert (verdict.score, verdict.problem) == (score, problem)


def test_an_echoed_prompt_is_unusable_even_when_its_example_is_the_last_box():
    # The bug this replaces: the last \boxed{} of an echo is the prompt's example, \boxed{1}.
    assert parse_verdict(PROMPT, PROMPT).problem == "echo"
    assert parse_verdict(PROMPT[: len(PROMPT) // 2], PROMPT).problem == "echo"  # an echo cut by max_tokens
    assert parse_verdict("  ".join(PROMPT.split()), PROMPT).problem == "echo"  # reflowed
    # Quoting just the example sentence is a quote too; a judge's own sentence with the same box is not.
    assert parse_verdict("写在 \\boxed{} 中，例如 \\boxed{1}。", PROMPT).problem == "echo"
    assert parse_verdict("0.7 and 0.2 differ a lot. \\boxed{0}", PROMPT).score == 0
    assert parse_verdict("They are the same value here.\n\\boxed{1}", PROMPT).score == 1
    assert not quotes_prompt("\\boxed{1}", PROMPT)  # a bare verdict has nothing to compare


def _judge(server: FakeOpenAIServer, **kwargs) -> Judge:
    endpoint = EndpointConfig(base_url=server.base_url, model="fake-model", max_retries=0, backoff_initial_s=0.01,
                              **kwargs)  # fmt: skip
    return Judge(endpoint)


def _tasks(n: int) -> dict[str, list[dict[str, str]]]:
    return {f"item-{i}": [{"role": "user", "content": PROMPT.replace("0.7", f"0.7{i}")}] for i in range(n)}


@pytest.mark.parametrize(
    ("script", "problem"),
    [(echo_judge, "echo"), (rambling_judge, "none"), (both_verdicts_judge, "both")],
    ids=["echoing", "rambling", "both-verdicts"],
)
def test_a_confused_judge_is_asked_again_then_recorded_as_a_failure_never_0_or_1(tmp_path, script, problem, caplog):
    with FakeOpenAIServer(script, reasoning_mode="none") as server, caplog.at_level(logging.INFO):
        run = ask_judges(_tasks(4), [_judge(server)], tmp_path, name="r1", max_asks=3, progress=False)
        assert server.stats().chat_requests == 4 * 3  # every task asked three times
    assert all(d.score is None and d.problem == problem for d in run.decisions.values())
    assert (run.count.usable, run.count.total, run.count.reasons[problem]) == (0, 4, 4)
    messages = [r.getMessage() for r in caplog.records]
    assert any("ask 2 of 3" in m for m in messages) and any("ask 3 of 3" in m for m in messages)
    assert not any("ask 4 of 3" in m for m in messages)  # the old "asking again (4/3)"


def test_reasoning_parser_on_an_instruct_judge_is_reported_not_scored(tmp_path, caplog):
    # vLLM with --reasoning-parser in front of a model that never writes </think>: content null, all in reasoning.
    with FakeOpenAIServer(lambda r: FakeAnswer("\\boxed{1}", reasoning=""), reasoning_mode="all_reasoning") as server:
        run = ask_judges(_tasks(2), [_judge(server)], tmp_path, name="r1", max_asks=2, progress=False)
    assert all(d.score is None and d.problem == "reasoning_only" for d in run.decisions.values())
    assert any("without --reasoning-parser" in r.getMessage() for r in caplog.records)


def test_an_r1_style_judge_with_a_parser_is_read_from_its_answer_not_its_reasoning(tmp_path):
    answer = FakeAnswer("\\boxed{0}", reasoning="If it were right I would write \\boxed{1}.")
    with FakeOpenAIServer(lambda r: answer, reasoning_mode="field") as server:
        run = ask_judges(_tasks(2), [_judge(server)], tmp_path, name="r1", progress=False)
    assert [d.score for d in run.decisions.values()] == [0, 0]


def test_repeats_and_judges_vote_and_a_tie_is_no_verdict(tmp_path):
    with (
        FakeOpenAIServer(["\\boxed{1}", "\\boxed{1}", "\\boxed{0}"], reasoning_mode="none") as one,
        FakeOpenAIServer(lambda r: "\\boxed{0}", reasoning_mode="none") as two,
    ):
        judges = [_judge(one), Judge(_judge(two).endpoint, "second")]
        run = ask_judges(_tasks(1), judges, tmp_path, name="r1", repeats=3, concurrency=1, progress=False)
    (decision,) = run.decisions.values()
    assert decision.score == 0  # 1,1,0 from one and 0,0,0 from two
    assert len(decision.votes) == 6 and "[second #2]" in decision.raw
    assert run.asks == {"fake-model": 3, "second": 3}


def test_resume_reads_answered_asks_back_and_resends_only_failed_calls(tmp_path):
    tasks = _tasks(3)

    # First run: item-0 gets an unusable reply then an outage; item-1 a verdict; item-2 only 500s.
    def first(request, attempt):
        text = request["messages"][0]["content"]
        if "0.70" in text:
            return "500" if attempt > 1 else None
        return "500" if "0.72" in text else None

    with FakeOpenAIServer(lambda r: "rambling" if "0.70" in r["messages"][0]["content"] else "\\boxed{1}",
                          reasoning_mode="none", fault_fn=first) as server:  # fmt: skip
        run = ask_judges(tasks, [_judge(server)], tmp_path, name="r1", max_asks=3, progress=False)
        assert server.stats().chat_requests == 3 + 1 + 3  # item-0: 3 asks, item-1: 1, item-2: 3
    assert [d.score for d in run.decisions.values()] == [None, 1, None]
    assert run.decisions["item-2"].problem == "call_failed"
    # Second run after the outage: the asks whose call failed most recently are sent again, nothing else.
    with FakeOpenAIServer(lambda r: "\\boxed{0}", reasoning_mode="none") as server:
        again = ask_judges(tasks, [_judge(server)], tmp_path, name="r1", max_asks=3, progress=False)
        by_item = server.stats().by_item
    assert sum(by_item.values()) == 2  # item-0's third ask and item-2's third ask; item-1 is not asked again
    assert [d.score for d in again.decisions.values()] == [0, 1, 0]
    logged = read_results(log_path(tmp_path, "r1", _judge(server)))
    assert sorted(k for k in logged if k[0].startswith("item-1")) == [("item-1|r0", 0)]


def test_a_revoked_key_stops_the_loop_at_once(tmp_path, monkeypatch):
    monkeypatch.setenv("FINR1_TEST_JUDGE_KEY", "sk-judge-key-0123456789")
    with FakeOpenAIServer(lambda r: "\\boxed{1}", api_key="sk-judge-key-0123456789", revoke_after=2) as server:
        judge = _judge(server, api_key_env="FINR1_TEST_JUDGE_KEY")
        with pytest.raises(AuthError, match=r"refused the key in \$FINR1_TEST_JUDGE_KEY") as err:
            ask_judges(_tasks(20), [judge], tmp_path, name="r1", concurrency=1, progress=False)
        stats = server.stats()
        assert (stats.ok, stats.refused) == (2, 1)  # two answers, then the first 401 stops everything
    assert "\n" not in str(err.value) and "sk-judge" not in str(err.value)
    logged = read_results(log_path(tmp_path, "r1", judge)).values()
    assert sum(r.ok for r in logged) == 2 and sum(not r.ok for r in logged) == 1  # paid answers kept, refusal logged


def test_log_files_are_per_round_and_judge(tmp_path):
    with FakeOpenAIServer(lambda r: "\\boxed{1}") as server:
        ask_judges(_tasks(1), [_judge(server)], tmp_path, name="round2", progress=False)
    assert sorted(p.name for p in Path(tmp_path).iterdir()) == ["round2.fake-model.jsonl"]
