"""The ten Fin-R1 sources (RECIPE.md §1) and ``jsonl`` for a user's own items."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar

from finr1_core.errors import InputError
from finr1_core.formats import prompts
from finr1_core.formats._io import iter_jsonl, read_json_list
from finr1_core.formats.convfinqa import SPLIT_FILES as CONVFINQA_FILES
from finr1_core.formats.convfinqa import load_convfinqa
from finr1_core.formats.exams import TFNS_SPLIT_FILES, load_tfns, read_ant_finance, read_financeiq, tfns_items
from finr1_core.formats.fincuge import TASKS as FINCUGE_TASKS
from finr1_core.formats.fincuge import fincuge_tasks_in, get_task
from finr1_core.formats.finqa import SPLIT_FILES as FINQA_FILES
from finr1_core.formats.finqa import load_finqa
from finr1_core.formats.hub import folder_holding, hub_rows, hub_snapshot
from finr1_core.formats.instruct import (
    fi500k_item,
    financeqt_item,
    read_fi500k,
    read_financeqt,
    read_fincorpus,
    read_finpee,
)
from finr1_core.formats.records import ConvTurn, FinQARecord, Item
from finr1_core.schemas import ANSWER_TYPES, CATEGORIES, SourceItem
from finr1_distill.sources.base import SourceAdapter, guess_language

logger = logging.getLogger(__name__)
_TABLE_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv", ".ndjson")


def _table_files(path: Path, split: str) -> list[Path]:
    """Data files of ``split`` under a folder: ``<split>.*``, ``data/<split>-*``, or every table file."""
    if path.is_file():
        return [path]
    found = sorted(
        p
        for p in path.rglob("*")
        if p.is_file() and p.name.lower().endswith(_TABLE_SUFFIXES) and not p.name.startswith(".")
    )
    named = [p for p in found if p.name.split(".")[0].split("-")[0] == split]
    chosen = named or found
    if not chosen:
        raise InputError(f"{path}: no data files (expected .jsonl, .json, .parquet or .csv)")
    return chosen


class FinQASource(SourceAdapter):
    name = "finqa"
    category = "reasoning_business_knowledge"
    language = "en"
    answer_type = "numeric|boolean"
    hub_id = "TableQAKit/FinQA_retrieval"
    description = "FinQA (czyssrs/FinQA): table + text numerical reasoning over S&P 500 reports"
    splits = ("train", "dev", "test")
    eval_splits = ("test",)

    def item(self, rec: FinQARecord) -> SourceItem:
        return self.make(
            rec.id,
            prompts.finqa_distill(rec),
            rec.reference,
            rec.answer_type,
            meta={"question": rec.question, "page": rec.page, "program": rec.program, "source_file": rec.source_file},
        )

    def read_local(self, path: Path, split: str) -> Iterator[SourceItem]:
        return (self.item(rec) for rec in load_finqa(path, split))

    def read_hub(self, repo_id: str, split: str) -> Iterator[SourceItem]:
        folder = hub_snapshot(repo_id, [f"{p}{n}" for n in FINQA_FILES[split] for p in ("", "*/")])
        return self.read_local(folder_holding(folder, FINQA_FILES[split]), split)


class ConvFinQASource(SourceAdapter):
    name = "convfinqa"
    category = "reasoning_business_knowledge"
    language = "en"
    answer_type = "numeric|boolean"
    hub_id = "AdaptLLM/ConvFinQA"
    description = "ConvFinQA (czyssrs/ConvFinQA): one item per turn, with the dialogue so far"
    splits = ("train", "dev", "test")
    eval_splits = ("dev", "test")

    def item(self, turn: ConvTurn) -> SourceItem:
        return self.make(
            turn.id,
            prompts.convfinqa_distill(turn),
            turn.reference,
            turn.answer_type,
            meta={
                "question": turn.question,
                "page": turn.page,
                "turn": turn.turn,
                "dialogue": " ".join(turn.questions[: turn.turn + 1]),
                "n_turns": turn.n_turns,
                "program": turn.program,
                "source_file": turn.source_file,
            },
        )

    def read_local(self, path: Path, split: str) -> Iterator[SourceItem]:
        return (self.item(t) for t in load_convfinqa(path, split))

    def read_hub(self, repo_id: str, split: str) -> Iterator[SourceItem]:
        names = CONVFINQA_FILES[split]
        folder = hub_snapshot(repo_id, [f"{p}{n}" for n in names for p in ("", "*/")])
        return self.read_local(folder_holding(folder, names), split)


class TFNSSource(SourceAdapter):
    name = "tfns"
    category = "reasoning_business_knowledge"
    language = "en"
    answer_type = "label"
    hub_id = "zeroshot/twitter-financial-news-sentiment"
    description = "Twitter Financial News Sentiment: 3-way (Bearish/Bullish/Neutral) tweet sentiment"
    splits = ("train", "valid")
    eval_splits = ("valid",)

    def item(self, it: Item) -> SourceItem:
        return self.from_item(it, prompts.tfns_distill(it))

    def read_local(self, path: Path, split: str) -> Iterator[SourceItem]:
        return (self.item(it) for it in load_tfns(path, split))

    def read_hub(self, repo_id: str, split: str) -> Iterator[SourceItem]:
        stem = TFNS_SPLIT_FILES[split].removesuffix(".csv")

        def rows() -> Iterator[tuple[str, object, object]]:
            for where, row in hub_rows(repo_id, "validation" if split == "valid" else split):
                if "text" not in row or "label" not in row:
                    raise InputError(f"{where}: missing column 'text' or 'label'")
                yield where, row["text"], row["label"]

        # ids from content, as read_tfns gives them for the CSV (so Hub and local copies agree in any row order)
        yield from (self.item(it) for it in tfns_items(stem, rows()))


# A row of column names (ASCII identifiers only, e.g. ["trainingSourceData", "Sentiment"]) where data rows hold
# Chinese text: the upstream train files were concatenated from CSVs and kept one header row each.
_HEADER_CELL = re.compile(r"^\ufeff?[A-Za-z_][A-Za-z0-9_]*$")

FINCUGE_REPO = "https://github.com/ssymmetry/BBT-FinCUGE-Applications"
FINCUGE_COMMIT = "654d132de56e85075700358baf558ab4d0cd986f"  # 2023-07-10, the commit whose layout was checked


class FinCUGESource(SourceAdapter):
    name = "fincuge"
    category = "reasoning_business_knowledge"
    language = "zh"
    answer_type = "label|text"
    hub_id = None
    description = "BBT-FinCUGE (ssymmetry/BBT-FinCUGE-Applications): Chinese multi-task; 'fincuge:<task>' for one task"
    fetch_hint = (
        f"git clone {FINCUGE_REPO} data/sources/BBT-FinCUGE-Applications && git -C "
        f"data/sources/BBT-FinCUGE-Applications checkout {FINCUGE_COMMIT[:12]}, then set its `data:` to "
        "data/sources/BBT-FinCUGE-Applications/FinCUGE_Publish (the Hub has only an instruction-format copy, "
        "Maciel/FinCUGE-Instruction, not the original layout)"
    )
    splits = ("train", "eval")
    eval_splits = ("eval",)

    def __init__(self, tasks: list[str] | None = None) -> None:
        for task in tasks or []:
            if task not in FINCUGE_TASKS:
                raise InputError(f"FinCUGE task '{task}' is unknown (known: {', '.join(FINCUGE_TASKS)})")
        self.tasks = tasks

    def _files(self, path: Path, split: str) -> list[tuple[Path, str]]:
        """``(file, task)`` pairs: a folder of task folders, one task folder, or one file."""
        if path.is_file():
            return [(path, self.tasks[0] if self.tasks else path.parent.name)]
        if (path / f"{split}_list.json").is_file() and path.name in FINCUGE_TASKS:
            return [(path / f"{split}_list.json", path.name)]
        present = fincuge_tasks_in(path, split)
        wanted = self.tasks or present
        missing = [t for t in wanted if t not in present]
        if missing or not wanted:
            raise InputError(f"{path}: no FinCUGE {split}_list.json for task(s) {', '.join(missing) or '(any)'}")
        return [(path / task / f"{split}_list.json", task) for task in wanted]

    def read_local(self, path: Path, split: str) -> Iterator[SourceItem]:
        for file, task in self._files(path, split):
            spec = get_task(task)
            headers = 0
            for i, row in enumerate(read_json_list(file)):
                where = f"{file} row {i}"
                if not isinstance(row, list) or len(row) < len(spec.columns):
                    raise InputError(f"{where}: expected a list [{', '.join(spec.columns)}], got {str(row)[:80]}")
                if all(isinstance(c, str) and _HEADER_CELL.match(c) for c in row):
                    headers += 1  # the train files of finne (row 3334) and finnsp (row 1939) hold one
                    continue
                try:
                    it = spec.parse(task, i, row)  # ids keep the row position, as in finr1_core's reader
                except ValueError as exc:
                    raise InputError(f"{where}: {exc}") from None
                if not it.question:
                    raise InputError(f"{where}: empty text")
                it = Item(**{**it.__dict__, "meta": {**it.meta, "task": task}})
                yield self.from_item(it, prompts.fincuge_distill(it))
            if headers:
                logger.warning("%s: skipped %d row(s) of column names left in the upstream file", file, headers)


class FinanceIQSource(SourceAdapter):
    name = "financeiq"
    category = "professional_knowledge"
    language = "zh"
    answer_type = "choice"
    hub_id = "Duxiaoman-DI/FinanceIQ"
    description = "FinanceIQ (Du Xiaoman): Chinese exam multiple choice; 'train' = dev (test is evaluation material)"
    train_split = "dev"
    splits = ("dev", "test")
    eval_splits = ("test",)

    def read_local(self, path: Path, split: str) -> Iterator[SourceItem]:
        for it in read_financeiq(path, split):
            yield self.from_item(it, prompts.choice_distill(it))

    def read_hub(self, repo_id: str, split: str) -> Iterator[SourceItem]:
        return self.read_local(hub_snapshot(repo_id, [f"data/{split}/*.csv", f"{split}/*.csv"]), split)


class AntFinanceSource(SourceAdapter):
    name = "ant_finance"
    category = "business_knowledge"
    language = "zh"
    answer_type = "choice|boolean"
    hub_id = None
    description = (
        "Ant_Finance (alipay/financial_evaluation_dataset, Fin-Eva Ant part); 'train' = the unlabelled "
        "rows (reference ''), since the labelled rows are evaluation material"
    )
    fetch_hint = (
        "it has no training split: its only public copy is the Fin-Eva evaluation set "
        "(github.com/alipay/financial_evaluation_dataset data/Ant: 28% labelled dev rows, 72% the hidden test set), "
        "all of which decontamination removes; set `data:` only to a copy that is not evaluation material"
    )
    train_split = "unlabelled"
    splits = ("unlabelled", "labelled")
    eval_splits = ("labelled",)

    def read_local(self, path: Path, split: str) -> Iterator[SourceItem]:
        for it in read_ant_finance(path, labelled=split == "labelled"):
            yield self.from_item(it, prompts.choice_distill(it))


class FinanceInstructSource(SourceAdapter):
    name = "finance_instruct_500k"
    category = "professional_knowledge"
    language = "en"
    answer_type = "text"
    hub_id = "Josephgflowers/Finance-Instruct-500k"
    description = "Finance-Instruct-500k: English finance instructions; 'train' excludes the hashed 10% test subset"
    splits = ("train", "test")
    eval_splits = ("test",)

    def item(self, it: Item) -> SourceItem:
        language = guess_language(it.question)
        return self.from_item(it, prompts.instruction_distill(it, language=language), language=language)

    def _select(self, items: Iterable[Item], split: str) -> Iterator[SourceItem]:
        for it in items:
            if it.meta["split"] == split:
                yield self.item(it)

    def read_local(self, path: Path, split: str) -> Iterator[SourceItem]:
        for file in _table_files(path, "train"):
            yield from self._select(read_fi500k(file), split)

    def read_hub(self, repo_id: str, split: str) -> Iterator[SourceItem]:
        seen: set[str] = set()
        for where, row in hub_rows(repo_id, "train"):
            it = fi500k_item(row, where)
            if it.id not in seen:
                seen.add(it.id)
                yield from self._select([it], split)


class FinCorpusSource(SourceAdapter):
    name = "fincorpus"
    category = "business_knowledge"
    language = "zh"
    answer_type = "choice|boolean|text"
    hub_id = "Duxiaoman-DI/FinCorpus"
    description = "FinCorpus (Duxiaoman-DI/FinCorpus): exam items parsed from data/fin_exam.jsonl.gz"

    def read_local(self, path: Path, split: str) -> Iterator[SourceItem]:
        if path.is_dir():
            hits = sorted(path.rglob("fin_exam.jsonl*")) or sorted(path.rglob("*.jsonl*"))
            if not hits:
                raise InputError(f"{path}: no FinCorpus exam file (expected data/fin_exam.jsonl.gz)")
            path = hits[0]
        items, _ = read_fincorpus(path)
        for it in items:
            if it.answer_type in ("choice", "boolean"):
                messages = prompts.choice_distill(it)
            else:
                messages = prompts.instruction_distill(it, language="zh")
            yield self.from_item(it, messages)

    def read_hub(self, repo_id: str, split: str) -> Iterator[SourceItem]:
        return self.read_local(hub_snapshot(repo_id, ["data/fin_exam.jsonl.gz"]), split)


class FinanceQTSource(SourceAdapter):
    name = "financeqt"
    category = "financial_code"
    language = "en"
    answer_type = "code"
    hub_id = "lumalik/Quant-Trading-Instruct"
    description = "FinanceQT (lumalik/Quant-Trading-Instruct): quant-trading strategy code from context + question"

    def read_local(self, path: Path, split: str) -> Iterator[SourceItem]:
        for file in _table_files(path, split):
            for it in read_financeqt(file):
                yield self.from_item(it, prompts.financeqt_distill(it))

    def read_hub(self, repo_id: str, split: str) -> Iterator[SourceItem]:
        seen: set[str] = set()
        for where, row in hub_rows(repo_id, split):
            it = financeqt_item(row, where)
            if it.id not in seen:
                seen.add(it.id)
                yield self.from_item(it, prompts.financeqt_distill(it))


class FinPEESource(SourceAdapter):
    name = "finpee"
    category = "professional_knowledge"
    language = "zh"
    answer_type = "numeric"
    hub_id = None
    description = "FinPEE (private SUFE exam calculations): local JSONL, schema in finr1_core.formats.instruct"

    def read_local(self, path: Path, split: str) -> Iterator[SourceItem]:
        files = [path] if path.is_file() else sorted(path.rglob("*.jsonl"))
        if not files:
            raise InputError(f"{path}: no FinPEE .jsonl files")
        for file in files:
            for it in read_finpee(file):
                yield self.from_item(it, prompts.finpee_distill(it))


class JsonlSource(SourceAdapter):
    """A user's own items: one JSON object per line.

    Fields: ``id`` (required), ``question`` or ``messages`` (a list of ``{"role", "content"}`` user/assistant
    turns, no system turn), ``reference`` (gold text, may be empty), ``answer_type`` (numeric, choice, boolean,
    label, text or code), optional ``choices`` (letter → text), ``labels`` (label → synonyms), ``category``
    (one of the four Fin-R1 categories; default professional_knowledge), ``language`` (en/zh; default guessed)
    and ``meta`` (an object kept as is).
    """

    name = "jsonl"
    category = "professional_knowledge"
    language = "en"
    answer_type = "any"
    hub_id = None
    description = "Your own items: JSONL with id, question or messages, reference, answer_type, choices/labels"
    _fields: ClassVar[set[str]] = {
        "id",
        "question",
        "messages",
        "reference",
        "answer_type",
        "choices",
        "labels",
        "category",
        "language",
        "meta",
    }

    def read_local(self, path: Path, split: str) -> Iterator[SourceItem]:
        files = [path] if path.is_file() else sorted(path.rglob("*.jsonl"))
        if not files:
            raise InputError(f"{path}: no .jsonl files")
        seen: set[str] = set()
        for file in files:
            for lineno, row in iter_jsonl(file):
                item = self._row(row, f"{file} line {lineno}")
                if item.id in seen:
                    raise InputError(f"{file} line {lineno}: duplicate id '{row['id']}'")
                seen.add(item.id)
                yield item

    def _row(self, row: dict[str, Any], where: str) -> SourceItem:
        unknown = sorted(set(row) - self._fields)
        if unknown:
            raise InputError(
                f"{where}: unknown field(s) {', '.join(unknown)} (allowed: {', '.join(sorted(self._fields))})"
            )
        if not str(row.get("id", "")).strip():
            raise InputError(f"{where}: missing field 'id'")
        answer_type = row.get("answer_type")
        if answer_type not in ANSWER_TYPES:
            raise InputError(
                f"{where}: field 'answer_type' must be one of {', '.join(ANSWER_TYPES)}, got {answer_type!r}"
            )
        category = row.get("category", self.category)
        if category not in CATEGORIES:
            raise InputError(f"{where}: field 'category' must be one of {', '.join(CATEGORIES)}, got {category!r}")
        reference = row.get("reference", "")
        if not isinstance(reference, str | int | float):
            raise InputError(f"{where}: field 'reference' must be text")
        if "messages" in row:
            messages = row["messages"]
            if not isinstance(messages, list) or not messages:
                raise InputError(f"{where}: field 'messages' must be a non-empty list")
            if any(isinstance(m, dict) and m.get("role") == "system" for m in messages):
                raise InputError(
                    f"{where}: field 'messages' must not contain a system turn (teacher prompts have none)"
                )
            text = " ".join(str(m.get("content", "")) for m in messages if isinstance(m, dict))
            question = next(
                (
                    str(m.get("content", ""))
                    for m in reversed(messages)
                    if isinstance(m, dict) and m.get("role") == "user"
                ),
                text,
            )
        elif isinstance(row.get("question"), str) and row["question"].strip():
            question = row["question"].strip()
            choices = row.get("choices") if isinstance(row.get("choices"), dict) else None
            it = Item(
                id=str(row["id"]),
                question=question,
                reference=str(reference),
                answer_type=answer_type,
                choices={str(k): str(v) for k, v in choices.items()} if choices else None,
            )
            messages = prompts.instruction_distill(it, language=row.get("language") or guess_language(question))
        else:
            raise InputError(f"{where}: needs a non-empty 'question' or 'messages'")
        language = row.get("language") or guess_language(question)
        raw_meta = row.get("meta")
        meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
        return self.make(
            str(row["id"]).strip(),
            messages,
            str(reference),
            answer_type,
            choices=row.get("choices"),
            labels=row.get("labels"),
            language=language,
            category=category,
            meta={"question": question, **meta},
            where=where,
        )


SOURCES: dict[str, SourceAdapter] = {
    adapter.name: adapter
    for adapter in (
        FinQASource(),
        ConvFinQASource(),
        TFNSSource(),
        FinCUGESource(),
        FinanceIQSource(),
        AntFinanceSource(),
        FinanceInstructSource(),
        FinCorpusSource(),
        FinanceQTSource(),
        FinPEESource(),
        JsonlSource(),
    )
}


def get_source(name: str) -> SourceAdapter:
    """Return the adapter for ``name``; ``fincuge:<task>[,<task>]`` selects FinCUGE tasks."""
    base, _, arg = name.partition(":")
    if base not in SOURCES:
        raise InputError(f"unknown source '{name}' (known: {', '.join(SOURCES)})")
    if arg:
        if base != "fincuge":
            raise InputError(f"source '{base}' takes no ':{arg}' option (only fincuge:<task> does)")
        return FinCUGESource([t.strip() for t in arg.split(",") if t.strip()])
    return SOURCES[base]
