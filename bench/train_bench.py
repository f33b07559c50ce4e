"""Training throughput of SFT (tokens/s and MFU): TRL's defaults against finr1's recipe settings.

A randomly initialised Qwen2.5-1.5B-shaped model (no download) trains a few steps with TRL's SFTTrainer on
synthetic token sequences whose lengths look like distilled reasoning traces (log-normal, median ~1,200
tokens, capped at ``--max-length``). Each setting runs in its own process (kernels such as Liger patch
modules globally, and GPU memory is returned between runs). Reported per setting:

- tokens/s: training tokens (no padding) per second over the timed steps, after warm-up steps;
- MFU: model FLOPs per second over the GPU's dense bf16 peak, with 6·N FLOPs per token for the matmuls
  (N counts the output projection once; tied input embeddings are a lookup) plus 6·L·d·s per token for
  causal attention over each sample's own length s. Recomputation by gradient checkpointing is not counted
  (that would be HFU).

Settings:

- ``trl-defaults``: what SFTConfig does when left alone: padded batches (no packing), sdpa attention,
  gradient checkpointing on, bf16, no fused kernels.
- ``finr1``: the recipe's throughput settings (recipes/qwen2.5-7b-instruct/sft/fin-r1.yaml): BFD packing
  into ``--max-length`` rows (padding-free), the best attention available (flash_attention_2 with the
  ``flash-attn`` package, else ``kernels-community/flash-attn2`` with the ``kernels`` package, else
  sdpa), Liger's fused kernels when ``liger-kernel`` is installed, bf16.
- ``finr1-sdpa``: ``finr1`` with sdpa attention, to separate packing from the attention kernel.

Run on one GPU::

    python bench/train_bench.py                       # every setting, Qwen2.5-1.5B shape, 8k rows
    python bench/train_bench.py --settings finr1 --attn sdpa --no-grad-ckpt

Check that it runs on a CPU (tiny shape, seconds)::

    python bench/train_bench.py --tiny
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from typing import Any

# Dense bf16 peak in TFLOP/s (no sparsity), by a substring of torch.cuda.get_device_name().
PEAK_TFLOPS = {
    "H200": 989.4,
    "H100 PCIe": 756.0,
    "H100 NVL": 835.0,
    "H100": 989.4,
    "GH200": 989.4,
    "B200": 2250.0,
    "A100": 312.0,
    "L40S": 362.0,
    "A10G": 125.0,
    "L4": 121.0,
}

QWEN25_15B = {  # Qwen/Qwen2.5-1.5B-Instruct config.json
    "vocab_size": 151936,
    "hidden_size": 1536,
    "intermediate_size": 8960,
    "num_hidden_layers": 28,
    "num_attention_heads": 12,
    "num_key_value_heads": 2,
    "max_position_embeddings": 32768,
    "rope_theta": 1000000.0,
    "tie_word_embeddings": True,
}
TINY = {
    "vocab_size": 1024,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 4096,
    "rope_theta": 1000000.0,
    "tie_word_embeddings": True,
}
SETTINGS = ("trl-defaults", "finr1", "finr1-sdpa")


def _best_attention() -> str:
    from transformers.utils import is_flash_attn_2_available, is_kernels_available

    if is_flash_attn_2_available():
        return "flash_attention_2"
    if is_kernels_available():
        return "kernels-community/flash-attn2"
    return "sdpa"


def _liger_available() -> bool:
    from transformers.utils import is_liger_kernel_available

    return is_liger_kernel_available()


def _lengths(n: int, max_length: int, median: int, seed: int) -> list[int]:
    import random

    rng = random.Random(seed)
    return [max(32, min(max_length, int(rng.lognormvariate(math.log(median), 0.6)))) for _ in range(n)]


def _dataset(lengths: list[int], vocab: int, seed: int) -> Any:
    import datasets
    import torch

    gen = torch.Generator().manual_seed(seed)
    ids = [torch.randint(16, vocab, (n,), generator=gen).tolist() for n in lengths]
    return datasets.Dataset.from_dict({"input_ids": ids})


def _plan(args: argparse.Namespace, setting: str) -> dict[str, Any]:
    """The knobs of one setting (explicit flags override the setting's defaults)."""
    packed = setting != "trl-defaults"
    attn = "sdpa" if setting in ("trl-defaults", "finr1-sdpa") else (args.attn or _best_attention())
    if setting == "finr1" and args.attn:
        attn = args.attn
    return {
        "setting": setting,
        "packing": packed,
        "attn": attn,
        "liger": packed and setting == "finr1" and not args.no_liger and _liger_available(),
        "grad_ckpt": not args.no_grad_ckpt,
        "batch_size": args.packed_batch if packed else args.batch,
        "max_length": args.max_length,
    }


def run_one(args: argparse.Namespace, setting: str) -> dict[str, Any]:
    """Train ``warmup + steps`` steps of one setting in this process and measure the timed steps."""
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from finr1_core.testing.tiny import make_tiny_tokenizer

    plan = _plan(args, setting)
    cpu = args.tiny or not torch.cuda.is_available()
    shape = TINY if args.tiny else QWEN25_15B
    config = Qwen2Config(**shape, bos_token_id=None, eos_token_id=2, pad_token_id=0)
    dtype = torch.float32 if cpu else torch.bfloat16
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, attn_implementation=plan["attn"], dtype=dtype)
    n_params = sum(p.numel() for p in model.parameters())  # tied: embedding/lm_head counted once

    steps_total = args.warmup + args.steps
    rows_per_step = plan["batch_size"] * args.grad_accum
    median = min(args.median_length, args.max_length)
    mean_len = median * math.exp(0.6**2 / 2)
    per_row = max(1.0, args.max_length / mean_len) if plan["packing"] else 1.0
    n_examples = int(steps_total * rows_per_step * per_row * 1.3) + 16
    lengths = _lengths(n_examples, args.max_length, median, args.seed)
    dataset = _dataset(lengths, shape["vocab_size"], args.seed)
    tokenizer = make_tiny_tokenizer()

    sft_args = SFTConfig(
        output_dir=args.output_dir,
        use_cpu=cpu,
        bf16=not cpu,
        max_steps=steps_total,
        per_device_train_batch_size=plan["batch_size"],
        gradient_accumulation_steps=args.grad_accum,
        gradient_checkpointing=plan["grad_ckpt"],
        gradient_checkpointing_kwargs={"use_reentrant": False} if plan["grad_ckpt"] else None,
        max_length=args.max_length,
        packing=plan["packing"],
        packing_strategy="bfd",
        use_liger_kernel=plan["liger"],
        learning_rate=1e-5,
        lr_scheduler_type="constant",
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        dataloader_num_workers=2 if not cpu else 0,
        disable_tqdm=True,
        seed=args.seed,
    )

    marks: list[tuple[float, int]] = []

    class Clock(TrainerCallback):
        def on_step_end(self, a: Any, state: Any, control: Any, **kw: Any) -> None:
            if torch.cuda.is_available() and not cpu:
                torch.cuda.synchronize()
            marks.append((time.perf_counter(), int(getattr(trainer, "_total_train_tokens", 0))))

    trainer = SFTTrainer(
        model=model, args=sft_args, train_dataset=dataset, processing_class=tokenizer, callbacks=[Clock()]
    )
    if torch.cuda.is_available() and not cpu:
        torch.cuda.reset_peak_memory_stats()
    trainer.train()

    (t0, tok0), (t1, tok1) = marks[args.warmup - 1], marks[-1]
    tokens_per_s = (tok1 - tok0) / (t1 - t0)
    # Attention FLOPs per token, 6·L·d·E[s²]/E[s] for causal attention over each sample's own length.
    # Padded rows do the same useful attention work; the padding itself is not counted.
    mean_s2_over_s = sum(n * n for n in lengths) / sum(lengths)
    flops_per_token = 6 * n_params + 6 * shape["num_hidden_layers"] * shape["hidden_size"] * mean_s2_over_s
    achieved_tflops = tokens_per_s * flops_per_token / 1e12
    device = "cpu" if cpu else torch.cuda.get_device_name(0)
    peak = args.peak_tflops or next((v for k, v in PEAK_TFLOPS.items() if k in device), None)
    return {
        **plan,
        "device": device,
        "params_m": round(n_params / 1e6, 1),
        "timed_steps": args.steps,
        "tokens_per_s": round(tokens_per_s, 1),
        "tflops": round(achieved_tflops, 2),
        "mfu": round(achieved_tflops / peak, 4) if peak and not cpu else None,
        "peak_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 1) if not cpu else None,
        "step_s": round((t1 - t0) / (len(marks) - args.warmup), 3),
    }


