"""metrics.json and training_curves.png from a hand-written log history."""

from __future__ import annotations

import json

from finr1_train.curves import plot_curves, summarize, write_metrics

HISTORY = [
    {
        "step": 1,
        "loss": 0.0,
        "reward": 0.5,
        "rewards/format_reward/mean": 0.25,
        "rewards/accuracy_reward/mean": 0.25,
        "completions/mean_length": 120.0,
        "learning_rate": 1e-6,
    },
    {
        "step": 2,
        "loss": 0.01,
        "reward": 1.0,
        "rewards/format_reward/mean": 0.75,
        "rewards/accuracy_reward/mean": 0.25,
        "completions/mean_length": 100.0,
        "learning_rate": 1e-6,
        "grad_norm": float("nan"),
    },
    {"step": 2, "train_runtime": 3.0, "train_loss": 0.005},
]


def test_summary_first_last_mean_without_the_final_entry():
    summary = summarize(HISTORY)
    assert summary["rewards/format_reward/mean"] == {"first": 0.25, "last": 0.75, "mean": 0.5}
    assert "train_runtime" not in summary and "grad_norm" not in summary  # NaN-only series are left out


def test_metrics_json_and_png(tmp_path):
    path = write_metrics(tmp_path, HISTORY, {"command": "grpo"})
    data = json.loads(path.read_text())
    assert data["command"] == "grpo" and data["final"]["train_loss"] == 0.005 and len(data["log_history"]) == 3
    png = plot_curves(tmp_path, HISTORY, "test")
    assert png is not None and png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 10_000


def test_no_numeric_logs_no_png(tmp_path):
    assert plot_curves(tmp_path, [{"step": 1, "train_runtime": 1.0}], "test") is None
