"""Reports people can read: ``results.md`` (the Fin-R1 README table) and ``results.png`` (a bar chart).

Both are built from the evaluation records of one or more runs (the ``evaluation`` block of an
artifact's ``lineage.json``, local or on the Hub; or a ``results.json`` written by finr1-evaluate 0.1), so
``finr1-evaluate report REF...`` merges several models into one table and chart with the same code
that ``run`` uses for a single model's card. The Average column is recomputed from the per-benchmark scores shown
(RECIPE.md §10: two of the published averages do not add up).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from finr1_core.errors import InputError

logger = logging.getLogger(__name__)

RESULTS_SCHEMA = "finr1-evaluate/results/v1"  # results.json written by finr1-evaluate 0.1 (still read)
EVALUATION_SCHEMA = "finr1-evaluate/evaluation/v1"  # the `evaluation` record in an artifact's lineage.json

# Column order and names of the Fin-R1 README table; other benchmarks follow alphabetically.
HEADLINE_ORDER = ("finqa", "convfinqa", "ant_finance", "tfns", "finance_instruct_500k")
DISPLAY_NAMES = {
    "finqa": "FinQA",
    "convfinqa": "ConvFinQA",
    "ant_finance": "Ant_Finance",
    "tfns": "TFNS",
    "finance_instruct_500k": "Finance-Instruct-500k",
    "fineval": "FinEval",
    "financeiq": "FinanceIQ",
    "financeqt": "FinanceQT",
    "fincorpus": "FinCorpus",
}


def display_name(benchmark: str) -> str:
    """The README's spelling of a benchmark name (``fincuge_finfe`` -> ``FinCUGE finfe``)."""
    if benchmark in DISPLAY_NAMES:
        return DISPLAY_NAMES[benchmark]
    if benchmark.startswith("fincuge_"):
        return "FinCUGE " + benchmark.removeprefix("fincuge_")
    return benchmark


def order_benchmarks(names: Sequence[str]) -> list[str]:
    """Headline benchmarks in README order, then the rest alphabetically."""
    unique = list(dict.fromkeys(names))
    head = [b for b in HEADLINE_ORDER if b in unique]
    return head + sorted(b for b in unique if b not in HEADLINE_ORDER)


def load_results(ref: str | Path) -> dict[str, Any]:
    """The results of one evaluation: an artifact (local folder or ``hf://datasets/ORG/NAME[@REV]``), or a
    ``results.json`` written by finr1-evaluate 0.1 (the file or its folder); errors name the ref and the fix.
    """
    text = str(ref)
    path = Path(text)
    if not text.startswith("hf://"):
        legacy = path / "results.json" if path.is_dir() else path
        if legacy.name == "results.json" and legacy.is_file() and not (legacy.parent / "lineage.json").is_file():
            return _legacy_results(legacy)
        if not path.exists():
            raise InputError(f"{path}: no such evaluation (give the --output of a finr1-evaluate run)")
    from finr1_evaluate.artifact import read_evaluation

    found = read_evaluation(text)
    if found is None:
        raise InputError(f"{text}: no complete evaluation here (no lineage.json: the run did not finish)")
    lineage, record = found
    data = dict(lineage.evaluation)
    data.setdefault("label", data.get("model") or path.name)
    data["source"] = {"ref": record.ref, "revision": record.revision_sha}
    return data


def _legacy_results(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict) or data.get("schema") != RESULTS_SCHEMA or "benchmarks" not in data:
        raise InputError(f"{path}: not a finr1-evaluate results file (expected schema {RESULTS_SCHEMA!r})")
    data.setdefault("label", data.get("model") or path.parent.name)
    return data


def unique_labels(results: Sequence[Mapping[str, Any]]) -> list[str]:
    """Row labels: the model name, made unique by appending the prompt variant or a counter."""
    labels = [str(r.get("label") or r.get("model") or "model") for r in results]
    counts = {label: labels.count(label) for label in labels}
    out: list[str] = []
    for label, r in zip(labels, results, strict=True):
        candidate = label
        if counts[label] > 1:
            candidate = f"{label} ({r.get('prompt_variant', '?')})"
        n = 2
        base = candidate
        while candidate in out:
            candidate = f"{base} #{n}"
            n += 1
        out.append(candidate)
    return out


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _average(scores: Sequence[float | None]) -> float | None:
    present = [s for s in scores if s is not None]
    if not present or len(present) != len(scores):
        return None
    return round(sum(present) / len(present), 1)


