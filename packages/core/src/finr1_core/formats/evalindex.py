"""Build an :class:`~finr1_core.formats.decontam.EvalIndex` from folders laid out like ``../shared/data``.

A root holds one folder per evaluation set (``finqa/``, ``convfinqa/``, ``tfns/``, ``ant_finance/``,
``fineval/``, ``financeiq/``, ``fincuge/``, ``finance_instruct_500k/``); missing folders are skipped. The
evaluate package ships its small samples in the same layout, so the same builder indexes them.

What is indexed: FinQA test questions and report pages; ConvFinQA dev/test report pages and each
conversation's questions joined (single turns such as "and what was it in 2005?" are too generic to match on
their own); TFNS validation tweets; every Ant_Finance row (labelled and hidden); FinEval dev and val;
FinanceIQ dev and test; FinCUGE evaluation texts; the held-out 10% of any Finance-Instruct-500k file.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from finr1_core.formats.convfinqa import SPLIT_FILES as CONVFINQA_FILES
from finr1_core.formats.convfinqa import read_convfinqa
from finr1_core.formats.decontam import EvalIndex
from finr1_core.formats.exams import read_ant_finance, read_financeiq, read_fineval, read_tfns
from finr1_core.formats.fincuge import fincuge_tasks_in, read_fincuge
from finr1_core.formats.finqa import SPLIT_FILES as FINQA_FILES
from finr1_core.formats.finqa import read_finqa
from finr1_core.formats.instruct import read_fi500k

logger = logging.getLogger(__name__)


def _index_root(index: EvalIndex, root: Path) -> None:
    folder = root / "finqa"
    for name in FINQA_FILES["test"]:
        if (folder / name).is_file():
            for rec in read_finqa(folder / name):
                index.add(rec.question, source="finqa", page=rec.page)
    folder = root / "convfinqa"
    dialogues: dict[str, tuple[list[str], str]] = {}
    for name in (*CONVFINQA_FILES["dev"], *CONVFINQA_FILES["test"]):
        if (folder / name).is_file():
            for turn in read_convfinqa(folder / name):
                if len(turn.questions) > len(dialogues.get(turn.conv_id, ([], ""))[0]):
                    dialogues[turn.conv_id] = (turn.questions, turn.page)
    for questions, page in dialogues.values():
        index.add(" ".join(questions), source="convfinqa", page=page)
    if (root / "tfns" / "sent_valid.csv").is_file():
        for item in read_tfns(root / "tfns" / "sent_valid.csv"):
            index.add(item.question, source="tfns")
    if (root / "ant_finance").is_dir():
        for item in read_ant_finance(root / "ant_finance", labelled=None):
            index.add(item.question, source="ant_finance")
    if (root / "fineval").is_dir():
        for split in ("dev", "val"):
            if any((root / "fineval").rglob(f"{split}/*_{split}.csv")):  # a copy may hold only one split
                for item in read_fineval(root / "fineval", split):
                    index.add(item.question, source="fineval")
    for split in ("dev", "test"):
        folder = root / "financeiq" / split
        if folder.is_dir() and any(folder.glob("*.csv")):
            for item in read_financeiq(root / "financeiq", split):
                index.add(item.question, source="financeiq")
    folder = root / "fincuge"
    if folder.is_dir() and fincuge_tasks_in(folder, "eval"):
        for item in read_fincuge(folder, "eval"):
            index.add(item.question, source=f"fincuge/{item.meta['task']}")
    folder = root / "finance_instruct_500k"
    if folder.is_dir():
        for file in sorted(p for p in folder.iterdir() if p.suffix in (".jsonl", ".json", ".parquet", ".csv")):
            held_out_file = "test" in file.stem
            for item in read_fi500k(file):
                if held_out_file or item.meta["split"] == "test":
                    index.add(item.question, source="finance_instruct_500k")


def build_eval_index(roots: Iterable[Path | str], *, n: int = 8, threshold: float = 0.5) -> EvalIndex:
    """Index every evaluation set found under the given roots (each laid out like ``../shared/data``)."""
    index = EvalIndex(n=n, threshold=threshold)
    for root in roots:
        root = Path(root)
        if not root.is_dir():
            logger.warning("evaluation data root %s not found; skipped", root)
            continue
        _index_root(index, root)
    logger.info("evaluation index: %s", ", ".join(f"{k} {v}" for k, v in sorted(index.counts.items())) or "empty")
    return index
