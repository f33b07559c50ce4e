"""Fixtures for finr1-train tests: a tiny Qwen2 model and a small judged dataset, built once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Hub test server (HF_ENDPOINT etc. set before huggingface_hub/datasets are imported) + hub fixtures, and the shared
# guards: loopback only, finr1's cache (FINR1_CACHE: Hub outputs' resume state) in a temp folder, logging configured
# by main() undone after each test, a test that leaves state behind fails.
from finr1_core.testing.pytest_plugin import *  # noqa: F403

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SYSTEM = (
    "You are a helpful AI Assistant that provides well-reasoned and detailed responses. You first think about "
    "the reasoning process as an internal monologue and then provide the user with the answer. Respond in the "
    "following format: <think>\n...\n</think>\n<answer>\n...\n</answer>"
)


def sft_rows(n: int = 8) -> list[dict]:
    rows = []
    for i in range(n):
        old, new = 100 + 10 * i, 120 + 12 * i
        change = (new - old) / old * 100
        question = f"Revenue went from {old} to {new}. What is the percentage change?"
        trace = (
            f"<think>\nThe change is {new} - {old} = {new - old}. Divided by {old} gives {change / 100:.3f}.\n"
            f"</think>\n<answer>\nThe change is \\boxed{{{change:.1f}\\%}}.\n</answer>"
        )
        rows.append(
            {
                "id": f"toy/{i}",
                "source": "toy",
                "messages": [{"role": "user", "content": question}, {"role": "assistant", "content": trace}],
            }
        )
    return rows


def rl_rows(n: int = 4) -> list[dict]:
    rows = []
    for i in range(n):
        old, new = 200 + 10 * i, 250 + 10 * i
        rows.append(
            {
                "id": f"toy-rl/{i}",
                "source": "toy",
                "prompt": [{"role": "user", "content": f"Net income went from {old} to {new}. What is the change?"}],
                "solution": str(new - old),
                "answer_type": "numeric",
                "choices": None,
                "labels": None,
                "failed_filter": i % 2 == 0,
            }
        )
    return rows


def write_judged(folder: Path, splits: dict[str, list[dict]], schema: bool = True) -> Path:
    """Write a judged dataset the way finr1-judge does (finr1_core.refs; schema features unless ``schema=False``)."""
    import datasets

    from finr1_core.lineage import Lineage
    from finr1_core.refs import save_dataset_ref
    from finr1_core.schemas import RLRow, SFTRow, to_dataset

    classes = {"sft": SFTRow, "rl": RLRow}
    dsdict = datasets.DatasetDict()
    for name, rows in splits.items():
        cls = classes.get(name)
        if cls is not None and schema:
            dsdict[name] = to_dataset(cls, [cls.model_validate(r) for r in rows])
        else:
            dsdict[name] = datasets.Dataset.from_list(rows)
    save_dataset_ref(dsdict, str(folder), Lineage.start("test", "0"))
    return folder


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from finr1_core.testing.tiny import make_tiny_qwen2

    return make_tiny_qwen2(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def judged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_judged(tmp_path_factory.mktemp("judged") / "judge", {"sft": sft_rows(), "rl": rl_rows()})


class Toy:
    """The row builders and writer, for tests (``--import-mode=importlib`` cannot import conftest)."""

    sft_rows = staticmethod(sft_rows)
    rl_rows = staticmethod(rl_rows)
    write_judged = staticmethod(write_judged)


@pytest.fixture(scope="session")
def toy() -> type[Toy]:
    return Toy


@pytest.fixture
def no_model_loading(monkeypatch):
    """Fail loudly if a trainer (and so a model) is built: bad input and missing packages are reported before."""

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the input was checked")

    monkeypatch.setattr("trl.SFTTrainer.__init__", refuse)
    monkeypatch.setattr("trl.GRPOTrainer.__init__", refuse)
    monkeypatch.setattr("transformers.AutoModelForCausalLM.from_pretrained", refuse)
