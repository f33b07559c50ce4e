"""Model and dataset refs for training: thin calls into ``finr1_core.refs`` with training's own checks.

Everything here runs before a model is loaded, so bad input fails in one line: a model path that does not
exist or is not a model folder, a dataset without the split or the columns a command needs.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from finr1_core.errors import ArtifactError, InputError
from finr1_train.config import EMBEDDED_MODEL

logger = logging.getLogger(__name__)

#: Columns each command needs in its split (the rest of SFTRow / RLRow is optional for training).
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "sft": ("messages",),
    "grpo": ("prompt", "solution", "answer_type"),
}


def is_hub_ref(ref: str) -> bool:
    """True for ``hf://`` refs (everything else is a local folder)."""
    return ref.startswith("hf://")


def resolve_model(ref: str) -> tuple[Path, Any]:
    """Return a local folder usable by ``from_pretrained`` and the input record for lineage.

    ``embedded`` is the embedded SmolLM2-135M-Instruct (converted once from its GGUF). A local path must
    be a folder with ``config.json``; an ``hf://`` ref is downloaded by ``finr1_core.refs``.

    Raises:
        ArtifactError: the folder does not exist or holds no model.
    """
    from finr1_core import refs

    if ref == EMBEDDED_MODEL:
        from finr1_core.models import embedded_model_path

        ref = str(embedded_model_path())
    if not is_hub_ref(ref):
        path = Path(ref).expanduser()
        if not path.exists():
            raise ArtifactError(
                f"model {ref}: folder does not exist (give a model folder, hf://ORG/NAME or 'embedded')"
            )
        if not (path / "config.json").is_file():
            raise ArtifactError(f"model {ref}: no config.json in this folder, so it is not a model folder")
    folder, record = refs.resolve_model_ref(ref)
    return Path(folder), record


def load_split(ref: str, split: str, kind: str) -> tuple[Any, Any]:
    """Load one split of a dataset ref and check it has rows and the columns ``kind`` needs.

    Raises:
        ArtifactError: the dataset cannot be read.
        InputError: the split is missing or empty, or a required column is missing.
    """
    from finr1_core import refs

    if not is_hub_ref(ref) and not Path(ref).expanduser().exists():
        raise ArtifactError(f"dataset {ref}: folder does not exist (run finr1-judge first, or pass --dataset)")
    loaded, record = refs.load_dataset_ref(ref)
    if hasattr(loaded, "keys"):
        if split not in loaded:
            available = ", ".join(sorted(loaded.keys())) or "none"
            raise InputError(f"dataset {ref}: no split '{split}' (splits: {available}); pass --split NAME")
        dataset = loaded[split]
    else:
        dataset = loaded
    missing = [c for c in REQUIRED_COLUMNS[kind] if c not in dataset.column_names]
    if missing:
        raise InputError(
            f"dataset {ref} split '{split}': missing column(s) {', '.join(missing)} needed by finr1-train {kind} "
            f"(has: {', '.join(dataset.column_names)})"
        )
    if len(dataset) == 0:
        raise InputError(f"dataset {ref} split '{split}': no rows to train on")
    return dataset, record


def check_output(ref: str) -> None:
    """Fail early when the output could not be written: a malformed ref, or a local folder finr1 did not write."""
    from finr1_core import refs

    if is_hub_ref(ref):
        refs.parse_ref(ref, repo_type="model")  # a malformed ref is a ConfigError now, not after training
        return
    refs.check_output(ref, repo_type="model")  # the one "did finr1 write this?" rule, as the final write applies it
