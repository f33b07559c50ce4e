"""`finr1-evaluate report`: merging several runs into one README-style table and one chart."""

from __future__ import annotations

import json
from pathlib import Path

from finr1_evaluate.report import RESULTS_SCHEMA, render_markdown, summary_rows
from finr1_evaluate.scoring import score_block

PAPER = {  # RECIPE.md §10 rows, used here only as realistic numbers
    "Fin-R1": {"finqa": 76.0, "convfinqa": 85.0, "ant_finance": 81.0, "tfns": 71.0, "finance_instruct_500k": 62.9},
    "Qwen2.5-7B-Instruct": {
        "finqa": 60.0,
        "convfinqa": 66.0,
        "ant_finance": 85.0,
        "tfns": 68.0,
        "finance_instruct_500k": 49.0,
    },
}


def _results(model: str, scores: dict[str, float], n: int = 1000) -> dict:
    benchmarks = {}
    for name, acc in scores.items():
        block = score_block(round(acc * n / 100), n)
        benchmarks[name] = {
            "n": n,
            "n_scored": n,
            "accuracy": block["accuracy"],
            "ci95": block["ci95"],
            "rule_only": block,
            "rule_judge": None,
            "judge": {"calls": 0},
            "judge_failures": 0,
            "extraction_failures": 0,
            "generation_errors": 0,
            "scoring": "rule",
            "sampled_ids": [str(i) for i in range(n)],
        }
    return {
        "schema": RESULTS_SCHEMA,
        "model": model,
        "label": model,
        "benchmarks": benchmarks,
        "sampling": {"temperature": 0.6, "top_p": 0.95, "max_tokens": 4096, "n": 1},
        "seed": 42,
        "prompt_variant": "faithful",
        "judge": None,
        "versions": {"finr1-evaluate": "0.1.0"},
    }


def _write(tmp_path: Path, name: str, results: dict) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps(results), encoding="utf-8")
    return folder


def test_report_merges_models_into_one_table_and_chart(tmp_path, ev, capsys):
    a = _write(tmp_path, "fin-r1", _results("Fin-R1", PAPER["Fin-R1"]))
    b = _write(tmp_path, "qwen", _results("Qwen2.5-7B-Instruct", PAPER["Qwen2.5-7B-Instruct"]))
    out = tmp_path / "merged"
    assert ev.run_cli(["report", str(a), str(b), "--output", str(out)]) == 0
    md = (out / "results.md").read_text(encoding="utf-8")
    assert "| Model | FinQA | ConvFinQA | Ant_Finance | TFNS | Finance-Instruct-500k | Average |" in md
    # Averages are recomputed: 75.2 and 65.6 as in the paper (RECIPE.md §10).
    assert "| Fin-R1 | 76.0 | 85.0 | 81.0 | 71.0 | 62.9 | 75.2 |" in md
    assert "| Qwen2.5-7B-Instruct | 60.0 | 66.0 | 85.0 | 68.0 | 49.0 | 65.6 |" in md
    png = (out / "results.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert "| Fin-R1 |" in capsys.readouterr().out  # the table is printed too


def test_report_recomputes_average_and_marks_missing(tmp_path):
    # Fin-R1-SFT's published 71.9 needs FI-500k = 61.4; with the README's 61.0 the mean is 71.8.
    sft = _results(
        "Fin-R1-SFT",
        {"finqa": 73.0, "convfinqa": 81.0, "ant_finance": 76.0, "tfns": 68.0, "finance_instruct_500k": 61.0},
    )
    assert "| Fin-R1-SFT | 73.0 | 81.0 | 76.0 | 68.0 | 61.0 | 71.8 |" in render_markdown([sft])
    # Rows with different benchmark sets: the Average uses the benchmarks every row has (here FinQA only).
    partial = _results("partial", {"finqa": 50.0, "fineval": 40.0})
    md = render_markdown([sft, partial])
    assert "| Fin-R1-SFT | 73.0 | 81.0 | 76.0 | 68.0 | 61.0 | — | 73.0 |" in md
    assert "| partial | 50.0 | — | — | — | — | 40.0 | 50.0 |" in md
    assert "every row has: FinQA." in md
    benchmarks, labels, _ = summary_rows([sft, partial])
    assert benchmarks[-1] == "fineval" and labels == ["Fin-R1-SFT", "partial"]


def test_report_same_model_twice_gets_distinct_rows(tmp_path):
    one, two = _results("m", {"tfns": 50.0}), _results("m", {"tfns": 60.0})
    two["prompt_variant"] = "clean"
    _, labels, _ = summary_rows([one, two])
    assert labels == ["m (faithful)", "m (clean)"]


def test_report_bad_input_is_one_line(tmp_path, ev, capsys):
    assert ev.run_cli(["report", str(tmp_path / "absent")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "no such evaluation" in err and "\n" not in err
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "results.json").write_text("{not json", encoding="utf-8")
    assert ev.run_cli(["report", str(tmp_path / "junk")]) == 1
    assert "not valid JSON" in capsys.readouterr().err


def test_report_of_two_real_runs(ev, tmp_path):
    from finr1_core.testing.fake_openai import FakeOpenAIServer
    from finr1_evaluate.benchmarks import get_benchmark

    items = {b: get_benchmark(b).load(samples=True) for b in ("finqa", "tfns", "ant_finance")}
    flat = [it for group in items.values() for it in group]
    runs = {}
    for name, answer in (("good-model", ev.gold_answer), ("bad-model", ev.wrong_answer)):
        with FakeOpenAIServer(ev.ScriptedModel(flat, answer), model=name) as server:
            out = tmp_path / name
            rc = ev.run_cli(
                [
                    "run",
                    "--base-url",
                    server.base_url,
                    "--model",
                    name,
                    "--output",
                    str(out),
                    "--benchmark",
                    "finqa,tfns,ant_finance",
                    "--samples",
                    "--label",
                    name.replace("-", " ").title(),
                ]
            )
            assert rc == 0
        runs[name] = out
    merged = tmp_path / "merged"
    assert ev.run_cli(["report", str(runs["good-model"]), str(runs["bad-model"]), "--output", str(merged)]) == 0
    md = (merged / "results.md").read_text(encoding="utf-8")
    assert "| Model | FinQA | Ant_Finance | TFNS | Average |" in md
    assert "| Good Model | 100.0 | 100.0 | 100.0 | 100.0 |" in md
    assert "| Bad Model | 0.0 | 0.0 | 0.0 | 0.0 |" in md
    assert "model `good-model`" in md
    assert (merged / "results.png").stat().st_size > 10_000
