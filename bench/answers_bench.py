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
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from finr1_core.answers import match_answer

try:
    from finr1_core.answers import match_item
except ImportError:  # an older checkout (PYTHONPATH=<it>/packages/core/src): graded through match_answer
    match_item = None  # type: ignore[assignment]

DATA = Path(__file__).parent / "data" / "answers_cases.jsonl"
ANSWERS = Path(__file__).parents[1] / "packages" / "core" / "src" / "finr1_core" / "answers"
#: Answer types math-verify grades (numbers and expressions); letters, labels and yes/no it cannot parse.
MATH_VERIFY_TYPES = ("numeric",)
PAD = " Let me re-read the question and the table once more to be sure I am using the right numbers."


def matcher_commit() -> str:
    """The last commit that changed finr1_core.answers (``-dirty`` when the working tree changes it)."""
    try:
        sha = subprocess.run(
            ["git", "log", "-1", "--format=%h", "--", str(ANSWERS)], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", str(ANSWERS)], capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha + ("-dirty" if dirty.stdout.strip() else "")


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


def verdict(case: dict[str, Any]) -> bool | None:
    """The hand verdict: ``human`` (finr1's own sets) or ``verdict`` (the real-output set)."""
    return case["human"] if "human" in case else case["verdict"]


def ours(case: dict[str, Any], prediction: str | None = None) -> bool | None:
    text = case["prediction"] if prediction is None else prediction
    if match_item is not None:
        return match_item(text, case).correct
    return match_answer(  # an older checkout: the case's fields passed by hand
        text,
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
    """Agreement with the hand verdicts, overall and per source, answer type and batch.

    A case agrees when the grader's verdict equals the hand verdict (true/false; null for items a judge must
    decide). ``decidable`` counts only the cases whose hand verdict is true or false.
    """
    total = collections.Counter()
    agree = collections.Counter()
    decided_total = collections.Counter()
    decided_agree = collections.Counter()
    misses = []
    for case in cases:
        got = fn(case)
        human = verdict(case)
        keys = ["all", f"source {case['source']}", f"type {case['answer_type']}"]
        if "batch" in case:
            keys.append(f"batch {case['batch']}")
        for key in keys:
            total[key] += 1
            agree[key] += got == human
            if human is not None:
                decided_total[key] += 1
                decided_agree[key] += got == human
        if got != human:
            misses.append((case["id"], human, got))
    total["decidable"], agree["decidable"] = decided_total["all"], decided_agree["all"]
    return {
        "total": dict(total),
        "agree": dict(agree),
        "decidable_total": dict(decided_total),
        "decidable_agree": dict(decided_agree),
        "misses": misses,
    }


def print_agreement(name: str, a: dict[str, Any]) -> None:
    def pct(key: str, agree: str = "agree", total: str = "total") -> str:
        n, d = a[agree].get(key, 0), a[total].get(key, 0)
        return f"{n}/{d} ({100 * n / d:.1f}%)" if d else "0/0"

    print(f"\n{name}: {pct('all')}; on cases with a true/false verdict {pct('decidable')}")
    for key in sorted(k for k in a["total"] if k not in ("all", "decidable")):
        print(f"  {key:<24} {pct(key):<18} decided: {pct(key, 'decidable_agree', 'decidable_total')}")


def leniency(data: Path) -> dict[str, Any]:
    """How lenient the grader is on the real FinQA/ConvFinQA golds (``DATA.md``), as the readers pass them.

    For each numeric gold: ``written_over_1pct``, golds whose text as passed grants more than 1% by its own
    precision (half a unit of its last digit, the old rule: "3" for 3.0 tolerated ±0.5); ``accepts_1_05pct``,
    golds for which the grader accepts a precise prediction 1.05% above or below (with the item's question);
    ``accepts_x100_without_cue``, golds that accept ``100 x gold`` written bare when the question asks for no
    percentage or ratio (the ÷100 leniency). Only ``match_answer`` and the format readers are used, so the same
    function measures an older checkout (``PYTHONPATH=<old>/packages/core/src``).
    """
    from finr1_core.formats.convfinqa import load_convfinqa
    from finr1_core.formats.finqa import load_finqa

    pct_q = re.compile(r"percent|%|ratio|rate|proportion|portion|fraction|share|growth|yield|margin|return", re.I)
    sets = {
        "finqa": [r for r in load_finqa(data / "finqa", "test") if r.answer_type == "numeric"],
        "convfinqa": [t for t in load_convfinqa(data / "convfinqa", "dev") if t.answer_type == "numeric"],
    }
    out: dict[str, Any] = {}
    for name, items in sets.items():
        written = accepts = x100 = no_cue = 0
        for it in items:
            text, gold = it.reference, float(it.reference)
            dot = text.find(".")
            half_unit = 0.5 * 10.0 ** -(len(text) - dot - 1 if dot >= 0 else 0)
            written += gold != 0 and half_unit / abs(gold) > 0.01
            near = [f"{gold * f:.10g}" for f in (1.0105, 0.9895)]
            accepts += gold != 0 and any(match_answer(p, text, "numeric", question=it.question).correct for p in near)
            if gold != 0 and not pct_q.search(it.question):
                no_cue += 1
                x100 += bool(
                    match_answer(f"\\boxed{{{gold * 100:.10g}}}", text, "numeric", question=it.question).correct
                )
        out[name] = {
            "numeric_golds": len(items),
            "written_over_1pct": written,
            "accepts_1_05pct": accepts,
            "no_percent_cue": no_cue,
            "accepts_x100_without_cue": x100,
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument(
        "--data", "--cases", dest="data", type=Path, default=DATA, help="Cases JSONL (default: %(default)s)."
    )
    ap.add_argument(
        "--agreement-only", action="store_true", help="Only the agreement with the human verdicts, no timing."
    )
    ap.add_argument("--seconds", type=float, default=3.0, help="Minimum timing per measurement.")
    ap.add_argument("--no-math-verify", action="store_true")
    ap.add_argument("--json", type=Path, help="Also write the numbers here.")
    ap.add_argument(
        "--leniency",
        type=Path,
        metavar="DATA",
        help="Only measure leniency on the real FinQA/ConvFinQA golds under DATA (e.g. /work/shared/data).",
    )
    args = ap.parse_args(argv)

    if args.leniency:
        result = leniency(args.leniency)
        for name, counts in result.items():
            print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        if args.json:
            args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        return 0

    cases = load(args.data)
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    report: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": platform.processor() or platform.machine(),
        "cpus_allowed": cpus,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "cases": len(cases),
        "matcher_commit": matcher_commit(),
    }
    print(f"cases: {len(cases)} ({args.data}); matcher at commit {report['matcher_commit']}")
    report["finr1_agreement"] = agreement(ours, cases)
    print_agreement("finr1 match_item", report["finr1_agreement"])
    for miss in report["finr1_agreement"]["misses"]:
        print(f"  disagrees: {miss[0]} human={miss[1]} rule={miss[2]}")
    mv_cases = [c for c in cases if c["answer_type"] in MATH_VERIFY_TYPES]
    if not args.no_math_verify and mv_cases:
        try:
            import math_verify  # noqa: F401
        except ImportError:
            print("math-verify not installed (pip install 'finr1-core[math]'); skipping it", file=sys.stderr)
        else:
            report["math_verify_agreement"] = agreement(mv_verdict, mv_cases)
            report["finr1_agreement_same_cases"] = agreement(ours, mv_cases)
            print_agreement(f"math-verify on the same {len(mv_cases)} numeric cases", report["math_verify_agreement"])
            print_agreement("finr1 on those cases", report["finr1_agreement_same_cases"])
    if args.agreement_only:
        if args.json:
            args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return 0

    with_think = sized(cases)
    no_think = sized(cases, strip_think=True)
    lengths = [len(p) for p in with_think]
    report["chars"] = {"min": min(lengths), "mean": round(statistics.mean(lengths)), "max": max(lengths)}
    changed = [c["id"] for c, p in zip(cases, with_think, strict=True) if ours(c, p) != ours(c)]
    report["verdicts_changed_by_padding"] = changed  # the padding is timing material, it must not move verdicts
    r1, w1, n1 = rate(ours, cases, with_think, args.seconds)
    r2, w2, n2 = rate(ours, cases, no_think, args.seconds)
    report["finr1_matches_per_cpu_s"] = {"r1_with_think": round(r1), "whole_response_graded": round(r2)}
    report["finr1_matches_per_wall_s"] = {"r1_with_think": round(w1), "whole_response_graded": round(w2)}
    print(f"\nresponse length {report['chars']}, cpus allowed: {cpus}, load average {report['load_average']}")
    if changed:
        print(f"padding changed {len(changed)} verdicts: {', '.join(changed)}")
    print(
        f"finr1 match_item, per CPU second (one core): {r1:,.0f} matches/s on R1 outputs with a think block "
        f"({n1} calls; wall {w1:,.0f}/s), {r2:,.0f} matches/s with no think tags, so the whole 2-4k text is "
        f"graded ({n2} calls; wall {w2:,.0f}/s)"
    )
    if not args.no_math_verify and "math_verify_agreement" in report:
        r3, w3, _ = rate(mv_verdict, cases, with_think, args.seconds)
        report["math_verify_per_cpu_s"] = {"r1_with_think": round(r3, 1), "wall": round(w3, 1)}
        print(f"math-verify parse+verify, per CPU second: {r3:,.1f}/s (wall {w3:,.1f}/s)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
