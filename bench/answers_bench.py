"""Benchmark finr1_core.answers: speed on 2-4k-character responses and agreement with hand-labelled verdicts.

Compares with math-verify (parse + verify), the usual rule grader of open-r1-style pipelines, on the same inputs.

    taskset -c 0 .venv/bin/python bench/answers_bench.py            # both, single core
    taskset -c 0 .venv/bin/python bench/answers_bench.py --no-math-verify
    .venv/bin/python bench/answers_bench.py --cases bench/data/answers_heldout.jsonl --agreement-only

Inputs: ``bench/data/answers_cases.jsonl`` (one case per line: ``prediction``, ``reference``, ``answer_type``,
optional ``question``/``choices``/``labels``, and the human verdict ``human``: true, false, or null for
free-form answers that need a judge). ``--cases bench/data/answers_heldout.jsonl`` grades the independent held-out
set instead (written by a second person, see ``bench/README.md``); an optional ``batch`` field is reported apart.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from finr1_core.answers import match_answer

DATA = Path(__file__).parent / "data" / "answers_cases.jsonl"
PAD = " Let me re-read the question and the table once more to be sure I am using the right numbers."


def load(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def sized(cases: list[dict[str, Any]], lo: int = 2000, hi: int = 4000, *, strip_think: bool = False) -> list[str]:
    """Each prediction padded inside its thinking to a length spread evenly over [lo, hi) characters.

    With ``strip_think`` the think tags are removed, so the whole 2-4k text is the graded region (worst case:
    every regex scans all of it).
    """
    out = []
    for i, case in enumerate(cases):
        target = lo + (hi - lo) * i // max(1, len(cases))
        text = case["prediction"]
        if "<think>" in text and "</think>" not in text:  # truncated thinking stays unclosed
            while len(text) < target:
                text = text.replace("<think>\n", "<think>\n" + PAD, 1)
            out.append(text[:target] if strip_think is False else text.replace("<think>", "")[:target])
            continue
        if "</think>" not in text:
            text = "<think>\n" + PAD + "\n</think>\n\n" + text
        head, tail = text.rsplit("</think>", 1)
        while len(head) + len(tail) + 8 < target:
            head += PAD
        text = head[: max(0, target - len(tail) - 8)] + "</think>" + tail
        if strip_think:
            text = text.replace("<think>", "").replace("</think>", "\n")
        out.append(text)
    return out


def ours(case: dict[str, Any], prediction: str | None = None) -> bool | None:
    return match_answer(
        case["prediction"] if prediction is None else prediction,
        case["reference"],
        case["answer_type"],
        choices=case.get("choices"),
        labels=case.get("labels"),
        question=case.get("question"),
    ).correct


def mv_verdict(case: dict[str, Any], prediction: str | None = None) -> bool:
    from math_verify import parse, verify

    try:
        gold = parse(str(case["reference"]))
        pred = parse(case["prediction"] if prediction is None else prediction)
        return bool(verify(gold, pred))
    except Exception:  # math-verify raises on odd input; that counts as "not verified"
        return False


def rate(fn, cases: list[dict[str, Any]], preds: list[str], min_seconds: float) -> tuple[float, float, int]:
    """Calls per CPU second and per wall second of fn over (case, prediction) pairs.

    CPU time (``time.process_time``) is the per-core figure: on a shared machine wall time also counts the time
    other processes held the core.
    """
    n = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    while True:
        for case, pred in zip(cases, preds, strict=True):
            fn(case, pred)
        n += len(cases)
        cpu = time.process_time() - cpu0
        if cpu >= min_seconds:
            return n / cpu, n / (time.perf_counter() - wall0), n


def agreement(fn, cases: list[dict[str, Any]]) -> dict[str, Any]:
    total = collections.Counter()
    agree = collections.Counter()
    misses = []
    for case in cases:
        got = fn(case)
        key = case["source"]
        total[key] += 1
        total["all"] += 1
        if case["human"] is not None:
            total["decidable"] += 1
        if got == case["human"]:
            agree[key] += 1
            agree["all"] += 1
            if case["human"] is not None:
                agree["decidable"] += 1
        else:
            misses.append((case["id"], case["human"], got))
        if "batch" in case:
            total[f"batch {case['batch']}"] += 1
            agree[f"batch {case['batch']}"] += got == case["human"]
    return {"total": dict(total), "agree": dict(agree), "misses": misses}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--data", "--cases", dest="data", type=Path, default=DATA, help="Cases JSONL (default: %(default)s)."
    )
    ap.add_argument(
        "--agreement-only", action="store_true", help="Only the agreement with the human verdicts, no timing."
    )
    ap.add_argument("--seconds", type=float, default=3.0, help="Minimum timing per measurement.")
    ap.add_argument("--no-math-verify", action="store_true")
    ap.add_argument("--json", type=Path, help="Also write the numbers here.")
    args = ap.parse_args(argv)

    cases = load(args.data)
    with_think = sized(cases)
    no_think = sized(cases, strip_think=True)
    lengths = [len(p) for p in with_think]
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    report: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": platform.processor() or platform.machine(),
        "cpus_allowed": cpus,
        "cases": len(cases),
        "chars": {"min": min(lengths), "mean": round(statistics.mean(lengths)), "max": max(lengths)},
    }

    for case, pred in zip(cases, with_think, strict=True):  # padding must not change a verdict
        assert ours(case, pred) == ours(case), case["id"]

    if args.agreement_only:
        a = agreement(ours, cases)
        report["finr1_agreement"] = a
        print(f"cases: {len(cases)} ({args.data})")
        print(
            f"finr1_agreement: {a['agree'].get('all', 0)}/{a['total']['all']} "
            f"({100 * a['agree'].get('all', 0) / a['total']['all']:.1f}%)"
        )
        for key in sorted(k for k in a["total"] if k not in ("all", "decidable")):
            print(f"  {key:<17} {a['agree'].get(key, 0):>3}/{a['total'][key]:<3}")
        for miss in a["misses"]:
            print(f"  disagrees: {miss[0]} human={miss[1]} rule={miss[2]}")
        if args.json:
            args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return 0

    r1, w1, n1 = rate(ours, cases, with_think, args.seconds)
    r2, w2, n2 = rate(ours, cases, no_think, args.seconds)
    report["finr1_matches_per_cpu_s"] = {"r1_with_think": round(r1), "whole_response_graded": round(r2)}
    report["finr1_matches_per_wall_s"] = {"r1_with_think": round(w1), "whole_response_graded": round(w2)}
    report["finr1_agreement"] = agreement(ours, cases)

    if not args.no_math_verify:
        try:
            import math_verify  # noqa: F401
        except ImportError:
            print("math-verify not installed (pip install 'finr1-core[math]'); skipping it", file=sys.stderr)
        else:
            r3, w3, _ = rate(mv_verdict, cases, with_think, args.seconds)
            report["math_verify_per_cpu_s"] = {"r1_with_think": round(r3, 1), "wall": round(w3, 1)}
            report["math_verify_agreement"] = agreement(mv_verdict, cases)

    print(f"cases: {len(cases)}, response length {report['chars']}, cpus allowed: {cpus}")
    print(
        f"finr1 match_answer, per CPU second (one core): {r1:,.0f} matches/s on R1 outputs with a think block "
        f"({n1} calls; wall {w1:,.0f}/s), {r2:,.0f} matches/s with no think tags, so the whole 2-4k text is "
        f"graded ({n2} calls; wall {w2:,.0f}/s)"
    )
    if "math_verify_per_cpu_s" in report:
        mv = report["math_verify_per_cpu_s"]
        print(f"math-verify parse+verify, per CPU second: {mv['r1_with_think']:,.1f}/s (wall {mv['wall']:,.1f}/s)")
    for name in ("finr1_agreement", "math_verify_agreement"):
        if name not in report:
            continue
        a = report[name]
        print(
            f"\n{name}: {a['agree'].get('all', 0)}/{a['total']['all']} "
            f"({100 * a['agree'].get('all', 0) / a['total']['all']:.1f}%); on decidable items "
            f"{a['agree'].get('decidable', 0)}/{a['total']['decidable']} "
            f"({100 * a['agree'].get('decidable', 0) / a['total']['decidable']:.1f}%)"
        )
        for src in sorted(k for k in a["total"] if k not in ("all", "decidable")):
            print(f"  {src:<17} {a['agree'].get(src, 0):>3}/{a['total'][src]:<3}")
        if name == "finr1_agreement":
            for miss in a["misses"]:
                print(f"  disagrees: {miss[0]} human={miss[1]} rule={miss[2]}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
