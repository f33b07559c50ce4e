"""Reward functions on hand-written completions (RECIPE.md §6), including open-r1's MULTILINE bug case."""

from __future__ import annotations

import re

import pytest

from finr1_core.errors import AuthError, ConfigError, TooFewUsableError
from finr1_core.testing.fake_openai import (
    FakeAnswer,
    FakeOpenAIServer,
    both_verdicts_judge,
    echo_judge,
    rambling_judge,
)
from finr1_train.rewards import (
    REWARDS,
    LLMAccuracyReward,
    VerifierConfig,
    accuracy_reward,
    answer_content,
    build_rewards,
    format_reward,
    reward_names,
    strip_trailing,
    tag_count_reward,
)

GOOD = "<think>\nRevenue rose from 100 to 120.\n</think>\n<answer>\nThe change is \\boxed{20\\%}.\n</answer>"

FORMAT_CASES = [
    # (completion, expected R_fmt, why)
    (GOOD, 1.0, "the exact format"),
    ("<think>\nline one\n\nline two\n</think>\n<answer>\nA\nB\n</answer>", 1.0, "multi-line bodies (DOTALL)"),
    (GOOD + "\n", 1.0, "a trailing newline is stripped"),
    (GOOD + "  \n\t", 1.0, "trailing whitespace is stripped"),
    (GOOD + "<|im_end|>", 1.0, "a trailing EOS string is stripped"),
    (GOOD + "<|im_end|>\n<|endoftext|>", 1.0, "several EOS strings and newlines"),
    (GOOD + "\nBy the way, I am not sure.", 0.0, "open-r1's MULTILINE bug: text after </answer>"),
    (GOOD + "\n<answer>\nsecond\n</answer>", 0.0, "a second answer block"),
    ("Sure!\n" + GOOD, 0.0, "text before <think>"),
    ("\n" + GOOD, 0.0, "leading whitespace is not stripped"),
    ("<think>\nx\n</think>\n<think>\ny\n</think>\n<answer>\nz\n</answer>", 0.0, "two think blocks"),
    ("<think>x</think>\n<answer>\ny\n</answer>", 0.0, "no newline inside <think>"),
    ("<think>\nx\n</think><answer>\ny\n</answer>", 0.0, "no newline between the blocks"),
    ("<think>\nx\n</think>\n\n<answer>\ny\n</answer>", 0.0, "a blank line between the blocks"),
    ("<think>\nx\n</think>\n<answer>\ny</answer>", 0.0, "no newline before </answer>"),
    ("<think>\nx\n</think>\n<answer>\ny\n", 0.0, "unclosed answer (cut off)"),
    ("<answer>\ny\n</answer>", 0.0, "no think block"),
    ("<think>\nx\n</think>", 0.0, "no answer block"),
    ("<think>\nx </answer> y\n</think>\n<answer>\nz\n</answer>", 0.0, "a stray closing tag inside the think body"),
    ("", 0.0, "empty"),
]


@pytest.mark.parametrize(("completion", "expected", "why"), FORMAT_CASES, ids=[c[2] for c in FORMAT_CASES])
def test_format_reward(completion, expected, why):
    assert format_reward([completion]) == [expected], why


def test_open_r1_multiline_pattern_would_accept_the_bug_case():
    """The case above really is the bug: open-r1's pattern scores it 1, ours scores it 0."""
    bad = GOOD + "\nBy the way, I am not sure."
    open_r1 = r"^<think>\n.*?\n</think>\n<answer>\n.*?\n</answer>$"
    assert re.match(open_r1, bad, re.DOTALL | re.MULTILINE) is not None
    assert format_reward([bad]) == [0.0]


def test_format_reward_on_conversational_completions():
    completions = [[{"role": "assistant", "content": GOOD}], [{"role": "assistant", "content": "no tags"}]]
    assert format_reward(completions) == [1.0, 0.0]


def test_strip_trailing_only_strips_the_end():
    assert strip_trailing("  a \n<|im_end|> \n") == "  a"
    assert strip_trailing("<|im_end|>a") == "<|im_end|>a"


def test_tag_count_partial_credit():
    assert tag_count_reward([GOOD, "<think>\nonly think\n</think>\n", "nothing"]) == [1.0, 0.5, 0.0]


def test_answer_content_takes_the_last_complete_block():
    assert answer_content("<answer>\n1\n</answer> <answer>\n2\n</answer>") == "2"
    assert answer_content("<answer>\nunclosed") is None


