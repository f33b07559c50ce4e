# ruff: noqa: T201  (a script: its output is the results table)
"""CPU demonstration: SFT then GRPO of the embedded SmolLM2-135M-Instruct on short synthetic finance traces.

    python packages/train/examples/embedded_demo.py [--work DIR] [--sft-steps 30] [--grpo-steps 10]

1. Writes a small judged dataset (an ``sft`` split of short traces in the Fin-R1 format, an ``rl`` split of
   held-out questions with references) with ``finr1_core.refs``, as finr1-judge would.
2. Scores the embedded model's greedy answers to the ``rl`` prompts with the format and accuracy rewards.
3. Runs ``finr1-train sft`` and ``finr1-train grpo`` with the shipped CPU recipes, scoring again after each.
4. Prints a table and writes ``demo.json`` into the work folder; the curves are in each model folder.

At this size the model learns the answer format, not finance: the run demonstrates the mechanism.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path
from typing import Any

RECIPES = Path(__file__).resolve().parents[1] / "recipes" / "smollm2-135m"


def _money(rng: random.Random, low: int, high: int) -> float:
    return round(rng.uniform(low, high), 1)


def make_item(rng: random.Random, kind: int) -> tuple[str, str, str, str]:
    """(question, reasoning, answer line, solution) for one synthetic finance question."""
    if kind == 0:
        old, new = _money(rng, 80, 400), 0.0
        new = round(old * rng.uniform(0.7, 1.5), 1)
        change = (new - old) / old * 100
        return (
            f"Revenue was ${old} million last year and ${new} million this year. What is the percentage change?",
            f"The change is {new} - {old} = {new - old:.1f}. Dividing by {old} gives {change / 100:.4f}, "
            f"which is {change:.1f}%.",
            f"The revenue changed by \\boxed{{{change:.1f}\\%}}.",
            f"{change:.1f}%",
        )
    if kind == 1:
        revenue = _money(rng, 200, 900)
        income = round(revenue * rng.uniform(0.05, 0.3), 1)
        margin = income / revenue * 100
        return (
            f"A company has net income of ${income} million on revenue of ${revenue} million. What is its net "
            "profit margin?",
            f"Net profit margin is net income divided by revenue: {income} / {revenue} = {margin / 100:.4f}, "
            f"that is {margin:.1f}%.",
            f"The net profit margin is \\boxed{{{margin:.1f}\\%}}.",
            f"{margin:.1f}%",
        )
    if kind == 2:
        assets = _money(rng, 100, 500)
        liabilities = round(assets / rng.uniform(0.8, 2.5), 1)
        ratio = assets / liabilities
        return (
            f"Current assets are ${assets} million and current liabilities are ${liabilities} million. What is "
            "the current ratio?",
            f"The current ratio is current assets over current liabilities: {assets} / {liabilities} = {ratio:.2f}.",
            f"The current ratio is \\boxed{{{ratio:.2f}}}.",
            f"{ratio:.2f}",
        )
    if kind == 3:
        principal = rng.choice([1000, 2000, 5000, 10000])
        rate = rng.choice([2, 3, 4, 5, 6])
        years = rng.choice([2, 3, 5])
        interest = principal * rate / 100 * years
        return (
            f"What is the simple interest on ${principal} at {rate}% per year for {years} years?",
            f"Simple interest is principal times rate times time: {principal} x {rate / 100} x {years} = "
            f"{interest:.0f}.",
            f"The interest is \\boxed{{{interest:.0f}}} dollars.",
            f"{interest:.0f}",
        )
    income = _money(rng, 20, 200)
    shares = rng.choice([10, 20, 25, 40, 50])
    eps = income / shares
    options = sorted({round(eps, 2), round(eps * 1.5, 2), round(eps / 2, 2), round(eps + 1, 2)})
    letters = "ABCD"[: len(options)]
    correct = letters[options.index(round(eps, 2))]
    listed = " ".join(f"{letter}. {value}" for letter, value in zip(letters, options, strict=True))
    return (
        f"Net income is ${income} million and there are {shares} million shares. What is the earnings per "
        f"share? {listed}",
        f"Earnings per share is net income divided by shares: {income} / {shares} = {eps:.2f}, which is "
        f"option {correct}.",
        f"The answer is \\boxed{{{correct}}}.",
        correct,
    )


def build_dataset(folder: Path, n_sft: int, n_rl: int, seed: int) -> None:
    """Write the judged dataset (sft + rl splits) the way finr1-judge does."""
    from finr1_core.lineage import Lineage
    from finr1_core.refs import save_dataset_ref
    from finr1_core.schemas import RLRow, SFTRow, to_dataset

    rng = random.Random(seed)
    sft, rl = [], []
    for i in range(n_sft + n_rl):
        kind = i % 5
        question, reasoning, answer, solution = make_item(rng, kind)
        if i < n_sft:
            trace = f"<think>\n{reasoning}\n</think>\n<answer>\n{answer}\n</answer>"
            sft.append(
                SFTRow(
                    id=f"demo/{i}",
                    source="demo",
                    messages=[{"role": "user", "content": question}, {"role": "assistant", "content": trace}],
                )
            )
        else:
            rl.append(
                RLRow(
                    id=f"demo/{i}",
                    source="demo",
                    prompt=[{"role": "user", "content": question}],
                    solution=solution,
                    answer_type="choice" if kind == 4 else "numeric",
                )
            )
    import datasets

    dsdict = datasets.DatasetDict({"sft": to_dataset(SFTRow, sft), "rl": to_dataset(RLRow, rl)})
    save_dataset_ref(
        dsdict,
        str(folder),
        Lineage.start("embedded_demo", "0", config={"seed": seed}),
        card_body="Synthetic finance traces for the finr1-train CPU demonstration.",
    )


def score(model_dir: Path, dataset_dir: Path, max_new_tokens: int) -> dict[str, Any]:
    """Greedy answers of a model to the rl prompts (with the Fin-R1 system prompt), scored by the rewards."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from finr1_core.refs import load_dataset_ref
    from finr1_train.config import FIN_R1_SYSTEM_PROMPT
    from finr1_train.data import with_system_prompt
    from finr1_train.rewards import accuracy_reward, format_reward

    rl, _ = load_dataset_ref(str(dataset_dir), split="rl")
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.bfloat16).eval()
    prompts = [with_system_prompt([dict(m) for m in p], FIN_R1_SYSTEM_PROMPT) for p in rl["prompt"]]
    texts = [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts]
    batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    t0 = time.perf_counter()
    with torch.no_grad():
        out = model.generate(
            **batch, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id
        )
    completions = tokenizer.batch_decode(out[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
    fmt = format_reward(completions)
    acc = accuracy_reward(completions, rl["solution"], answer_type=rl["answer_type"], prompts=prompts)
    decided = [a for a in acc if a is not None]
    return {
        "format": sum(fmt) / len(fmt),
        "accuracy": sum(decided) / len(decided) if decided else None,
        "n": len(fmt),
        "generate_s": round(time.perf_counter() - t0, 1),
        "example": completions[0],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", default="/tmp/finr1-train-demo")
    parser.add_argument("--sft-rows", type=int, default=30)
    parser.add_argument("--rl-rows", type=int, default=12)
    parser.add_argument("--sft-steps", type=int, default=30)
    parser.add_argument("--grpo-steps", type=int, default=10)
    parser.add_argument("--max-new-tokens", type=int, default=192)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    from finr1_core.logging import setup_logging
    from finr1_core.models import embedded_model_path
    from finr1_train.config import load_recipe
    from finr1_train.train import run

    setup_logging("INFO")
    work = Path(args.work)
    data, sft_out, grpo_out = work / "judge", work / "sft", work / "grpo"
    build_dataset(data, args.sft_rows, args.rl_rows, args.seed)
    results: dict[str, Any] = {"args": vars(args)}
    timings: dict[str, float] = {}

    results["before"] = score(embedded_model_path(), data, args.max_new_tokens)
    t0 = time.perf_counter()
    sft = run(
        load_recipe(
            "sft",
            RECIPES / "sft/cpu.yaml",
            {"dataset": str(data), "output": str(sft_out), "resume": False},
            ["--max_steps", str(args.sft_steps)],
        )
    )
    timings["sft_s"] = round(time.perf_counter() - t0, 1)
    results["after_sft"] = score(sft_out, data, args.max_new_tokens)
    t0 = time.perf_counter()
    grpo = run(
        load_recipe(
            "grpo",
            RECIPES / "grpo/cpu.yaml",
            {"model": str(sft_out), "dataset": str(data), "output": str(grpo_out), "resume": False},
            ["--max_steps", str(args.grpo_steps)],
        )
    )
    timings["grpo_s"] = round(time.perf_counter() - t0, 1)
    results["after_grpo"] = score(grpo_out, data, args.max_new_tokens)
    grpo_logs = [e for e in grpo.trainer.state.log_history if "rewards/format_reward/mean" in e]
    results["grpo_train_format_reward"] = [round(e["rewards/format_reward/mean"], 3) for e in grpo_logs]
    results["grpo_train_accuracy_reward"] = [
        round(e.get("rewards/accuracy_reward/mean", float("nan")), 3) for e in grpo_logs
    ]
    results["grpo_completion_length"] = [round(e["completions/mean_length"], 1) for e in grpo_logs]
    results["sft_loss"] = [round(e["loss"], 3) for e in sft.trainer.state.log_history if "loss" in e]
    results["timings"] = timings
    results["curves"] = {"sft": str(sft.curves_path), "grpo": str(grpo.curves_path)}
    (work / "demo.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")

    print("| model | mean format reward | mean accuracy reward | n |")
    print("|---|---:|---:|---:|")
    for name in ("before", "after_sft", "after_grpo"):
        r = results[name]
        acc = f"{r['accuracy']:.2f}" if r["accuracy"] is not None else "n/a"
        print(f"| {name} | {r['format']:.2f} | {acc} | {r['n']} |")
    print(f"GRPO training format reward per step: {results['grpo_train_format_reward']}")
    print(f"timings: {timings}; curves: {results['curves']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
