"""Data preparation: system prompt, prompt/completion pairs, and the loss mask TRL builds from them."""

from __future__ import annotations

import datasets
import pytest

from finr1_core.errors import InputError
from finr1_train.config import FIN_R1_SYSTEM_PROMPT
from finr1_train.data import drop_long, rl_prompts, sft_pairs, with_system_prompt

# SmolLM2-135M-Instruct's chat template (ChatML with a default system turn and no {% generation %} markers):
# TRL cannot patch it for assistant_only_loss (TOOLING.md §2).
SMOLLM2_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
TRACE = "<think>\nStep one. Step two. Step three.\n</think>\n<answer>\n\\boxed{42}\n</answer>"


def _sft(rows):
    return datasets.Dataset.from_list(rows)


def test_system_prompt_is_put_first_and_replaces_a_row_system_turn():
    messages = [{"role": "system", "content": "old"}, {"role": "user", "content": "q"}]
    assert with_system_prompt(messages, "new") == [
        {"role": "system", "content": "new"},
        {"role": "user", "content": "q"},
    ]
    assert with_system_prompt(messages, None) == messages


def test_sft_pairs_split_the_last_assistant_turn():
    rows = [
        {"id": "a", "messages": [{"role": "user", "content": "q1"}, {"role": "assistant", "content": TRACE}]},
        {
            "id": "b",
            "messages": [
                {"role": "system", "content": "s"},
                {"role": "user", "content": "q2"},
                {"role": "assistant", "content": "a"},
                {"role": "user", "content": "q3"},
                {"role": "assistant", "content": TRACE},
            ],
        },
    ]
    pairs = sft_pairs(_sft(rows), FIN_R1_SYSTEM_PROMPT, "test")
    assert pairs.column_names == ["id", "prompt", "completion"]
    first, second = pairs[0], pairs[1]
    assert first["prompt"] == [{"role": "system", "content": FIN_R1_SYSTEM_PROMPT}, {"role": "user", "content": "q1"}]
    assert first["completion"] == [{"role": "assistant", "content": TRACE}]
    assert [m["role"] for m in second["prompt"]] == ["system", "user", "assistant", "user"]
    assert second["prompt"][0]["content"] == FIN_R1_SYSTEM_PROMPT


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        ([{"role": "user", "content": "q"}], "last message must be the assistant turn"),
        ([{"role": "system", "content": "s"}, {"role": "assistant", "content": "a"}], "no user turn"),
        ("not a list", "expected a list of chat messages"),
    ],
)
def test_bad_sft_rows_name_the_row(messages, message):
    ds = datasets.Dataset.from_dict({"id": ["x/1"], "messages": [messages]})
    with pytest.raises(InputError, match=message) as info:
        sft_pairs(ds, None, "judge[sft]")
    assert "judge[sft] row 0 (id x/1)" in str(info.value)


def test_rl_prompts_keep_the_reward_columns_and_check_answer_types():
    ds = datasets.Dataset.from_list(
        [{"prompt": [{"role": "user", "content": "q"}], "solution": "1", "answer_type": "numeric", "choices": None}]
    )
    out = rl_prompts(ds, FIN_R1_SYSTEM_PROMPT, "judge[rl]")
    assert out[0]["prompt"][0] == {"role": "system", "content": FIN_R1_SYSTEM_PROMPT}
    assert set(out.column_names) == {"prompt", "solution", "answer_type", "choices"}
    bad = ds.map(lambda r: {"answer_type": "essay"})
    with pytest.raises(InputError, match="answer_type 'essay' is not one of"):
        rl_prompts(bad, None, "judge[rl]")


def test_drop_long_logs_and_refuses_to_drop_everything(caplog):
    ds = datasets.Dataset.from_dict({"x": [1, 2, 3]})
    assert len(drop_long(ds, [5, 50, 10], 10, "samples")) == 2
    assert "dropped 1 of 3 samples longer than 10 tokens" in caplog.text
    with pytest.raises(InputError, match="every one of the 3 samples is longer than 1 tokens"):
        drop_long(ds, [5, 50, 10], 1, "samples")


@pytest.mark.parametrize("template", ["qwen2.5", "smollm2"])
def test_loss_covers_exactly_the_assistant_turn(tiny_model, tmp_path, template):
    """The prompt/completion split supervises the trace and its end-of-turn token, nothing of the prompt."""
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model))
    if template == "smollm2":
        tokenizer.chat_template = SMOLLM2_TEMPLATE
    rows = [{"messages": [{"role": "user", "content": "What is 6 x 7?"}, {"role": "assistant", "content": TRACE}]}]
    pairs = sft_pairs(_sft(rows), FIN_R1_SYSTEM_PROMPT, "test")
    args = SFTConfig(
        output_dir=str(tmp_path),
        use_cpu=True,
        bf16=False,
        gradient_checkpointing=False,
        completion_only_loss=True,
        report_to="none",
    )
    trainer = SFTTrainer(model=str(tiny_model), args=args, train_dataset=pairs, processing_class=tokenizer)
    example = trainer.train_dataset[0]
    supervised = [t for t, label in zip(example["input_ids"], example["labels"], strict=True) if label != -100]
    assert tokenizer.decode(supervised) == TRACE + "<|im_end|>\n"
    prompt_ids = tokenizer.apply_chat_template(pairs[0]["prompt"], tokenize=True, add_generation_prompt=True)
    prompt_ids = prompt_ids["input_ids"] if hasattr(prompt_ids, "keys") else prompt_ids
    assert len(example["input_ids"]) == len(prompt_ids) + len(supervised)
    assert FIN_R1_SYSTEM_PROMPT in tokenizer.decode(example["input_ids"])


def test_assistant_only_loss_is_not_possible_on_smollm2s_template(tiny_model, tmp_path):
    """Why finr1 uses prompt/completion pairs: TRL refuses assistant_only_loss on SmolLM2's template."""
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model))
    tokenizer.chat_template = SMOLLM2_TEMPLATE
    rows = [{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": TRACE}]}]
    args = SFTConfig(
        output_dir=str(tmp_path),
        use_cpu=True,
        bf16=False,
        gradient_checkpointing=False,
        assistant_only_loss=True,
        report_to="none",
    )
    with pytest.raises(ValueError, match="not training-compatible"):
        SFTTrainer(model=str(tiny_model), args=args, train_dataset=_sft(rows), processing_class=tokenizer)
