"""Which checkpoint folders count as complete (finr1's marker, or whole files for checkpoints without one)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finr1_train.checkpoints import MARKER, inspect_checkpoint, mark_complete, scan
from finr1_train.config import load_recipe
from finr1_train.train import run

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
SFT_CPU = str(RECIPES / "smollm2-135m/sft/cpu.yaml")


def _checkpoint(root: Path, step: int, *, optimizer: bool = True) -> Path:
    """A checkpoint laid out as transformers' Trainer writes one (single process), without a marker."""
    import torch
    from safetensors.torch import save_file

    folder = root / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    save_file({"w": torch.zeros(64, 64)}, str(folder / "model.safetensors"))
    if optimizer:
        torch.save({"state": {}, "param_groups": []}, folder / "optimizer.pt")
    torch.save({}, folder / "scheduler.pt")
    torch.save({"python": None}, folder / "rng_state.pth")
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": step, "log_history": []}))
    return folder


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_a_checkpoint_without_marker_is_judged_by_its_files(tmp_path):
    folder = _checkpoint(tmp_path, 3)
    assert inspect_checkpoint(folder).complete
    _truncate(folder / "optimizer.pt")
    assert inspect_checkpoint(folder).reason == "optimizer.pt is truncated"
    folder = _checkpoint(tmp_path, 4)
    _truncate(folder / "model.safetensors")
    assert inspect_checkpoint(folder).reason == "model.safetensors is truncated"
    folder = _checkpoint(tmp_path, 5)
    (folder / "trainer_state.json").write_text('{"global_step": 5, "log_hi')  # killed mid-write
    assert inspect_checkpoint(folder).reason == "trainer_state.json is unreadable"
    folder = _checkpoint(tmp_path, 6)
    (folder / "model.safetensors").unlink()
    assert inspect_checkpoint(folder).reason == "no model weights"  # transformers: "Can't find a valid checkpoint"
    folder = _checkpoint(tmp_path, 7)
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}})
    )
    (folder / "model.safetensors").rename(folder / "model-00001-of-00002.safetensors")
    assert inspect_checkpoint(folder).reason == "weight shard model-00002-of-00002.safetensors is missing"


def test_the_marker_is_authoritative(tmp_path):
    folder = _checkpoint(tmp_path, 2)
    mark_complete(folder, 2)
    marker = json.loads((folder / MARKER).read_text())
    assert marker["step"] == 2 and "model.safetensors" in marker["files"] and MARKER not in marker["files"]
    assert inspect_checkpoint(folder).complete
    (folder / "rng_state.pth").unlink()
    assert inspect_checkpoint(folder).reason == "rng_state.pth is missing"
    folder = _checkpoint(tmp_path, 3)
    mark_complete(folder, 3)
    with (folder / "model.safetensors").open("ab") as handle:
        handle.write(b"x")
    assert "model.safetensors has" in inspect_checkpoint(folder).reason


def test_scan_keeps_the_newest_complete_and_removes_the_rest(tmp_path):
    _checkpoint(tmp_path, 2)
    _truncate(_checkpoint(tmp_path, 10) / "model.safetensors")  # newest by number, and broken
    (tmp_path / ".push-checkpoint-2-abc").mkdir()
    (tmp_path / "tmp-checkpoint-12").mkdir()
    assert scan(tmp_path, clean=False).latest == tmp_path / "checkpoint-2"
    assert (tmp_path / "checkpoint-10").exists()  # clean=False (other processes) deletes nothing
    found = scan(tmp_path, clean=True)
    assert found.latest == tmp_path / "checkpoint-2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-2"]
    assert [r.split(" ")[0] for r in found.removed] == ["checkpoint-10", "tmp-checkpoint-12", ".push-checkpoint-2-abc"]


class _Crash(Exception):
    pass


def test_training_marks_every_checkpoint_and_still_rotates(tiny_model, judged, tmp_path, monkeypatch):
    from transformers import TrainerCallback

    class CrashAt4(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 4:
                raise _Crash()

    out = tmp_path / "sft"
    recipe = load_recipe(
        "sft",
        SFT_CPU,
        {"model": str(tiny_model), "dataset": str(judged), "output": str(out)},
        ["--max_steps", "6", "--save_steps", "1", "--save_total_limit", "2", "--bf16", "false"],
    )
    monkeypatch.setattr("finr1_train.train._callbacks", lambda recipe: [CrashAt4()])
    with pytest.raises(_Crash):
        run(recipe)
    checkpoints = out / ".finr1-work" / "checkpoints"
    assert sorted(p.name for p in checkpoints.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-3"]
    assert all((checkpoints / name / MARKER).is_file() for name in ("checkpoint-2", "checkpoint-3"))
