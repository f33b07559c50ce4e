"""The Fin-R1 benchmarks (RECIPE.md §7): five headline sets plus FinEval, FinanceIQ and the FinCUGE tasks."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from finr1_core.errors import InputError
from finr1_core.formats import prompts
from finr1_core.formats.convfinqa import SPLIT_FILES as CONVFINQA_FILES
from finr1_core.formats.convfinqa import load_convfinqa
from finr1_core.formats.exams import read_ant_finance, read_financeiq, read_fineval, read_tfns, tfns_items
from finr1_core.formats.fincuge import TASKS as FINCUGE_TASKS
from finr1_core.formats.fincuge import read_fincuge
from finr1_core.formats.finqa import SPLIT_FILES as FINQA_FILES
from finr1_core.formats.finqa import load_finqa
from finr1_core.formats.hub import folder_holding, hub_rows, hub_snapshot
from finr1_core.formats.instruct import fi500k_item, read_fi500k
from finr1_core.formats.records import Item
from finr1_evaluate.benchmarks.base import BenchItem, Benchmark, register_benchmark

_TABLE_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")


def _item(it: Item, messages: list[dict[str, str]], **meta: Any) -> BenchItem:
    return BenchItem(
        id=it.id,
        category=it.category,
        messages=messages,
        reference=it.reference,
        answer_type=it.answer_type,
        choices=it.choices,
        labels=it.labels,
        question=it.question,
        meta={**it.meta, **meta},
    )


class FinQA(Benchmark):
    name = "finqa"
    hub_id = "TableQAKit/FinQA_retrieval"
    headline = True
    scoring = "rule_then_judge"
    description = "FinQA test: numerical reasoning over report pages; gold = exe_ans (test_500 + test_100 = 554 here)"
    stratum = "answer kind (numeric or yes/no)"
    layout = "finqa/test.json, or test_500.json + test_100.json (deduplicated by id)"

    def read_local(self, path: Path, variant: str) -> list[BenchItem]:
        return [
            BenchItem(
                id=r.id,
                category="yes_no" if r.answer_type == "boolean" else "numeric",
                messages=prompts.finqa_eval(r, variant),
                reference=r.reference,
                answer_type=r.answer_type,
                question=r.question,
                meta={"page": r.page, "program": r.program, "source_file": r.source_file},
            )
            for r in load_finqa(path, "test")
        ]

    def read_hub(self, repo_id: str, variant: str) -> list[BenchItem]:
        folder = hub_snapshot(repo_id, [f"{p}{n}" for n in FINQA_FILES["test"] for p in ("", "*/")])
        return self.read_local(folder_holding(folder, FINQA_FILES["test"]), variant)


class ConvFinQA(Benchmark):
    name = "convfinqa"
    hub_id = "AdaptLLM/ConvFinQA"
    headline = True
    scoring = "rule_then_judge"
    description = "ConvFinQA dev, scored per turn with the dialogue so far (earlier questions with gold answers)"
    stratum = "turn position (turn_1, turn_2, ...)"
    layout = "convfinqa/dev_turn.json, dev.json or convfinqa_dev.json (Program-of-Thoughts)"

    def read_local(self, path: Path, variant: str) -> list[BenchItem]:
        return [
            BenchItem(
                id=t.id,
                category=f"turn_{t.turn + 1}",
                messages=prompts.convfinqa_eval(t, variant),
                reference=t.reference,
                answer_type=t.answer_type,
                question=t.question,
                meta={"page": t.page, "turn": t.turn, "n_turns": t.n_turns, "program": t.program},
            )
            for t in load_convfinqa(path, "dev")
        ]

    def read_hub(self, repo_id: str, variant: str) -> list[BenchItem]:
        names = CONVFINQA_FILES["dev"]
        folder = hub_snapshot(repo_id, [f"{p}{n}" for n in names for p in ("", "*/")])
        return self.read_local(folder_holding(folder, names), variant)


class AntFinance(Benchmark):
    name = "ant_finance"
    headline = True
    scoring = "rule"
    description = "Ant_Finance (Fin-Eva v1.0, Ant part): the 2,343 labelled rows of 33 Chinese choice and 是/否 tasks"
    stratum = "source file (<ability>/<task>)"
    layout = "ant_finance/Ant/<ability>/<task>.csv (UTF-8 with BOM)"

    def read_local(self, path: Path, variant: str) -> list[BenchItem]:
        # each task in Fin-Eva's own instruction for it, as Fin-Eva's harness sends it
        return [_item(it, prompts.ant_finance_eval(it, variant)) for it in read_ant_finance(path, labelled=True)]


class TFNS(Benchmark):
    name = "tfns"
    hub_id = "zeroshot/twitter-financial-news-sentiment"
    headline = True
    scoring = "rule_then_judge"
    judge_note = 'Labels: "0" = Bearish, "1" = Bullish, "2" = Neutral.'
    description = "Twitter Financial News Sentiment validation split (FinGPT's test set): 2,388 tweets"
    stratum = "label (Bearish, Bullish, Neutral)"
    layout = "tfns/sent_valid.csv (text,label)"

    def read_local(self, path: Path, variant: str) -> list[BenchItem]:
        file = path / "sent_valid.csv" if path.is_dir() else path
        return [_item(it, prompts.tfns_eval(it, variant)) for it in read_tfns(file)]

    def read_hub(self, repo_id: str, variant: str) -> list[BenchItem]:
        def rows():
            for where, row in hub_rows(repo_id, "validation"):
                if "text" not in row or "label" not in row:
                    raise InputError(f"{where}: missing column 'text' or 'label'")
                yield where, row["text"], row["label"]

        # ids from the tweet's text, as for the CSV: the Hub copy and a local copy in any order pick the same tweets
        return [_item(it, prompts.tfns_eval(it, variant)) for it in tfns_items("sent_valid", rows())]


class FinanceInstruct500k(Benchmark):
    name = "finance_instruct_500k"
    hub_id = "Josephgflowers/Finance-Instruct-500k"
    headline = True
    scoring = "rule_then_judge"
    judge_note = "Free-form answer: score 1 if the final answer agrees with the reference in substance."
    description = (
        "Finance-Instruct-500k: the deterministic 10% test subset (hash of the prompt), as Fin-R1 built "
        "a 10% test subset; a file named *test* is taken whole"
    )
    stratum = "system prompt (sub-task)"
    layout = "finance_instruct_500k/test.jsonl (whole) or any system/user/assistant file (10% held out)"

    def read_local(self, path: Path, variant: str) -> list[BenchItem]:
        files = (
            [path]
            if path.is_file()
            else sorted(p for p in path.rglob("*") if p.is_file() and p.name.lower().endswith(_TABLE_SUFFIXES))
        )
        if not files:
            raise InputError(f"{path}: no Finance-Instruct-500k files (.jsonl, .json, .parquet, .csv)")
        items: dict[str, BenchItem] = {}
        for file in files:
            whole = "test" in file.stem.lower()
            for it in read_fi500k(file):
                if whole or it.meta["split"] == "test":
                    items.setdefault(it.id, _item(it, prompts.as_is_eval(it, variant), system=it.system))
        return list(items.values())

    def read_hub(self, repo_id: str, variant: str) -> list[BenchItem]:
        items: dict[str, BenchItem] = {}
        for where, row in hub_rows(repo_id, "train"):
            it = fi500k_item(row, where)
            if it.meta["split"] == "test":
                items.setdefault(it.id, _item(it, prompts.as_is_eval(it, variant), system=it.system))
        return list(items.values())


class FinEval(Benchmark):
    name = "fineval"
    hub_id = "SUFE-AIFLM-Lab/FinEval"
    scoring = "rule"
    description = "FinEval (Fin-Eva v1.0, SUFE part) val: 1,071 Chinese multiple-choice questions in 32 subjects"
    stratum = "subject group (会计, 金融, 经济, 证书)"
    layout = "fineval/SUFE/val/<subject>_val.csv + SUFE/subject_map.json"

    def read_local(self, path: Path, variant: str) -> list[BenchItem]:
        return [_item(it, prompts.fineval_eval(it, variant)) for it in read_fineval(path, "val")]

    def read_hub(self, repo_id: str, variant: str) -> list[BenchItem]:
        folder = hub_snapshot(repo_id, ["*subject_map.json", "**/subject_map.json", "*val/*.csv", "**/val/*.csv"])
        return self.read_local(folder_holding(folder, ("subject_map.json",)), variant)


class FinanceIQ(Benchmark):
    name = "financeiq"
    hub_id = "Duxiaoman-DI/FinanceIQ"
    scoring = "rule"
    description = (
        "FinanceIQ test: 7,123 Chinese exam questions in 10 certification categories (a Fin-R1 training source)"
    )
    stratum = "exam category"
    layout = "financeiq/test/<category>.csv"

    def read_local(self, path: Path, variant: str) -> list[BenchItem]:
        return [_item(it, prompts.choice_eval(it, variant)) for it in read_financeiq(path, "test")]

    def read_hub(self, repo_id: str, variant: str) -> list[BenchItem]:
        return self.read_local(hub_snapshot(repo_id, ["data/test/*.csv", "test/*.csv"]), variant)


class FinCUGETask(Benchmark):
    """One BBT-FinCUGE task's labelled evaluation split."""

    headline = False
    layout = "fincuge/<task>/eval_list.json"
    _JUDGE_NOTES: ClassVar[dict[str, str]] = {
        "finnl": "Multi-label: the answer must name the same set of classes, in any order.",
        "finnsp": "The answer must name the same negative entities (any order), or 无 when there are none.",
        "finese": "The answer must name the same event subject, or 无 when there is none.",
        "finqa": "The answer must be the same span (minor wording differences are fine).",
        "fincqa": "The answer must be the same span (minor wording differences are fine).",
        "finna": "Score 1 if the summary states the same key facts as the reference.",
    }

    def __init__(self, task: str) -> None:
        spec = FINCUGE_TASKS[task]
        self.task = task
        self.name = f"fincuge_{task}"
        self.scoring = "rule" if spec.answer_type == "label" else "judge"
        self.judge_note = self._JUDGE_NOTES.get(task)
        self.description = f"FinCUGE {task}: {spec.description}"
        self.stratum = {
            "finfe": "label",
            "finne": "score",
            "finre": "relation",
            "finese": "event type",
            "finnl": "first class",
            "finnsp": "negative or not",
        }.get(task, "(one stratum)")

    def data_folder(self) -> str:
        return "fincuge"

    def read_local(self, path: Path, variant: str) -> list[BenchItem]:
        return [_item(it, prompts.fincuge_eval(it, variant)) for it in read_fincuge(path, "eval", [self.task])]


for _bench in (FinQA(), ConvFinQA(), AntFinance(), TFNS(), FinanceInstruct500k(), FinEval(), FinanceIQ()):
    register_benchmark(_bench)
for _task in FINCUGE_TASKS:
    register_benchmark(FinCUGETask(_task))