ACCURACY_CASES = [
    # (completion, solution, answer_type, choices, expected)
    (GOOD, "20%", "numeric", None, 1.0),
    (GOOD, "0.2", "numeric", None, 1.0),
    (GOOD, "25%", "numeric", None, 0.0),
    ("<think>\nx\n</think>\n<answer>\nThe answer is \\boxed{B}.\n</answer>", "B", "choice", None, 1.0),
    ("<think>\nx\n</think>\n<answer>\n\\boxed{A}\n</answer>", "B", "choice", None, 0.0),
    ("<think>\nx\n</think>\n<answer>\n资产负债表\n</answer>", "B", "choice", {"A": "利润表", "B": "资产负债表"}, 1.0),
    ("<think>\nx\n</think>\n<answer>\nyes\n</answer>", "是", "boolean", None, 1.0),
    ("The change is 20%.", "20%", "numeric", None, 0.0),  # no <answer> block: 0 even when the number is right
    ("<think>\nThe answer is 20%\n</think>\n<answer>\n", "20%", "numeric", None, 0.0),  # cut off
    (GOOD, "", "numeric", None, None),  # no gold: abstain
    ("<think>\nx\n</think>\n<answer>\nfree text\n</answer>", "some text", "text", None, None),  # undecidable
]


@pytest.mark.parametrize(("completion", "solution", "answer_type", "choices", "expected"), ACCURACY_CASES)
def test_accuracy_reward(completion, solution, answer_type, choices, expected):
    stored_choices = [{"key": k, "value": v} for k, v in choices.items()] if choices else None
    rewards = accuracy_reward(
        [completion],
        [solution],
        answer_type=[answer_type],
        choices=[stored_choices],
        labels=[None],
        prompts=[[{"role": "user", "content": "What is the change?"}]],
    )
    assert rewards == [expected]


def test_accuracy_reward_reads_labels_in_storage_layout():
    labels = [{"key": "0", "value": ["bearish", "negative"]}, {"key": "1", "value": ["bullish", "positive"]}]
    completion = "<think>\nx\n</think>\n<answer>\nThe sentiment is \\boxed{bullish}.\n</answer>"
    assert accuracy_reward([completion], ["1"], answer_type=["label"], labels=[labels]) == [1.0]


REPORT_PROMPT = [
    {
        "role": "user",
        "content": "Report: revenue declined sharply; the decline in margin was 3 percent, and the share of "
        "exports fell.\n| item | 2019 | 2018 |\n| revenue | 120 | 100 |\nQuestion: what was the change in revenue?",
    }
]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("\\boxed{-20}", 0.0),  # the report's "declined" must not let -20 stand for a gold of +20
        ("\\boxed{0.2}", 0.0),  # nor its "percent"/"share" let 0.2 stand for 20
        ("\\boxed{20}", 1.0),
    ],
)
def test_accuracy_reward_reads_the_question_column_never_the_prompt(answer, expected):
    completion = f"<think>\nx\n</think>\n<answer>\n{answer}\n</answer>"
    common = {"answer_type": ["numeric"], "prompts": [REPORT_PROMPT]}
    assert accuracy_reward([completion], ["20"], question=["what was the change in revenue?"], **common) == [expected]
    assert accuracy_reward([completion], ["20"], **common) == [expected]  # no question column: no question


def test_accuracy_reward_grades_as_evaluation_does():
    from finr1_core.answers import match_item

    row = {"solution": "0.14464", "answer_type": "numeric", "question": "what percentage of space is leased?"}
    for answer in ("\\boxed{14.46}", "\\boxed{14\\%}", "The share is 14.5%.", "\\boxed{-14.46\\%}"):
        completion = f"<think>\nx\n</think>\n<answer>\n{answer}\n</answer>"
        reward = accuracy_reward([completion], [row["solution"]], answer_type=["numeric"], question=[row["question"]])
        assert reward == [float(bool(match_item(completion, row).correct))], answer


def test_an_answer_block_inside_the_thinking_is_not_the_answer():
    completion = "<think>\nDraft: <answer>\n20\n</answer>\n</think>\nThe change is 25."
    assert accuracy_reward([completion], ["20"], answer_type=["numeric"]) == [0.0]


def test_registry_and_build():
    assert {"format", "accuracy", "tag_count"} <= set(REWARDS)
    assert "accuracy_llm" in reward_names()
    assert build_rewards(["format", "accuracy"]) == [format_reward, accuracy_reward]
    with pytest.raises(ConfigError, match="unknown reward 'nope'"):
        build_rewards(["nope"])
    with pytest.raises(ConfigError, match="needs a 'verifier:'"):
        build_rewards(["accuracy_llm"])


def _verifier(server: FakeOpenAIServer, **kw) -> LLMAccuracyReward:
    return LLMAccuracyReward(VerifierConfig(base_url=server.base_url, model="fake-model", max_retries=0, **kw))


def test_llm_verifier_only_asked_when_rules_cannot_decide():
    text_answer = "<think>\nx\n</think>\n<answer>\nThe bank's capital ratio improved.\n</answer>"
    with FakeOpenAIServer(answers=["\\boxed{1}"], reasoning_mode="none") as server:
        reward = _verifier(server)
        out = reward(
            [GOOD, GOOD, text_answer, "no answer block"],
            ["20%", "30%", "ratio improved", "1"],
            answer_type=["numeric", "numeric", "text", "numeric"],
        )
        assert out == [1.0, 0.0, 1.0, 0.0]
        assert server.stats().chat_requests == 1  # only the free-text answer went to the verifier


