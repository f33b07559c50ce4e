"""BBT-FinCUGE (``ssymmetry/BBT-FinCUGE-Applications`` ``FinCUGE_Publish/<task>/<split>_list.json``).

Each file is a JSON list of keyless lists; the layout depends on the task (see :data:`TASKS`). Each row becomes
an :class:`~finr1_core.formats.records.Item` with a Chinese task instruction, the text, the gold answer and an
answer type. The FinFE sentiment names are not published; 0/1/2 = 消极/中性/积极 is inferred from the data and
the prompt shows the ids, so scoring does not depend on the names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finr1_core.errors import InputError
from finr1_core.formats._io import read_json_list
from finr1_core.formats.records import Item

FINFE_LABELS = {"0": ["0", "消极", "负面"], "1": ["1", "中性"], "2": ["2", "积极", "正面"]}
FINNE_LABELS = {"0.0": ["0.0", "0"], "0.5": ["0.5"], "1.0": ["1.0", "1"]}
FINNL_CLASSES = (
    "公司",
    "行业",
    "大盘",
    "中国",
    "外国",
    "国际",
    "经济",
    "政策",
    "政治",
    "期货",
    "债券",
    "房地产",
    "外汇",
    "虚拟货币",
    "新冠",
    "能源",
)
FINRE_RELATIONS = (
    "unknown",
    "自己",
    "合作",
    "拥有",
    "被拥有",
    "竞争",
    "持股",
    "被持股",
    "分析",
    "被分析",
    "签约",
    "纠纷",
    "减持",
    "被减持",
    "增持",
    "被增持",
    "收购",
    "被收购",
    "重组",
    "发行",
    "被发行",
    "合资",
    "交易",
    "合并",
    "订单",
    "注资",
    "被注资",
    "帮助",
    "被帮助",
    "成立",
    "被成立",
    "拟收购",
    "被拟收购",
    "商讨",
    "入股",
    "被入股",
    "买资",
    "被买资",
    "转让",
    "被转让",
    "借壳",
    "被借壳",
)
NONE_ANSWER = "无"


@dataclass(frozen=True)
class FinCUGETask:
    """How one FinCUGE task's keyless rows map to items."""

    name: str
    description: str
    columns: tuple[str, ...]
    answer_type: str
    parse: Callable[[str, int, list[Any]], Item]