def _table(results: list[dict[str, Any]]) -> str:
    head = "| setting | attention | packing | liger | grad ckpt | batch | tokens/s | TFLOP/s | MFU | peak mem GiB |"
    lines = [head, "|---|---|---|---|---|---:|---:|---:|---:|---:|"]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['setting']} | failed: {r['error'][:80]} | | | | | | | | |")
            continue
        mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] is not None else "n/a"
        mem = r["peak_mem_gib"] if r["peak_mem_gib"] is not None else "n/a"
        lines.append(
            f"| {r['setting']} | {r['attn']} | {r['packing']} | {r['liger']} | {r['grad_ckpt']} | "
            f"{r['batch_size']} x {r['max_length']} | {r['tokens_per_s']:,.0f} | {r['tflops']} | {mfu} | {mem} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--settings", nargs="+", choices=SETTINGS, default=list(SETTINGS))
    parser.add_argument("--tiny", action="store_true", help="tiny Qwen2 shape on CPU: checks the script runs")
    parser.add_argument("--max-length", type=int, default=None, help="row length (default 8192; tiny 256)")
    parser.add_argument("--median-length", type=int, default=1200, help="median synthetic sample length")
    parser.add_argument("--batch", type=int, default=None, help="padded rows per step, trl-defaults (default 4)")
    parser.add_argument("--packed-batch", type=int, default=None, help="packed rows per step, finr1 (default 2)")
    parser.add_argument("--grad-accum", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps (default 3; tiny 1)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 10; tiny 3)")
    parser.add_argument("--attn", default=None, help="attention for 'finr1' (sdpa, flash_attention_2, kernels-…)")
    parser.add_argument("--no-liger", action="store_true")
    parser.add_argument("--no-grad-ckpt", action="store_true", help="turn gradient checkpointing off everywhere")
    parser.add_argument("--peak-tflops", type=float, default=None, help="override the GPU's dense bf16 peak")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", default="/tmp/finr1-train-bench")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    parser.add_argument("--worker", choices=SETTINGS, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.max_length = args.max_length or (256 if args.tiny else 8192)
    args.batch = args.batch or 4
    args.packed_batch = args.packed_batch or (1 if args.tiny else 2)
    args.warmup = args.warmup or (1 if args.tiny else 3)
    args.steps = args.steps or (3 if args.tiny else 10)
    args.median_length = min(args.median_length, 100) if args.tiny else args.median_length

    if args.worker:
        print("RESULT " + json.dumps(run_one(args, args.worker)), flush=True)
        return 0

    results = []
    for setting in args.settings:
        cmd = [sys.executable, os.path.abspath(__file__), *(argv if argv is not None else sys.argv[1:])]
        cmd = [c for c in cmd if c != "--settings" and c not in SETTINGS] + ["--worker", setting]
        started = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
        if proc.returncode != 0 or line is None:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            results.append({"setting": setting, "error": tail[0]})
            print(f"{setting}: failed ({tail[0]})", file=sys.stderr)
            continue
        result = json.loads(line.removeprefix("RESULT "))
        results.append(result)
        print(
            f"{setting}: {result['tokens_per_s']:,.0f} tokens/s ({time.perf_counter() - started:.0f} s)",
            file=sys.stderr,
        )
    print(_table(results))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