def test_llm_verifier_always_mode_and_prompt_layout():
    seen = []

    def answer(request):
        seen.append(request["messages"][-1]["content"])
        return "Score: \\boxed{0}"

    with FakeOpenAIServer(answers=answer, reasoning_mode="none") as server:
        out = _verifier(server, mode="always")([GOOD], ["20%"], answer_type=["numeric"])
    assert out == [0.0]  # the verifier overrides the rule when asked for everything
    prompt = seen[0]
    # Paper layout: rules first, then the gold and the answer to be scored; no question, no reasoning.
    assert prompt.index("Rules:") < prompt.index("Correct answer:\n20%") < prompt.index("Answer to be scored:")
    assert "Revenue rose" not in prompt


def test_llm_verifier_without_a_box_abstains_after_retries():
    with FakeOpenAIServer(answers=["I think it is right."], reasoning_mode="none") as server:
        out = _verifier(server, max_asks=2)(
            ["<think>\nx\n</think>\n<answer>\nprose\n</answer>"], ["gold text"], answer_type=["text"]
        )
        assert out == [None]  # never a silent 0
        assert server.stats().chat_requests == 2


def test_llm_verifier_endpoint_failure_abstains():
    with FakeOpenAIServer(faults={"500": 1.0}, reasoning_mode="none") as server:
        out = _verifier(server, max_asks=1)(
            ["<think>\nx\n</think>\n<answer>\nprose\n</answer>"], ["gold"], answer_type=["text"]
        )
    assert out == [None]


def test_llm_verifier_missing_key_env_is_a_config_error(monkeypatch):
    monkeypatch.delenv("FINR1_TEST_VERIFIER_KEY", raising=False)
    config = VerifierConfig(base_url="http://127.0.0.1:9/v1", model="m", api_key_env="FINR1_TEST_VERIFIER_KEY")
    with pytest.raises(ConfigError, match="FINR1_TEST_VERIFIER_KEY is not set"):
        build_rewards(["format", "accuracy_llm"], config)


PROSE = "<think>\nx\n</think>\n<answer>\nThe bank's capital ratio improved.\n</answer>"


@pytest.mark.parametrize(
    "judge", [echo_judge, rambling_judge, both_verdicts_judge], ids=["echoing", "rambling", "both-verdicts"]
)
def test_a_confused_verifier_abstains_never_rewards(judge):
    # An echo carries the prompt's "\boxed{1} or \boxed{0}" (and, in always mode, a gold "1" in a box): read as a
    # verdict it would reward or punish every completion. It must abstain instead, after asking again.
    with FakeOpenAIServer(answers=judge, reasoning_mode="none") as server:
        reward = _verifier(server, mode="always", max_tokens=512)
        out = reward([PROSE, PROSE], ["\\boxed{1}", "ratio improved"], answer_type=["text", "text"])
        assert out == [None, None]
        assert server.stats().chat_requests == 2 * 3  # each asked max_asks (3) times
    assert reward.count.usable == 0 and reward.count.total == 2


def test_a_verifier_behind_a_reasoning_parser_abstains():
    with FakeOpenAIServer(lambda r: FakeAnswer("\\boxed{1}", reasoning=""), reasoning_mode="all_reasoning") as server:
        assert _verifier(server)([PROSE], ["gold"], answer_type=["text"]) == [None]


def test_a_verifier_that_is_never_usable_stops_training_after_twenty_verdicts():
    with FakeOpenAIServer(answers=echo_judge, reasoning_mode="none") as server:
        reward = _verifier(server, max_asks=1, max_tokens=512)
        reward([PROSE] * 10, ["gold"] * 10, answer_type=["text"] * 10)  # 10 unusable: too few to judge the verifier
        with pytest.raises(TooFewUsableError, match=r"only 0 of 20 verifier verdicts were usable"):
            reward([PROSE] * 10, ["gold"] * 10, answer_type=["text"] * 10)


def test_a_verifier_that_refuses_the_key_stops_training(monkeypatch):
    monkeypatch.setenv("FINR1_TEST_VERIFIER_KEY", "sk-verifier-key-0123456789")
    with FakeOpenAIServer(answers=["\\boxed{1}"], api_key="sk-verifier-key-0123456789", revoke_after=1) as server:
        reward = _verifier(server, api_key_env="FINR1_TEST_VERIFIER_KEY")
        assert reward([PROSE], ["gold"], answer_type=["text"]) == [1.0]
        with pytest.raises(AuthError, match=r"refused the key in \$FINR1_TEST_VERIFIER_KEY"):
            reward([PROSE], ["gold"], answer_type=["text"])
