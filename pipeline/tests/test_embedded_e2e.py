"""The embedded pipeline end to end on CPU (what `nox -s pipeline` runs), then a re-run that skips every stage.

This is the CI guard that the whole chain never silently breaks: distill → judge → evaluate (base) → SFT →
GRPO → evaluate (student) → report → ask, with real servers (`finr1-serve up` → `transformers serve`) and the
embedded SmolLM2-135M-Instruct. It takes 12-15 minutes on 2 cores, so it is marked slow; CI runs it once.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("finr1-serve", path=str(Path(sys.executable).parent)) is None
        and shutil.which("finr1-serve") is None,
        reason="the tools are not installed",
    ),
]


def _pipeline(artifacts: Path) -> subprocess.CompletedProcess[str]:
    exe = str(Path(sys.executable).with_name("finr1-pipeline"))
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false")
    return subprocess.run(
        [exe, "run", "--config", "configs/pipeline/embedded.yaml", "--artifacts", str(artifacts)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        timeout=2400,
    )


@pytest.mark.timeout(3000)
def test_embedded_pipeline_end_to_end_then_skips_complete_stages(tmp_path):
    artifacts = tmp_path / "artifacts"
    first = _pipeline(artifacts)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-6000:]

    timings = json.loads((artifacts / "report" / "pipeline_timings.json").read_text())
    ran = {row["step"]: row["status"] for row in timings["steps"]}
    assert ran == dict.fromkeys(
        ["distill", "judge", "evaluate-base", "sft", "grpo", "evaluate-student", "report", "ask"], "ran"
    )

    from finr1_core.refs import load_dataset_ref, read_lineage

    for stage in ("distill", "judge"):
        lineage = read_lineage(artifacts / stage)
        assert lineage is not None and lineage.tool == f"finr1-{stage}"
    judged, source = load_dataset_ref(artifacts / "judge")
    assert source.revision_sha
    for split in ("sft", "rl", "rejected"):
        assert judged[split].num_rows > 0, f"judge split {split} is empty"
    for model in ("sft", "grpo"):
        assert read_lineage(artifacts / model) is not None
        assert (artifacts / model / "training_curves.png").is_file()
    report = artifacts / "report"
    for name in ("results.md", "results.png", "sft_training_curves.png", "grpo_training_curves.png"):
        assert (report / name).is_file(), name
    table = (report / "results.md").read_text(encoding="utf-8")
    assert "SmolLM2-135M-Instruct (base)" in table and "finr1 student" in table
    assert "--- answer ---" in first.stdout + first.stderr  # the final `ask` printed its answer

    second = _pipeline(artifacts)
    assert second.returncode == 0, second.stderr[-4000:]
    timings = json.loads((artifacts / "report" / "pipeline_timings.json").read_text())
    ran = {row["step"]: row["status"] for row in timings["steps"]}
    for step in ("distill", "judge", "evaluate-base", "sft", "grpo", "evaluate-student"):
        assert ran[step] == "skipped", (step, ran)
