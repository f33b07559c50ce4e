"""``metrics.json`` and ``training_curves.png`` from a Trainer's log history (matplotlib, Agg backend)."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
CURVES_FILE = "training_curves.png"

# Series shown when present, in panel order: (title, [log keys or key prefixes ending in '/'], y label).
_PANELS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("Loss", ("loss",), "loss"),
    ("Mean reward per reward function", ("reward", "rewards/"), "reward"),
    ("Completion length", ("completions/mean_length", "completions/max_length"), "tokens"),
    ("Token accuracy (SFT)", ("mean_token_accuracy",), "accuracy"),
    ("Learning rate", ("learning_rate",), "lr"),
    ("Gradient norm", ("grad_norm",), "norm"),
)


def _series(history: Sequence[Mapping[str, Any]], key: str) -> tuple[list[float], list[float]]:
    steps, values = [], []
    for entry in history:
        value = entry.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and "step" in entry:
            steps.append(float(entry["step"]))
            values.append(float(value))
    return steps, values


def _keys_for(history: Sequence[Mapping[str, Any]], patterns: Sequence[str]) -> list[str]:
    present: list[str] = []
    for pattern in patterns:
        for entry in history:
            for key in entry:
                hit = key.startswith(pattern) and key.endswith("/mean") if pattern.endswith("/") else key == pattern
                if hit and key not in present:
                    present.append(key)
    return present


def summarize(history: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """First and last logged value of every numeric training series (the final summary entry excluded)."""
    steps = [e for e in history if "train_runtime" not in e]
    summary: dict[str, Any] = {}
    keys = sorted({k for e in steps for k in e if k not in ("step", "epoch")})
    for key in keys:
        _, values = _series(steps, key)
        if values:
            summary[key] = {"first": values[0], "last": values[-1], "mean": sum(values) / len(values)}
    return summary


def write_metrics(folder: Path, history: Sequence[Mapping[str, Any]], extra: Mapping[str, Any]) -> Path:
    """Write ``metrics.json``: the log history, a first/last summary, the run totals and ``extra``."""
    final = next((e for e in reversed(history) if "train_runtime" in e), {})
    payload = {**extra, "final": final, "summary": summarize(history), "log_history": list(history)}
    path = folder / METRICS_FILE
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def plot_curves(folder: Path, history: Sequence[Mapping[str, Any]], title: str) -> Path | None:
    """Draw the present series into ``training_curves.png``; ``None`` when nothing numeric was logged."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    entries = [e for e in history if "train_runtime" not in e]
    panels = [(name, _keys_for(entries, patterns), ylabel) for name, patterns, ylabel in _PANELS]
    panels = [(name, keys, ylabel) for name, keys, ylabel in panels if any(_series(entries, k)[1] for k in keys)]
    if not panels:
        logger.warning("no numeric training logs to plot (set logging_steps lower than max_steps)")
        return None
    cols = 2 if len(panels) > 1 else 1
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 3.4 * rows), squeeze=False)
    for ax, (name, keys, ylabel) in zip(axes.flat, panels, strict=False):
        for key in keys:
            x, y = _series(entries, key)
            if y:
                label = "total (weighted)" if key == "reward" else key.removeprefix("rewards/").removesuffix("/mean")
                ax.plot(x, y, marker="o" if len(y) < 30 else None, markersize=3, label=label)
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if len(keys) > 1:
            ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    path = folder / CURVES_FILE
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