def summary_rows(results: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[str], list[list[float | None]]]:
    """Return (benchmarks in column order, row labels, scores[row][column] with None when absent)."""
    benchmarks = order_benchmarks([b for r in results for b in r["benchmarks"]])
    labels = unique_labels(results)
    table = [[(r["benchmarks"].get(b) or {}).get("accuracy") for b in benchmarks] for r in results]
    return benchmarks, labels, table


def common_columns(table: Sequence[Sequence[float | None]]) -> list[int]:
    """Indices of the columns every row has a score for: the Average uses only these, so rows compare."""
    if not table:
        return []
    return [j for j in range(len(table[0])) if all(row[j] is not None for row in table)]


def row_averages(table: Sequence[Sequence[float | None]]) -> list[float | None]:
    """Each row's mean over the common columns, to one decimal (None when there is no common column)."""
    cols = common_columns(table)
    return [_average([row[j] for j in cols]) if cols else None for row in table]


def render_markdown(
    results: Sequence[Mapping[str, Any]], title: str = "finr1-evaluate results", *, heading: bool = True
) -> str:
    """The Fin-R1 README layout (model rows, benchmark columns, Average) plus a details table.

    ``heading=False`` leaves out the ``# title`` line (an artifact card has its own).
    """
    benchmarks, labels, table = summary_rows(results)
    lines = [f"# {title}", ""] if heading else []
    header = ["Model", *[display_name(b) for b in benchmarks], "Average"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    averages = row_averages(table)
    for label, scores, average in zip(labels, table, averages, strict=True):
        lines.append("| " + " | ".join([label, *[_fmt(s) for s in scores], _fmt(average)]) + " |")
    cols = common_columns(table)
    over = ", ".join(display_name(benchmarks[j]) for j in cols) or "no benchmark shared by every row"
    lines += [
        "",
        "Scores are % correct (0–100, one decimal) on the sampled items (— = not evaluated). Average is recomputed "
        f"as the plain mean over the benchmarks every row has: {over}.",
        "",
        "## Details",
        "",
        "| Model | Benchmark | Items | Scored | Accuracy | 95% CI (Wilson) | Rule only | Rule+judge | Judge calls "
        "| Judge failed | Rule undecided | Extraction failures | Generation errors | Scoring |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, r in zip(labels, results, strict=True):
        for b in benchmarks:
            entry = r["benchmarks"].get(b)
            if not entry:
                continue
            ci = entry.get("ci95")
            rule_judge = entry.get("rule_judge") or {}
            judge = entry.get("judge") or {}
            lines.append(
                "| "
                + " | ".join(
                    [
                        label,
                        display_name(b),
                        str(entry.get("n", "")),
                        str(entry.get("n_scored", "")),
                        _fmt(entry.get("accuracy")),
                        f"{ci[0]:.1f}–{ci[1]:.1f}" if ci else "—",
                        _fmt((entry.get("rule_only") or {}).get("accuracy")),
                        _fmt(rule_judge.get("accuracy")),
                        str(judge.get("calls", 0)),
                        str(entry.get("judge_failures", 0)),
                        str(entry.get("rule_undecided", 0)),
                        str(entry.get("extraction_failures", 0)),
                        str(entry.get("generation_errors", 0)),
                        str(entry.get("scoring", "")),
                    ]
                )
                + " |"
            )
    lines += ["", "## Runs", ""]
    for label, r in zip(labels, results, strict=True):
        sampling = r.get("sampling") or {}
        judge = r.get("judge")
        judge_text = f"{judge.get('model')} (temperature {judge.get('temperature')})" if judge else "none (rules only)"
        params = ", ".join(f"{k} {v}" for k, v in sampling.items() if v not in ({}, None))
        versions = ", ".join(f"{k} {v}" for k, v in (r.get("versions") or {}).items())
        served = r.get("served_model") or {}
        weights = f" (weights `{served['ref']}` at `{served.get('revision')}`)" if served.get("ref") else ""
        lines.append(
            f"- **{label}**: model `{r.get('model')}`{weights}, {params}; prompt variant {r.get('prompt_variant')}; "
            f"system prompt {'set' if r.get('system_prompt') else 'none'}; seed {r.get('seed')}; judge {judge_text}; "
            f"{versions}."
        )
    lines.append("")
    return "\n".join(lines)


def _n_text(results: Sequence[Mapping[str, Any]], benchmark: str) -> str:
    ns = sorted({(r["benchmarks"].get(benchmark) or {}).get("n_scored") for r in results} - {None})
    if not ns:
        return ""
    return f"n={ns[0]}" if len(ns) == 1 else f"n={ns[0]}–{ns[-1]}"


def render_chart(results: Sequence[Mapping[str, Any]], path: str | Path, title: str = "finr1-evaluate") -> Path:
    """Grouped bars: one group per benchmark (plus Average), one bar per model, value labels and 95% CI whiskers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    benchmarks, labels, table = summary_rows(results)
    groups = [f"{display_name(b)}\n{_n_text(results, b)}" for b in benchmarks]
    averages = row_averages(table)
    show_average = len(benchmarks) > 1 and any(a is not None for a in averages)
    if show_average:
        groups.append("Average")
    n_models = len(labels)
    width = 0.8 / max(n_models, 1)
    fig_w = max(6.0, 1.2 + len(groups) * (0.55 + 0.45 * n_models))
    fig, ax = plt.subplots(figsize=(min(fig_w, 22.0), 5.2), dpi=130)
    colors = plt.get_cmap("tab10").colors
    label_size = 9 if n_models <= 3 else 8 if n_models <= 5 else 7
    for m, (label, scores, r, average) in enumerate(zip(labels, table, results, averages, strict=True)):
        values = list(scores)
        lows, highs = [], []
        for b, s in zip(benchmarks, scores, strict=True):
            ci = (r["benchmarks"].get(b) or {}).get("ci95")
            lows.append(max(0.0, s - ci[0]) if (s is not None and ci) else 0.0)
            highs.append(max(0.0, ci[1] - s) if (s is not None and ci) else 0.0)
        if show_average:
            values.append(average)
            lows.append(0.0)
            highs.append(0.0)
        xs = [g + (m - (n_models - 1) / 2) * width for g in range(len(groups))]
        heights = [v if v is not None else 0.0 for v in values]
        bars = ax.bar(xs, heights, width * 0.92, label=label, color=colors[m % len(colors)], zorder=2)
        whiskers = [i for i in range(len(xs)) if lows[i] or highs[i]]  # no whisker on the Average
        if whiskers:
            ax.errorbar(
                [xs[i] for i in whiskers],
                [heights[i] for i in whiskers],
                yerr=[[lows[i] for i in whiskers], [highs[i] for i in whiskers]],
                fmt="none",
                ecolor="#333333",
                elinewidth=1,
                capsize=3,
                zorder=3,
            )
        for bar, value, high in zip(bars, values, highs, strict=True):
            text = "n/a" if value is None else f"{value:.1f}"
            ax.annotate(
                text,
                (bar.get_x() + bar.get_width() / 2, (value or 0.0) + high),
                xytext=(0, 3),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=label_size,
                rotation=90 if n_models > 5 else 0,
            )
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, fontsize=10)
    ax.set_ylabel("Accuracy (%)")
    ax.set_ylim(0, 118 if n_models > 5 else 110)
    ax.set_yticks(range(0, 101, 20))
    ax.yaxis.grid(True, color="#dddddd", zorder=0)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if show_average:
        ax.axvline(len(groups) - 1.5, color="#999999", linestyle=":", linewidth=1)
    ax.set_title(f"{title} — accuracy with 95% Wilson intervals", fontsize=11)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=min(n_models, 4), frameon=False, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def write_reports(results: Sequence[Mapping[str, Any]], output: str | Path, title: str | None = None) -> list[Path]:
    """Write ``results.md`` and ``results.png`` into ``output``; returns the paths written."""
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    md = output / "results.md"
    md.write_text(render_markdown(results, title or "finr1-evaluate results"), encoding="utf-8")
    png = render_chart(results, output / "results.png", title or "finr1-evaluate")
    return [md, png]


def merge_results(paths: Sequence[str | Path]) -> list[dict[str, Any]]:
    """Load several runs' results (artifacts, or 0.1 ``results.json`` files) for one report, in the order given."""
    if not paths:
        raise InputError("report: give at least one results folder (finr1-evaluate report DIR...)")
    return [load_results(p) for p in paths]