def _s(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _finfe(task: str, i: int, r: list[Any]) -> Item:
    label = _s(r[1]).removesuffix(".0")
    if label not in FINFE_LABELS:
        raise ValueError(f"label must be 0, 1 or 2, got {r[1]!r}")
    return Item(
        id=f"{task}/{i}",
        question=_s(r[0]),
        reference=label,
        answer_type="label",
        labels=FINFE_LABELS,
        category=FINFE_LABELS[label][1],
        instruction="判断以下股民评论的情绪类别：0 表示消极，1 表示中性，2 表示积极。只回答类别编号。",
    )


def _finne(task: str, i: int, r: list[Any]) -> Item:
    score = _s(r[1])
    if score in ("0", "0.5", "1"):
        score = {"0": "0.0", "1": "1.0"}.get(score, score)
    if score not in FINNE_LABELS:
        raise ValueError(f"score must be 0.0, 0.5 or 1.0, got {r[1]!r}")
    return Item(
        id=f"{task}/{i}",
        question=_s(r[0]),
        reference=score,
        answer_type="label",
        labels=FINNE_LABELS,
        category=score,
        instruction="为以下金融文本打分，只能是 0.0、0.5 或 1.0 之一。只回答分数。",
    )


def _finnl(task: str, i: int, r: list[Any]) -> Item:
    classes = _s(r[1]).split()
    if not classes:
        raise ValueError("no news class")
    return Item(
        id=f"{task}/{i}",
        question=_s(r[0]),
        reference=" ".join(classes),
        answer_type="text",
        category=classes[0],
        meta={"classes": classes},
        instruction=f"为以下金融新闻选择所属类别（可多选，用空格分隔），候选类别：{'、'.join(FINNL_CLASSES)}。",
    )


def _finre(task: str, i: int, r: list[Any]) -> Item:
    head, tail, relation, text = (_s(v) for v in r[:4])
    return Item(
        id=f"{task}/{i}",
        question=f"句子：{text}\n实体1：{head}\n实体2：{tail}",
        reference=relation,
        answer_type="label",
        labels={rel: [rel] for rel in FINRE_RELATIONS if rel} | {relation: [relation]},
        category=relation,
        meta={"head": head, "tail": tail},
        instruction="判断句子中实体1与实体2之间的金融关系，从以下关系中选择一个："
        + "、".join(FINRE_RELATIONS)
        + "。只回答关系名称。",
    )


def _finnsp(task: str, i: int, r: list[Any]) -> Item:
    row_id, title, text, entities, has_negative, negatives = (_s(v) for v in r[:6])
    if has_negative not in ("0", "1"):
        raise ValueError(f"has_negative must be 0 or 1, got {r[4]!r}")
    reference = negatives if has_negative == "1" and negatives else NONE_ANSWER
    body = (f"标题：{title}\n" if title else "") + f"正文：{text}\n实体：{entities}"
    return Item(
        id=f"{task}/{row_id}",
        question=body,
        reference=reference,
        answer_type="text",
        category="negative" if has_negative == "1" else "not_negative",
        meta={"entities": entities, "has_negative": has_negative},
        instruction="判断以下金融新闻是否包含针对所列实体的负面信息。如果包含，给出负面主体（多个用分号分隔）；"
        f"否则回答“{NONE_ANSWER}”。",
    )


def _finese(task: str, i: int, r: list[Any]) -> Item:
    row_id, text, event_type, subject = (_s(v) for v in r[:4])
    reference = NONE_ANSWER if subject in ("", "NaN", "nan") else subject
    return Item(
        id=f"{task}/{row_id}",
        question=text,
        reference=reference,
        answer_type="text",
        category=event_type,
        meta={"event_type": event_type},
        instruction=f"从以下金融文本中抽取事件类型为“{event_type}”的事件主体；如果没有，回答“{NONE_ANSWER}”。",
    )


def _span_qa(task: str, i: int, r: list[Any]) -> Item:
    return Item(
        id=f"{task}/{i}",
        question=_s(r[0]),
        reference=_s(r[1]),
        answer_type="text",
        category=task,
        instruction="阅读下面的问题和文本，用原文中的片段回答问题；如果文本中没有答案，回答“无”。",
    )


def _finna(task: str, i: int, r: list[Any]) -> Item:
    return Item(
        id=f"{task}/{i}",
        question=_s(r[1]),
        reference=_s(r[0]),
        answer_type="text",
        category=task,
        instruction="为以下金融新闻写一句简短的摘要。",
    )


TASKS: dict[str, FinCUGETask] = {
    t.name: t
    for t in (
        FinCUGETask("finfe", "social-media sentiment (3 classes)", ("text", "label"), "label", _finfe),
        FinCUGETask("finne", "text score 0.0/0.5/1.0", ("text", "score"), "label", _finne),
        FinCUGETask("finnl", "news classification (multi-label)", ("text", "classes"), "text", _finnl),
        FinCUGETask(
            "finre", "relation extraction (42 relations)", ("head", "tail", "relation", "text"), "label", _finre
        ),
        FinCUGETask(
            "finnsp",
            "negative news and subject",
            ("id", "title", "text", "entities", "has_negative", "negative_entities"),
            "text",
            _finnsp,
        ),
        FinCUGETask("finese", "event subject extraction", ("id", "text", "event_type", "subject"), "text", _finese),
        FinCUGETask("finqa", "event question answering (spans)", ("question_and_context", "answer"), "text", _span_qa),
        FinCUGETask(
            "fincqa", "causal event question answering (spans)", ("question_and_context", "answer"), "text", _span_qa
        ),
        FinCUGETask("finna", "news summarisation", ("summary", "text"), "text", _finna),
    )
}


def get_task(task: str) -> FinCUGETask:
    """Return a task definition or raise naming the known tasks."""
    if task not in TASKS:
        raise InputError(f"FinCUGE task '{task}' is unknown (known: {', '.join(TASKS)})")
    return TASKS[task]


def read_fincuge_file(path: Path, task: str) -> list[Item]:
    """Read one ``<split>_list.json`` of ``task``; a row of the wrong shape raises naming the file and row."""
    spec = get_task(task)
    path = Path(path)
    items = []
    for i, row in enumerate(read_json_list(path)):
        where = f"{path} row {i}"
        if not isinstance(row, list) or len(row) < len(spec.columns):
            raise InputError(f"{where}: expected a list [{', '.join(spec.columns)}], got {str(row)[:80]}")
        try:
            item = spec.parse(task, i, row)
        except ValueError as exc:
            raise InputError(f"{where}: {exc}") from None
        if not item.question:
            raise InputError(f"{where}: empty text")
        items.append(Item(**{**item.__dict__, "meta": {**item.meta, "task": task}}))
    return items


def fincuge_tasks_in(path: Path, split: str) -> list[str]:
    """Known tasks that have a ``<task>/<split>_list.json`` under ``path``."""
    return [t for t in TASKS if (Path(path) / t / f"{split}_list.json").is_file()]


def read_fincuge(path: Path, split: str = "eval", tasks: list[str] | None = None) -> list[Item]:
    """Read FinCUGE ``<task>/<split>_list.json`` for the given tasks (default: every known task present).

    ``path`` is the folder holding the task folders, one task folder, or one file (the task is then its
    parent folder's name).
    """
    path = Path(path)
    if path.is_file():
        return read_fincuge_file(path, tasks[0] if tasks else path.parent.name)
    if (path / f"{split}_list.json").is_file() and path.name in TASKS:
        return read_fincuge_file(path / f"{split}_list.json", path.name)
    if not path.is_dir():
        raise InputError(f"{path}: FinCUGE folder or file not found")
    present = fincuge_tasks_in(path, split)
    wanted = tasks or present
    missing = [t for t in wanted if t not in present]
    for t in missing:
        get_task(t)  # unknown names first
    if missing or not wanted:
        raise InputError(f"{path}: no FinCUGE {split}_list.json for task(s) {', '.join(missing) or '(any)'}")
    items: list[Item] = []
    for t in wanted:
        items.extend(read_fincuge_file(path / t / f"{split}_list.json", t))
    return items
