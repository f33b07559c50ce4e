"""Benchmarks: registry, shipped samples, the real files in ../shared/data, sampling, YAML benchmarks, the Hub."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from finr1_core.errors import ConfigError, InputError
from finr1_evaluate.benchmarks import (
    BENCHMARKS,
    HEADLINE,
    BenchItem,
    Benchmark,
    allocate,
    benchmarks_command,
    get_benchmark,
    load_yaml_benchmark,
    register_benchmark,
    sample_items,
    sample_path,
)

SHARED = Path(os.environ.get("FINR1_SHARED_DATA") or Path(__file__).resolve().parents[3].parent / "shared" / "data")
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} is absent (see DATA.md)")
FINCUGE_COUNTS = {
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


def one_line(exc: pytest.ExceptionInfo) -> str:
    assert "\n" not in str(exc.value)
    return str(exc.value)


def test_registry_and_scoring_strategies():
    assert HEADLINE == ("finqa", "convfinqa", "ant_finance", "tfns", "finance_instruct_500k")
    assert {n for n in BENCHMARKS if n.startswith("fincuge_")} == {f"fincuge_{t}" for t in FINCUGE_COUNTS}
    assert {"fineval", "financeiq"} <= set(BENCHMARKS)
    scoring = {n: b.scoring for n, b in BENCHMARKS.items()}
    assert scoring["ant_finance"] == scoring["fineval"] == scoring["financeiq"] == "rule"
    assert scoring["finqa"] == scoring["tfns"] == scoring["finance_instruct_500k"] == "rule_then_judge"
    assert scoring["fincuge_finna"] == "judge" and scoring["fincuge_finre"] == "rule"
    assert "Bearish" in get_benchmark("tfns").judge_note
    with pytest.raises(InputError, match="unknown benchmark 'finq'"):
        get_benchmark("finq")


@pytest.fixture(scope="module")
def samples() -> dict[str, list[BenchItem]]:
    return {name: get_benchmark(name).load(samples=True) for name in HEADLINE}


@pytest.mark.parametrize(
    ("name", "count"), [("finqa", 6), ("convfinqa", 10), ("ant_finance", 8), ("tfns", 8), ("finance_instruct_500k", 6)]
)
def test_headline_benchmarks_read_their_shipped_samples(samples, name, count):
    items = samples[name]
    assert len(items) == count and len({i.id for i in items}) == count
    for item in items:
        assert [m["role"] for m in item.messages] == ["user"] and item.messages[0]["content"].strip()
        assert item.reference and item.category and item.question
        if item.answer_type == "choice":
            assert item.reference in item.choices
    assert sample_path(name).is_dir()


def test_sample_strata_and_golds(samples):
    finqa = {i.id: i for i in samples["finqa"]}
    assert finqa["DRM/2012/page_88.pdf-2"].reference == "1.50311"  # in both files, kept once
    assert finqa["KVL/2017/page_31.pdf-3"].category == "yes_no"
    conv = {i.id: i for i in samples["convfinqa"]}
    assert [conv[f"Double_SLT/2014/page_19.pdf/turn_{k}"].reference for k in range(4)] == [
        "0.38500",
        "0.36100",
        "0.02400",
        "yes",
    ]
    assert Counter(i.category for i in samples["convfinqa"]) == {"turn_1": 3, "turn_2": 3, "turn_3": 2, "turn_4": 2}
    turn3 = conv["Single_KVL/2017/page_31.pdf-2/turn_3"]
    assert "A1: 1250" in turn3.messages[0]["content"] and "A3: 150" in turn3.messages[0]["content"]
    assert Counter(i.category for i in samples["tfns"]) == {"Bearish": 2, "Bullish": 3, "Neutral": 3}
    assert {i.category for i in samples["ant_finance"]} == {
        "金融认知/金融情绪识别",
        "安全合规/信息安全合规",
        "金融知识/基金从业资格考试",
    }
    boolean = [i for i in samples["ant_finance"] if i.answer_type == "boolean"]
    assert sorted(i.reference for i in boolean) == ["否", "是"]
    # each task in Fin-Eva's own instruction, as Fin-Eva's harness sends it (not a bare utterance)
    assert boolean[0].messages[0]["content"].startswith("你是一名专业的金融行业信息安全审核员")
    assert boolean[0].messages[0]["content"].endswith("你的输出只能是“是”或者“否”")
    choice = next(i for i in samples["ant_finance"] if i.category == "金融知识/基金从业资格考试")
    assert "基金从业资格考试问题是：" in choice.messages[0]["content"] and "\nA." in choice.messages[0]["content"]
    fi = samples["finance_instruct_500k"][0]
    assert fi.messages[0]["content"] == fi.question and fi.meta["system"]  # the instruction as it is, no system turn


def test_prompt_variants():
    faithful = get_benchmark("finqa").load(samples=True)
    clean = get_benchmark("finqa").load(samples=True, prompt_variant="clean")
    assert all("2048 tokens" in i.messages[0]["content"] for i in faithful)
    assert not any("2048" in i.messages[0]["content"] for i in clean)
    tfns = [get_benchmark("tfns").load(samples=True, prompt_variant=v) for v in ("faithful", "clean")]
    assert [i.messages for i in tfns[0]] == [i.messages for i in tfns[1]]
    with pytest.raises(InputError, match="prompt variant must be one of faithful, clean"):
        get_benchmark("tfns").load(samples=True, prompt_variant="long")


def test_bad_data_paths(tmp_path):
    with pytest.raises(InputError, match="data path for benchmark 'tfns' not found"):
        get_benchmark("tfns").load(tmp_path / "nope")
    (tmp_path / "finqa").mkdir()
    with pytest.raises(InputError, match="no 'tfns' folder for benchmark 'tfns'"):
        get_benchmark("tfns").load(tmp_path)
    with pytest.raises(InputError, match="has no Hub copy"):
        get_benchmark("ant_finance").load()
    with pytest.raises(InputError, match="no shipped sample for benchmark 'fineval'"):
        get_benchmark("fineval").load(samples=True)
    (tmp_path / "tfns").mkdir()
    (tmp_path / "tfns" / "sent_valid.csv").write_text("text,label\nok,1\nbad,7\n", encoding="utf-8")
    with pytest.raises(InputError) as exc:
        get_benchmark("tfns").load(tmp_path)
    assert "sent_valid.csv line 3: column 'label' must be 0, 1 or 2" in one_line(exc)


# --- sampling ------------------------------------------------------------------------------------------------


def items_of(categories: dict[str, int]) -> list[BenchItem]:
    return [
        BenchItem(id=f"{c}-{i:05d}", category=c, messages=[], reference="x", answer_type="text")
        for c, n in categories.items()
        for i in range(n)
    ]


def test_allocation_is_proportional_and_exact():
    assert allocate({"0": 347, "1": 475, "2": 1566}, 1000) == {"0": 145, "1": 199, "2": 656}
    assert sum(allocate({"a": 1, "b": 1, "c": 1}, 2).values()) == 2
    assert allocate({"a": 3}, 10) == {"a": 3}


def test_sample_items_stratified_reproducible_and_order_independent():
    items = items_of({"Bearish": 347, "Bullish": 475, "Neutral": 1566})
    first = sample_items(items, 1000, seed=42)
    assert len(first) == 1000
    assert Counter(i.category for i in first) == {"Bearish": 145, "Bullish": 199, "Neutral": 656}
    assert [i.id for i in sample_items(items, 1000, seed=42)] == [i.id for i in first]
    assert {i.id for i in sample_items(list(reversed(items)), 1000, seed=42)} == {i.id for i in first}
    assert {i.id for i in sample_items(items, 1000, seed=7)} != {i.id for i in first}
    small = items_of({"a": 10, "b": 5})
    assert sample_items(small, 1000) == small  # fewer than n: all of them, in order


# --- YAML benchmarks and user adapters -----------------------------------------------------------------------


def write_yaml_bench(tmp_path: Path, **overrides) -> Path:
    (tmp_path / "exam.csv").write_text(
        "qid,subject,question,A,B,C,D,answer\n"
        "1,bank,存款准备金属于哪类政策工具？,财政政策,货币政策,产业政策,收入政策,B\n"
        "2,tax,增值税属于哪类税？,所得税,财产税,流转税,行为税,C\n",
        encoding="utf-8",
    )
    spec = {
        "name": "mini_exam",
        "data": "exam.csv",
        "id_column": "qid",
        "category_column": "subject",
        "choice_columns": ["A", "B", "C", "D"],
        "answer_type": "choice",
        "template": "单项选择题（科目：{subject}），请把答案字母放到 \\boxed{{}} 中。\n{question}\n{choices}",
        **overrides,
    }
    path = tmp_path / "mini_exam.yaml"
    path.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")  # JSON is valid YAML
    return path


def test_yaml_benchmark(tmp_path):
    bench = load_yaml_benchmark(write_yaml_bench(tmp_path))
    items = bench.load()
    assert [(i.id, i.category, i.reference) for i in items] == [("1", "bank", "B"), ("2", "tax", "C")]
    assert items[0].messages[0]["content"] == (
        "单项选择题（科目：bank），请把答案字母放到 \\boxed{} 中。\n存款准备金属于哪类政策工具？\n"
        "A. 财政政策\nB. 货币政策\nC. 产业政策\nD. 收入政策"
    )
    assert items[0].choices == {"A": "财政政策", "B": "货币政策", "C": "产业政策", "D": "收入政策"}
    assert bench.scoring == "rule" and not bench.headline


@pytest.mark.parametrize(
    ("overrides", "error", "expected"),
    [
        ({"answer_kind": "choice"}, ConfigError, "unknown key 'answer_kind': did you mean 'answer_type'?"),
        ({"stepz": 3}, ConfigError, "mini_exam.yaml: unknown key 'stepz': remove or rename it (keys: name, data,"),
        ({"answer_type": "letter"}, ConfigError, "key 'answer_type'"),
        ({"template": "{question} \\boxed{}"}, ConfigError, "key 'template': use named fields"),
        ({"category_column": "topic"}, InputError, "exam.csv line 2: missing column(s) topic"),
        ({"data": "other.csv"}, InputError, "other.csv: data file of YAML benchmark 'mini_exam'"),
    ],
)
def test_yaml_benchmark_errors_name_file_and_key(tmp_path, overrides, error, expected):
    with pytest.raises(error) as exc:
        load_yaml_benchmark(write_yaml_bench(tmp_path, **overrides)).load()
    assert expected in one_line(exc)


def test_yaml_benchmark_typo_is_named_not_reported_as_a_missing_key(tmp_path):
    """Issue 14: `answer_typ` (a typo) used to be reported as "key 'answer_type': Field required" only."""
    path = write_yaml_bench(tmp_path)
    spec = json.loads(path.read_text(encoding="utf-8"))
    spec["answer_typ"] = spec.pop("answer_type")
    path.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_yaml_benchmark(path)
    assert f"{path}: unknown key 'answer_typ': did you mean 'answer_type'?" in one_line(exc)


def test_a_user_adapter_class_registers(tmp_path):
    class Glossary(Benchmark):
        name = "test_glossary"
        scoring = "judge"

        def read_local(self, path, variant):
            rows = json.loads(path.read_text(encoding="utf-8"))
            return [
                BenchItem(
                    id=str(i),
                    category="terms",
                    messages=[{"role": "user", "content": f"Define {term}."}],
                    reference=definition,
                    answer_type="text",
                    question=term,
                )
                for i, (term, definition) in enumerate(rows)
            ]

    path = tmp_path / "glossary.json"
    path.write_text(json.dumps([["duration", "price sensitivity to rates"]]), encoding="utf-8")
    bench = register_benchmark(Glossary())
    try:
        assert get_benchmark("test_glossary").load(path)[0].reference == "price sensitivity to rates"
        with pytest.raises(ValueError, match="already registered"):
            register_benchmark(Glossary())
    finally:
        BENCHMARKS.pop(bench.name)


def test_benchmarks_command():
    result = CliRunner().invoke(benchmarks_command, [])
    assert result.exit_code == 0, result.output
    for name in BENCHMARKS:
        assert name in result.output
    rows = {
        r["name"]: r for r in map(json.loads, CliRunner().invoke(benchmarks_command, ["--json"]).output.splitlines())
    }
    assert rows["finqa"]["headline"] == "yes" and rows["finqa"]["scoring"] == "rule_then_judge"
    assert rows["finance_instruct_500k"]["hub_id"] == "Josephgflowers/Finance-Instruct-500k"


# --- the real files in ../shared/data ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared() -> dict[str, list[BenchItem]]:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent (see DATA.md)")
    names = [
        "finqa",
        "convfinqa",
        "ant_finance",
        "tfns",
        "fineval",
        "financeiq",
        *(f"fincuge_{t}" for t in FINCUGE_COUNTS),
    ]
    return {name: get_benchmark(name).load(SHARED) for name in names}


@needs_shared
def test_shared_counts(shared):
    assert len(shared["finqa"]) == 554
    assert len(shared["convfinqa"]) == 1490 and len({i.id.rsplit("/", 1)[0] for i in shared["convfinqa"]}) == 421
    assert len(shared["ant_finance"]) == 2343 and len({i.category for i in shared["ant_finance"]}) == 33
    assert Counter(i.category for i in shared["tfns"]) == {"Bearish": 347, "Bullish": 475, "Neutral": 1566}
    assert len(shared["fineval"]) == 1071 and len({i.category for i in shared["fineval"]}) == 4
    assert len(shared["financeiq"]) == 7123 and len({i.category for i in shared["financeiq"]}) == 10
    for task, count in FINCUGE_COUNTS.items():
        assert len(shared[f"fincuge_{task}"]) == count
    assert get_benchmark("tfns").load(SHARED / "tfns" / "sent_valid.csv")[5].id == shared["tfns"][5].id


@needs_shared
def test_shared_convfinqa_strata_and_sampling(shared):
    conv = shared["convfinqa"]
    strata = Counter(i.category for i in conv)
    assert strata["turn_1"] == strata["turn_2"] == 421 and sum(strata.values()) == 1490
    chosen = sample_items(conv, 1000, seed=42)
    got = Counter(i.category for i in chosen)
    for category, size in strata.items():
        assert abs(got[category] - 1000 * size / 1490) < 1
    assert [i.id for i in chosen] == [i.id for i in sample_items(conv, 1000, seed=42)]
    assert sample_items(shared["finqa"], 1000) == shared["finqa"]  # 554 < 1000: all of them


# --- the Hub (the in-memory Hub-compatible test server) --------------------------------------------------------


def test_hub_reading(hub_server):
    from huggingface_hub import HfApi

    api = HfApi(endpoint=hub_server.url)
    repo = f"{hub_server.user}/eval-tfns-{os.getpid()}"
    api.create_repo(repo, repo_type="dataset")
    api.upload_file(
        path_or_fileobj=str(sample_path("tfns") / "sent_valid.csv"),
        path_in_repo="sent_valid.csv",
        repo_id=repo,
        repo_type="dataset",
    )
    from_hub = get_benchmark("tfns").load(hub_id=repo)
    assert [(i.id, i.reference, i.messages) for i in from_hub] == [
        (i.id, i.reference, i.messages) for i in get_benchmark("tfns").load(samples=True)
    ]
    repo = f"{hub_server.user}/eval-finqa-{os.getpid()}"
    api.create_repo(repo, repo_type="dataset")
    api.upload_folder(folder_path=str(sample_path("finqa")), repo_id=repo, repo_type="dataset")
    assert len(get_benchmark("finqa").load(hub_id=repo)) == 6


def test_tfns_ids_survive_another_row_order(tmp_path):
    """``--ids-from`` against a copy of TFNS in another row order must pick the same tweets."""
    lines = (sample_path("tfns") / "sent_valid.csv").read_text(encoding="utf-8").splitlines()
    shuffled = tmp_path / "sent_valid.csv"
    shuffled.write_text("\n".join([lines[0], *reversed(lines[1:])]) + "\n", encoding="utf-8")
    original = {i.id: (i.question, i.reference) for i in get_benchmark("tfns").load(samples=True)}
    again = {i.id: (i.question, i.reference) for i in get_benchmark("tfns").load(shuffled)}
    assert again == original and len(original) == len(lines) - 1


def test_benchmark_items_grade_the_same_through_match_item():
    """`run` scores a BenchItem with its fields; the GRPO reward and `match` go through match_item: same verdicts."""
    from finr1_core.answers import match_answer, match_item

    replies = ["\\boxed{B}", "答案：A", "The change is \\boxed{-3.5\\%}.", "Sentiment: bullish", "是", "\\boxed{42}"]
    for name in ("finqa", "convfinqa", "ant_finance", "tfns"):
        for item in get_benchmark(name).load(samples=True):
            for reply in replies:
                by_fields = match_answer(
                    reply, item.reference, item.answer_type, choices=item.choices, labels=item.labels,
                    question=item.question or None,
                )  # fmt: skip
                assert match_item(reply, item) == by_fields, (name, item.id, reply)
