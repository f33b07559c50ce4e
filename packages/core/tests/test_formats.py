"""finr1_core.formats: original-format readers, the safe program evaluator, prompts and decontamination."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from finr1_core.errors import InputError
from finr1_core.formats import (
    EvalIndex,
    ProgramError,
    build_eval_index,
    content_id,
    display_gold,
    evaluate_program,
    fi500k_split,
    format_number,
    gold_text,
    load_convfinqa,
    load_finqa,
    load_tfns,
    normalize_text,
    parse_exam_text,
    prompts,
    read_ant_finance,
    read_convfinqa,
    read_fi500k,
    read_financeiq,
    read_financeqt,
    read_fincorpus,
    read_fincuge,
    read_fineval,
    read_finpee,
    read_finqa,
    read_tfns,
    report_page,
    tokens,
)
from finr1_core.formats.fineva import FINEVA_TEMPLATES
from finr1_core.formats.records import Item

SHARED = Path(os.environ.get("FINR1_SHARED_DATA") or Path(__file__).resolve().parents[3].parent / "shared" / "data")
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} is absent (see DATA.md)")


def write_json(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    return path


def write_csv(path: Path, header, rows, bom: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


# --- FinQA ---------------------------------------------------------------------------------------------------

OFFICIAL = {
    "id": "ZZZ/2020/page_9.pdf-2",
    "filename": "ZZZ/2020/page_9.pdf",
    "pre_text": ["revenue table ."],
    "post_text": ["."],
    "table": [["", "2020", "2019"], ["revenue", "$ 120", "$ 100"]],
    "qa": {
        "question": "what was the growth rate of revenue?",
        "answer": "20%",
        "exe_ans": 0.2,
        "program": "subtract(120, 100), divide(#0, 100)",
    },
}
SIMPLIFIED = {
    "id": "ZZZ/2020/page_9.pdf-3",
    "question": "was revenue higher in 2020?",
    "pre_text": [],
    "post_text": [],
    "table": [["", "2020"], ["revenue", "120"]],
    "program": "greater(120, 100)",
    "answer": "yes",
}


def test_finqa_reads_both_schemas_with_executed_gold(tmp_path):
    records = read_finqa(write_json(tmp_path / "test.json", [OFFICIAL, SIMPLIFIED]))
    assert [(r.id, r.reference, r.answer_type) for r in records] == [
        ("ZZZ/2020/page_9.pdf-2", "0.20000", "numeric"),
        ("ZZZ/2020/page_9.pdf-3", "yes", "boolean"),
    ]
    assert records[0].page == records[1].page == "ZZZ/2020/page_9.pdf"


def test_finqa_split_files_are_deduplicated_by_id(tmp_path):
    write_json(tmp_path / "test_500.json", [SIMPLIFIED])
    write_json(tmp_path / "test_100.json", [OFFICIAL, {**OFFICIAL, "id": SIMPLIFIED["id"]}])
    assert [r.id for r in load_finqa(tmp_path, "test")] == [SIMPLIFIED["id"], OFFICIAL["id"]]


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([{"id": "x", "qa": {"question": "q?"}}], "row 0 field 'qa': missing field(s) 'exe_ans'"),
        ([{"id": "x", "question": "q?"}], "row 0: missing field(s) 'answer'"),
        (
            [OFFICIAL, {**OFFICIAL, "qa": {**OFFICIAL["qa"], "exe_ans": "n/a"}}],
            "row 1 (id ZZZ/2020/page_9.pdf-2): field 'qa.exe_ans'",
        ),
        ({"not": "a list"}, "expected a JSON list"),
    ],
)
def test_finqa_malformed_rows_name_file_row_and_field(tmp_path, rows, expected):
    path = write_json(tmp_path / "train.json", rows)
    with pytest.raises(InputError) as exc:
        read_finqa(path)
    assert str(path) in one_line(exc) and expected in str(exc.value)


def test_missing_files_and_bad_json_are_one_line_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_finqa(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("[{", encoding="utf-8")
    with pytest.raises(InputError) as exc:
        read_finqa(tmp_path / "bad.json")
    assert "not valid JSON (line 1" in one_line(exc)
    with pytest.raises(InputError, match="no FinQA train file"):
        load_finqa(tmp_path, "train")


def test_gold_text_and_number_format():
    assert gold_text(0.14464) == ("0.14464", "numeric")
    # the five decimals stay: a gold of 94.0 is exact, not "94" (which a grader reads as 94 ± 0.5)
    assert gold_text(94.0) == ("94.00000", "numeric")
    assert gold_text(94) == ("94.00000", "numeric")
    assert gold_text("-3,297.666667") == ("-3297.66667", "numeric")
    assert gold_text(-0.000001) == ("0.00000", "numeric")
    assert display_gold("94.00000") == "94" and display_gold("yes") == "yes"
    assert gold_text("Yes") == ("yes", "boolean")
    assert format_number(-0.000001) == "0"
    with pytest.raises(ValueError):
        gold_text("12 million")
    assert report_page("Single_MRO/2007/page_134.pdf-1") == "MRO/2007/page_134.pdf"
    assert report_page("Double_PM/2017/page_38.pdf") == "PM/2017/page_38.pdf"


# --- ConvFinQA and the program evaluator ---------------------------------------------------------------------


def test_program_evaluator_covers_the_snippet_language():
    assert evaluate_program("ans = 60.94 - 25.14") == pytest.approx(35.8)
    assert evaluate_program("x0 = 60.94 - 25.14; ans = x0 / 25.14") == pytest.approx(35.8 / 25.14)
    assert evaluate_program("ans = 13.4%") == pytest.approx(0.134)
    assert evaluate_program("x0 = 17.84 - 4.11; x1 = 60.15 - 41.30; ans = x0 > x1") is False
    assert evaluate_program("ans = 178.93 > 105.34") is True
    assert evaluate_program("ans = -(2 + 3) * 1,000") == -5000


@pytest.mark.parametrize(
    "program",
    [
        "ans = __import__('os').system('echo hi')",
        "ans = (1).__class__",
        "ans = 2 ** 1000000",
        "ans = 7 // 2",
        "ans = x9 + 1",
        "x0 = 1",
        "import os",
        "ans = [1, 2]",
        "ans = 1 / 0",
        "ans = 'yes'",
        "ans = 1 < 2 < 3",
        "ans = (1 > 0) + 1",
        "ans = 1 if 1 else 2",
        "print(1)",
        "ans = " + "1+" * 1500 + "1",
    ],
)
def test_program_evaluator_rejects_everything_else(program):
    with pytest.raises(ProgramError):
        evaluate_program(program)


def test_convfinqa_program_of_thoughts_turns(tmp_path):
    row = {
        "id": "Single_ZZZ/2020/page_9.pdf-1",
        "questions": ["what was revenue in 2020?", "and in 2019?", "what was the growth?", "was it above 10%?"],
        "programs": ["ans = 120", "ans = 100", "x0 = 120 - 100; ans = x0 / 100", "ans = 20% > 10%"],
        "answer": "yes",
        "text": "revenue table .",
        "table": "- | 2020 | 2019\nrevenue | $ 120 | $ 100",
        "golden_text": "",
        "golden_table": "",
    }
    turns = read_convfinqa(write_json(tmp_path / "convfinqa_dev.json", [row]))
    assert [(t.id, t.reference, t.answer_type) for t in turns] == [
        ("Single_ZZZ/2020/page_9.pdf-1/turn_0", "120.00000", "numeric"),
        ("Single_ZZZ/2020/page_9.pdf-1/turn_1", "100.00000", "numeric"),
        ("Single_ZZZ/2020/page_9.pdf-1/turn_2", "0.20000", "numeric"),
        ("Single_ZZZ/2020/page_9.pdf-1/turn_3", "yes", "boolean"),
    ]
    assert turns[2].history == [("what was revenue in 2020?", "120"), ("and in 2019?", "100")]
    assert turns[0].table == [["-", "2020", "2019"], ["revenue", "$ 120", "$ 100"]]
    assert turns[0].page == "ZZZ/2020/page_9.pdf"
    bad = {**row, "programs": [*row["programs"][:3], "ans = open('x')"]}
    with pytest.raises(InputError) as exc:
        read_convfinqa(write_json(tmp_path / "bad.json", [bad]))
    assert "row 0 (id Single_ZZZ/2020/page_9.pdf-1) turn 3" in one_line(exc)


def test_convfinqa_official_conversation_and_turn_files(tmp_path):
    conv = {
        "id": "Double_ZZZ/2020/page_9.pdf",
        "filename": "ZZZ/2020/page_9.pdf",
        "pre_text": ["a ."],
        "post_text": [],
        "table": [["", "2020"], ["revenue", "120"]],
        "annotation": {
            "dialogue_break": ["what was revenue?", "is it above 100?"],
            "turn_program": ["120", "greater(120, 100)"],
            "exe_ans_list": [120.0, "yes"],
        },
    }
    turns = load_convfinqa(write_json(tmp_path / "train.json", [conv]), "train")
    assert [(t.turn, t.reference, t.n_turns) for t in turns] == [(0, "120.00000", 2), (1, "yes", 2)]
    turn_row = {
        **conv,
        "id": "Double_ZZZ/2020/page_9.pdf_1",
        "annotation": {
            **conv["annotation"],
            "cur_dial": conv["annotation"]["dialogue_break"],
            "turn_ind": 1,
            "exe_ans": "yes",
            "cur_program": "greater(120, 100)",
        },
    }
    (only,) = load_convfinqa(write_json(tmp_path / "dev_turn.json", [turn_row]).parent, "dev")
    assert (only.id, only.history, only.reference) == (
        "Double_ZZZ/2020/page_9.pdf/turn_1",
        [("what was revenue?", "120")],
        "yes",
    )
    broken = {**conv, "annotation": {**conv["annotation"], "exe_ans_list": [120.0]}}
    with pytest.raises(InputError, match="one answer per question"):
        read_convfinqa(write_json(tmp_path / "broken.json", [broken]))


# --- CSV sets ------------------------------------------------------------------------------------------------


def test_tfns_reader_and_errors(tmp_path):
    items = read_tfns(
        write_csv(tmp_path / "sent_valid.csv", ["text", "label"], [["$AAA up big", 1], ["$BBB, meh", 2]])
    )
    assert [(i.id, i.reference, i.category) for i in items] == [
        (f"sent_valid-{content_id('$AAA up big', length=12)}", "1", "Bullish"),
        (f"sent_valid-{content_id('$BBB, meh', length=12)}", "2", "Neutral"),
    ]
    path = write_csv(tmp_path / "bad.csv", ["text", "label"], [["ok", 0], ["bad", 3]])
    with pytest.raises(InputError) as exc:
        read_tfns(path)
    assert f"{path} line 3: column 'label' must be 0, 1 or 2" in one_line(exc)
    path = write_csv(tmp_path / "nolabel.csv", ["text", "sentiment"], [["ok", 0]])
    with pytest.raises(InputError, match="missing column\\(s\\) 'label'"):
        read_tfns(path)


def test_ant_finance_variants_bom_and_unlabelled_rows(tmp_path):
    root = tmp_path / "Ant"
    write_csv(
        root / "金融认知" / "金融情绪识别.csv",
        ["id", "question", "A", "B", "C", "answer"],
        [[0, "收益很好", "消极", "积极", "中性", "B"], [1, "一般", "消极", "积极", "中性", ""]],
        bom=True,
    )
    write_csv(
        root / "安全合规" / "金融事实性.csv", ["id", "question", "answer"], [[0, "国债风险低。", "是"]], bom=True
    )
    write_csv(
        root / "金融逻辑" / "金融事件解读.csv",
        ["id", "context", "question", "A", "B", "C", "D", "answer"],
        [[0, "公司净利润增长20%。", "增长多少？", "10%", "20%", "30%", "40%", "B"]],
        bom=True,
    )
    items = read_ant_finance(tmp_path)
    assert sorted((i.id, i.answer_type, i.reference) for i in items) == [
        ("安全合规/金融事实性/0", "boolean", "是"),
        ("金融认知/金融情绪识别/0", "choice", "B"),
        ("金融逻辑/金融事件解读/0", "choice", "B"),
    ]
    assert next(i for i in items if i.context).choices == {"A": "10%", "B": "20%", "C": "30%", "D": "40%"}
    assert [i.id for i in read_ant_finance(tmp_path, labelled=False)] == ["金融认知/金融情绪识别/1"]
    write_csv(root / "安全合规" / "bad.csv", ["id", "question", "answer"], [[0, "q", "也许"]], bom=True)
    with pytest.raises(InputError, match="bad.csv line 2: column 'answer' must be 是 or 否"):
        read_ant_finance(tmp_path)


def test_fineval_needs_its_subject_map(tmp_path):
    write_csv(
        tmp_path / "SUFE" / "val" / "banking_val.csv",
        ["id", "question", "A", "B", "C", "D", "answer"],
        [[0, "存款准备金属于____。", "财政政策", "货币政策", "产业政策", "收入政策", "B"]],
    )
    with pytest.raises(InputError, match="subject_map.json: file not found"):
        read_fineval(tmp_path)
    write_json(
        tmp_path / "SUFE" / "subject_map.json",
        {"banking": {"name": "banking", "ch": "银行", "en": "Banking", "subject": "金融"}},
    )
    (item,) = read_fineval(tmp_path)
    assert (item.id, item.category, item.reference) == ("banking/0", "金融", "B")


def test_financeiq_unnamed_index_column_and_nfkc_category(tmp_path):
    write_csv(
        tmp_path / "test" / "注册会计师（CPA）.csv",
        ["", "Question", "A", "B", "C", "D", "Answer"],
        [[0, "下列属于流动资产的是（ ）。", "存货", "厂房", "商誉", "专利", "A"]],
    )
    (item,) = read_financeiq(tmp_path)
    assert (item.id, item.category, item.choices["A"]) == ("注册会计师(CPA)/0", "注册会计师(CPA)", "存货")
    write_csv(
        tmp_path / "dev" / "x.csv", ["", "Question", "A", "B", "C", "D", "Answer"], [[0, "q", "a", "b", "c", "d", "E"]]
    )
    with pytest.raises(InputError, match="x.csv line 2: answer 'E' is not one of the options ABCD"):
        read_financeiq(tmp_path, "dev")


def test_csv_with_extra_cells_is_malformed(tmp_path):
    path = tmp_path / "sent_valid.csv"
    path.write_text("text,label\nfine,1\ntoo,many,cells\n", encoding="utf-8")
    with pytest.raises(InputError, match="sent_valid.csv line 3: 3 cells but the header has 2"):
        load_tfns(tmp_path)


# --- FinCUGE -------------------------------------------------------------------------------------------------


def test_fincuge_task_layouts(tmp_path):
    write_json(tmp_path / "finfe" / "eval_list.json", [["稳了，明天涨停", 2]])
    write_json(tmp_path / "finre" / "eval_list.json", [["甲公司", "乙公司", "收购", "甲公司收购乙公司。"]])
    write_json(tmp_path / "finese" / "eval_list.json", [["77", "某文本", "其他", "NaN"]])
    write_json(tmp_path / "finnsp" / "eval_list.json", [["ab12", "", "某平台逾期", "某平台;某集团", "1", "某平台"]])
    items = {i.meta["task"]: i for i in read_fincuge(tmp_path)}
    assert (items["finfe"].reference, items["finfe"].answer_type, items["finfe"].category) == ("2", "label", "积极")
    assert (items["finre"].reference, items["finre"].answer_type) == ("收购", "label")
    assert "实体1：甲公司" in items["finre"].question and "收购" in items["finre"].labels
    assert (items["finese"].id, items["finese"].reference) == ("finese/77", "无")
    assert (items["finnsp"].id, items["finnsp"].reference) == ("finnsp/ab12", "某平台")
    assert [i.id for i in read_fincuge(tmp_path / "finfe")] == ["finfe/0"]
    write_json(tmp_path / "finre" / "eval_list.json", [["甲公司", "乙公司"]])
    with pytest.raises(InputError) as exc:
        read_fincuge(tmp_path, tasks=["finre"])
    assert "finre/eval_list.json row 0: expected a list [head, tail, relation, text]" in one_line(exc)
    with pytest.raises(InputError, match="FinCUGE task 'nope' is unknown"):
        read_fincuge(tmp_path, tasks=["nope"])


# --- instruction sets ----------------------------------------------------------------------------------------


def test_fi500k_split_is_a_deterministic_tenth():
    users = [f"Question number {i}: what is a bond ladder?" for i in range(3000)]
    test = [u for u in users if fi500k_split(u) == "test"]
    assert 0.08 < len(test) / len(users) < 0.12
    # Deterministic means the same in another process (another hash seed): the split is a held-out set on disk.
    code = (
        "import json; from finr1_core.formats import fi500k_split; "
        "print(json.dumps([fi500k_split(f'Question number {i}: what is a bond ladder?') for i in range(3000)]))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "4321"}
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert json.loads(other.stdout) == [fi500k_split(u) for u in users]
    assert fi500k_split("What is EBITDA?") == fi500k_split("  what is EBITDA ")  # normalised text decides


def test_fi500k_and_financeqt_rows(tmp_path):
    rows = [
        {"system": "S", "user": "What is a put option?", "assistant": "The right to sell."},
        {"system": "S", "user": "What is a put option?", "assistant": "The right to sell."},
        {"system": "", "user": "Define beta.", "assistant": "Sensitivity to the market."},
    ]
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    items = read_fi500k(path)
    assert len(items) == 2 and items[0].id == content_id("S", "What is a put option?")
    assert items[1].category == "(no system prompt)"
    path.write_text(json.dumps({"system": "S", "assistant": "x"}) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="train.jsonl line 1: missing or empty field 'user'"):
        read_fi500k(path)
    qt = tmp_path / "qt.json"
    write_json(qt, [{"context": "SMA crossover", "question": "Write it.", "answer": "def f(): pass"}])
    (item,) = read_financeqt(qt)
    assert (item.answer_type, item.context) == ("code", "SMA crossover")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "题目：下列属于货币政策工具的是（ ）。\nA. 税率\nB. 公开市场操作\nC. 财政支出\nD. 国债\n答案：B\n解析：略",
            ("下列属于货币政策工具的是（ ）。", "B", "choice", 4),
        ),
        ("毛利率为（ ）。\nA、30%\nB、70%\n【答案】A", ("毛利率为（ ）。", "A", "choice", 2)),
        (
            "判断题：市盈率是股价与每股收益之比。\n答案：正确",
            ("判断题：市盈率是股价与每股收益之比。", "是", "boolean", 0),
        ),
        (
            "简答：什么是久期？\n参考答案：债券现金流的加权平均期限。",
            ("简答：什么是久期？", "债券现金流的加权平均期限", "text", 0),
        ),
        (
            "多选：属于衍生品的有\n(A) 期货\n(B) 期权\n(C) 股票\n正确答案：AB",
            ("多选：属于衍生品的有", "AB", "choice", 3),
        ),
    ],
)
def test_fincorpus_exam_parser(text, expected):
    parsed = parse_exam_text(text)
    assert (parsed["question"], parsed["reference"], parsed["answer_type"], len(parsed["choices"] or {})) == expected


def test_fincorpus_skips_texts_without_answers(tmp_path):
    path = tmp_path / "fin_exam.jsonl"
    path.write_text(
        json.dumps({"text": "第一章 概述", "meta": {"source": "x"}}, ensure_ascii=False)
        + "\n"
        + json.dumps({"text": "问：复利是什么？\n答案：利滚利。", "meta": {"source": "x"}}, ensure_ascii=False)
        + "\n",
        encoding="utf-8",
    )
    items, skipped = read_fincorpus(path)
    assert skipped == 1 and [i.reference for i in items] == ["利滚利"]


def test_finpee_schema_errors(tmp_path):
    path = tmp_path / "finpee.jsonl"
    path.write_text(
        json.dumps({"id": "1", "question": "q", "answer": "3"})
        + "\n"
        + json.dumps({"id": "1", "question": "q", "answer": "3"})
        + "\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError, match="finpee.jsonl line 2: duplicate id '1'"):
        read_finpee(path)
    path.write_text(
        json.dumps({"id": "2", "question": "q", "answer": "B", "answer_type": "choice"}) + "\n", encoding="utf-8"
    )
    with pytest.raises(InputError, match="a choice item needs field 'choices'"):
        read_finpee(path)
    path.write_text("{not json}\n", encoding="utf-8")
    with pytest.raises(InputError, match="finpee.jsonl line 1: not valid JSON"):
        read_finpee(path)


# --- prompts -------------------------------------------------------------------------------------------------


def test_distillation_prompts_follow_recipe_2(tmp_path):
    (rec,) = read_finqa(write_json(tmp_path / "train.json", [OFFICIAL]))
    (message,) = prompts.finqa_distill(rec)
    assert message["role"] == "user"
    text = message["content"]
    assert text.startswith("Please answer the question based on all the information provided below:")
    for label in ("Document:", "ID:", "Previous Text:", "Table Data:", "Following Text:", "Question:"):
        assert label in text
    assert "Please use \\boxed{} to wrap the final answer." in text
    assert text.endswith('-Add a "\\n" at the beginning of each output before generating data')
    item = read_tfns(write_csv(tmp_path / "t.csv", ["text", "label"], [["$AAA up", 1]]))[0]
    tfns = prompts.tfns_distill(item)[0]["content"]
    assert tfns.startswith("Below is a finance-related tweet. Please analyze its sentiment.")
    assert '"0"=Bearish "1"=Bullish "2"=Neutral' in tfns and "Requirements:" in tfns
    free = prompts.instruction_distill(
        read_fi500k(
            write_json(tmp_path / "f.json", [{"system": "", "user": "Explain leverage.", "assistant": "Debt."}])
        )[0],
        language="en",
    )[0]["content"]
    assert "\\boxed" not in free and free.endswith("before generating data")


def test_evaluation_prompt_variants_differ_only_in_the_length_line(tmp_path):
    (rec,) = read_finqa(write_json(tmp_path / "test.json", [OFFICIAL]))
    faithful = prompts.finqa_eval(rec, "faithful")[0]["content"]
    clean = prompts.finqa_eval(rec, "clean")[0]["content"]
    assert "not be less than 2048 tokens" in faithful and "2048" not in clean
    assert faithful.replace(" " + prompts.FINQA_EVAL_LENGTH_LINE, "") == clean
    assert "[['', '2020', '2019'], ['revenue', '$ 120', '$ 100']]" in clean  # table as a Python list of rows
    assert "Add a" not in faithful  # the distillation note is not an evaluation instruction
    with pytest.raises(ValueError):
        prompts.finqa_eval(rec, "fancy")


def test_convfinqa_prompt_has_wikitable_and_gold_history(tmp_path):
    row = {
        "id": "Single_ZZZ/2020/page_9.pdf-1",
        "questions": ["a?", "b?"],
        "programs": ["ans = 1", "ans = 2"],
        "answer": 2,
        "text": "t",
        "table": "x | 1 & 2",
    }
    turns = read_convfinqa(write_json(tmp_path / "c.json", [row]))
    text = prompts.convfinqa_eval(turns[1])[0]["content"]
    assert "<table class='wikitable'><tr><td>1</td><td>x</td><td>1 &amp; 2</td></tr></table>" in text
    assert "Q1: a?\nA1: 1" in text and text.index("Last question: b?") > text.index("A1: 1")


# --- decontamination -----------------------------------------------------------------------------------------


def test_normalisation_and_tokens():
    assert normalize_text("  What's the ROE，（in %）?  ") == "what s the roe in"
    assert normalize_text("ＡＢＣ　１２３") == "abc 123"
    assert tokens("下列说法 correct?") == ["下", "列", "说", "法", "correct"]


def test_eval_index_exact_near_page_and_unrelated():
    index = EvalIndex()
    eval_q = "what was the percentage change in the net revenue of the utility segment between 2014 and 2015?"
    index.add(eval_q, source="finqa", page="ETR/2016/page_23.pdf")
    index.add("下列信用形式中，不属于直接信用的是哪一项？请从四个选项中选出正确答案。", source="fineval")
    assert (
        index.check("What was the percentage change in the NET revenue of the utility segment between 2014 and 2015")
        == "text:finqa"
    )
    near = "what was the percentage change in the net revenue of the utility segment between 2013 and 2015?"
    assert index.check(near).startswith("ngram:")
    assert index.check("下列信用形式中，不属于直接信用的是哪一项？请从四个选项中选出正确的答案。").startswith("ngram:")
    assert index.check("how many employees did the company have at year end?") is None
    assert index.check("下列关于商业银行资本充足率的说法中，正确的是哪一项？") is None
    assert index.check("unrelated", page="ETR/2016/page_23.pdf") == "page:finqa"
    loose = EvalIndex(threshold=0.0)
    loose.add(eval_q, source="finqa")
    assert loose.check("tell me what was the percentage change in the net revenue of the utility in 2019") is not None
    assert index.counts == {"finqa": 1, "fineval": 1}


# --- the real files in ../shared/data -------------------------------------------------------------------------


@needs_shared
def test_shared_finqa_554_unique_items_with_exe_ans_gold():
    records = load_finqa(SHARED / "finqa", "test")
    assert len(records) == 554 and len({r.id for r in records}) == 554
    assert Counter(r.answer_type for r in records) == {"numeric": 542, "boolean": 12}
    simplified = json.loads((SHARED / "finqa" / "test_500.json").read_text())
    assert {r.id: r.reference for r in records}["INTC/2015/page_41.pdf-4"] == "0.14464"
    assert len(simplified) == 500


@needs_shared
def test_shared_convfinqa_turns_and_programs_reproduce_the_answers():
    turns = load_convfinqa(SHARED / "convfinqa", "dev")
    assert len(turns) == 1490 and len({t.conv_id for t in turns}) == 421
    rows = json.loads((SHARED / "convfinqa" / "convfinqa_dev.json").read_text())
    assert all(gold_text(evaluate_program(r["programs"][-1]))[0] == gold_text(r["answer"])[0] for r in rows)
    first = [t for t in turns if t.conv_id == "Single_MRO/2007/page_134.pdf-1"]
    assert [t.reference for t in first] == ["60.94000", "25.14000", "35.80000", "25.14000", "1.42403"]


@needs_shared
def test_shared_csv_sets_counts():
    tfns = read_tfns(SHARED / "tfns" / "sent_valid.csv")
    assert len(tfns) == 2388 and Counter(i.reference for i in tfns) == {"0": 347, "1": 475, "2": 1566}
    ant = read_ant_finance(SHARED / "ant_finance")
    assert len(ant) == 2343 and len({i.category for i in ant}) == 33
    assert len(read_ant_finance(SHARED / "ant_finance", labelled=None)) == 8444
    assert {i.reference for i in ant if i.category == "安全合规/金融合规性"} == {"否"}
    fineval = read_fineval(SHARED / "fineval", "val")
    assert len(fineval) == 1071 and set(Counter(i.category for i in fineval)) == {"会计", "金融", "经济", "证书"}
    assert len(read_fineval(SHARED / "fineval", "dev")) == 170
    financeiq = read_financeiq(SHARED / "financeiq", "test")
    assert len(financeiq) == 7123 and len({i.id for i in financeiq}) == 7123
    assert Counter(i.category for i in financeiq)["精算师-金融数学"] == 88
    assert len(read_financeiq(SHARED / "financeiq", "dev")) == 50


@needs_shared
def test_shared_fincuge_counts_per_task():
    items = read_fincuge(SHARED / "fincuge", "eval")
    assert Counter(i.meta["task"] for i in items) == {
        "finfe": 2020,
        "finne": 500,
        "finnl": 884,
        "finre": 1489,
        "finnsp": 500,
        "finese": 1781,
        "finqa": 2469,
        "fincqa": 2741,
        "finna": 3600,
    }
    assert len({i.id for i in items}) == 15984


@needs_shared
def test_shared_eval_index():
    index = build_eval_index([SHARED])
    assert index.counts["finqa"] == 600 and index.counts["convfinqa"] == 421 and index.counts["tfns"] == 2388
    assert index.counts["ant_finance"] == 8444 and index.counts["financeiq"] == 7173
    assert index.check("what percentage of total facilities as measured in square feet are leased?") == "text:finqa"
    assert index.check("x", page="MRO/2007/page_134.pdf") == "page:convfinqa"


def test_ant_finance_tasks_are_wrapped_in_fin_evas_own_instruction():
    calc = Item(
        id="金融逻辑/金融数值计算/0",
        question="陈先生将100000元存入银行，年利率为1.5%，2年后，他将获得多少元利息？",
        reference="A",
        answer_type="choice",
        choices={"A": "3000", "B": "23173", "C": "27754", "D": "10943"},
        meta={"task": "金融数值计算"},
    )
    (msg,) = prompts.ant_finance_eval(calc)
    assert msg["content"].startswith("你是数值计算的专家，你可以完成金融数值计算的题目。")
    assert "题目：陈先生将100000元存入银行" in msg["content"] and "\nA.3000\nB.23173\n" in msg["content"]
    assert msg["content"].endswith("答：")
    judge = Item(
        id="x",
        question="某产品保本保息，年化收益20%。",
        reference="否",
        answer_type="boolean",
        meta={"task": "金融合规性"},
    )
    text = prompts.ant_finance_eval(judge)[0]["content"]
    assert (
        "金融合规审核员" in text and "问题是：某产品保本保息" in text and text.endswith("你的输出只能是“是”或者“否”")
    )
    reading = Item(
        id="y",
        question="基金类型？",
        reference="B",
        answer_type="choice",
        context="某基金为混合型。",
        choices={"A": "股票型", "B": "混合型", "C": "债券型", "D": "货币型"},
        meta={"task": "金融产品分析"},
    )
    assert "基金描述：\n某基金为混合型。\n问题：基金类型？" in prompts.ant_finance_eval(reading)[0]["content"]
    other = Item(id="z", question="Q?", reference="是", answer_type="boolean", meta={"task": "not_a_fin_eva_task"})
    assert prompts.ant_finance_eval(other) == prompts.as_is_eval(other)


@needs_shared
def test_every_shared_ant_finance_task_has_a_fin_eva_instruction():
    items = read_ant_finance(SHARED / "ant_finance")
    assert {i.meta["task"] for i in items} <= set(FINEVA_TEMPLATES)
    assert all("{" not in prompts.ant_finance_eval(i)[0]["content"][-40:] for i in items[:50])


def test_tfns_ids_come_from_the_tweet_not_its_row(tmp_path):
    """A copy of the split in another row order gives every tweet the same id (``--ids-from`` picks the same)."""
    rows = [[f"$T{i} tweet number {i}", i % 3] for i in range(40)] + [["$DUP same text", 0], ["$DUP same text", 0]]
    first = read_tfns(write_csv(tmp_path / "a" / "sent_valid.csv", ["text", "label"], rows))
    shuffled = rows[::-1][5:] + rows[::-1][:5]
    second = read_tfns(write_csv(tmp_path / "b" / "sent_valid.csv", ["text", "label"], shuffled))
    by_id = {i.id: (i.question, i.reference) for i in first}
    assert len(by_id) == len(rows)  # duplicates get -2, not the same id
    assert {i.id: (i.question, i.reference) for i in second} == by_id
    assert sum(i.id.endswith("-2") for i in first) == 1
