"""Source adapters: shipped samples, the real files in ../shared/data, the Hub, bad inputs, decontamination."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from finr1_core.errors import InputError
from finr1_core.formats import EvalIndex, build_eval_index, fi500k_split
from finr1_core.schemas import SourceItem, to_dataset
from finr1_distill.sources import SOURCES, decontaminate, get_source, sample_path, sources_command

SHARED = Path(os.environ.get("FINR1_SHARED_DATA") or Path(__file__).resolve().parents[3].parent / "shared" / "data")
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} is absent (see DATA.md)")
NEWLINE_NOTE = '-Add a "\\n" at the beginning of each output before generating data'

# RECIPE.md §1: category of each source, and the number of items in the shipped sample.
EXPECTED = {
    "finqa": ("reasoning_business_knowledge", 4),
    "convfinqa": ("reasoning_business_knowledge", 7),
    "tfns": ("reasoning_business_knowledge", 6),
    "fincuge": ("reasoning_business_knowledge", 10),
    "financeiq": ("professional_knowledge", 5),
    "ant_finance": ("business_knowledge", 5),
    "finance_instruct_500k": ("professional_knowledge", 6),
    "fincorpus": ("business_knowledge", 4),
    "financeqt": ("financial_code", 4),
    "finpee": ("professional_knowledge", 4),
    "jsonl": (None, 4),
}


@pytest.fixture(scope="module")
def sample_items() -> dict[str, list[SourceItem]]:
    return {name: list(adapter.load(samples=True)) for name, adapter in SOURCES.items()}


def one_line(exc: pytest.ExceptionInfo) -> str:
    assert "\n" not in str(exc.value)
    return str(exc.value)


def test_registry_has_the_ten_sources_and_jsonl():
    assert list(SOURCES) == list(EXPECTED)
    for adapter in SOURCES.values():
        assert adapter.language in ("en", "zh") and adapter.description and adapter.answer_type


@pytest.mark.parametrize("name", list(EXPECTED))
def test_every_adapter_reads_its_shipped_sample(sample_items, name):
    items = sample_items[name]
    category, count = EXPECTED[name]
    assert len(items) == count
    assert len({i.id for i in items}) == count
    for item in items:
        assert item.id.startswith(f"{name}/") and item.source == name
        if category:
            assert item.category == category
        assert [m.role for m in item.messages] == ["user"]  # no system prompt
        if item.id == "jsonl/q3":  # a user's own messages are sent as given
            continue
        assert item.messages[0].content.rstrip().endswith(NEWLINE_NOTE)
        definite = item.answer_type in ("numeric", "choice", "boolean", "label")
        boxed = "\\boxed{}" in item.messages[0].content
        if definite:
            assert boxed, item.id
            assert item.reference or name == "ant_finance"
        if item.answer_type == "choice":
            assert item.choices and set(item.reference) <= set(item.choices)
    assert to_dataset(SourceItem, items).num_rows == count  # valid rows for the distilled dataset


def test_sample_paths_exist_for_every_source():
    for name in SOURCES:
        assert sample_path(name).is_dir()
    with pytest.raises(InputError, match="no shipped sample"):
        sample_path("nope")


def test_convfinqa_gives_one_item_per_turn_with_the_dialogue_so_far(sample_items):
    turns = [i for i in sample_items["convfinqa"] if i.id.startswith("convfinqa/Single_HPU/2018/page_42.pdf-2/")]
    assert [i.meta["turn"] for i in turns] == [0, 1, 2, 3]
    assert [i.reference for i in turns] == ["612.00000", "548.00000", "64.00000", "0.11679"]
    last = turns[-1].messages[0].content
    assert "Q1: how much net income did harbor pointe report for 2018?\nA1: 612" in last and "A3: 64" in last
    assert "Last question: what growth rate does that increase represent?" in last
    assert "<table class='wikitable'>" in last
    assert all(i.meta["page"] == "HPU/2018/page_42.pdf" for i in turns)
    double = [i for i in sample_items["convfinqa"] if "Double_" in i.id]
    assert [i.reference for i in double] == ["3150.00000", "yes", "0.76508"]


def test_default_splits_avoid_evaluation_material(sample_items):
    ant = sample_items["ant_finance"]
    assert {i.reference for i in ant} == {""}  # 'train' = the unlabelled rows
    labelled = list(get_source("ant_finance").load(samples=True, split="labelled"))
    assert sorted(i.reference for i in labelled) == ["A", "B", "B", "是"]
    assert get_source("financeiq").resolve_split("train") == "dev"
    assert all(fi500k_split(i.meta["question"]) == "train" for i in sample_items["finance_instruct_500k"])


def test_finance_instruct_train_and_test_are_disjoint(tmp_path):
    rows = [{"system": "", "user": f"Explain financial ratio number {i}.", "assistant": "A ratio."} for i in range(60)]
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    adapter = get_source("finance_instruct_500k")
    train = {i.id for i in adapter.load(path)}
    test = {i.id for i in adapter.load(path, split="test")}
    assert train and test and not train & test and len(train | test) == 60


def test_fincuge_task_selection_limit_and_offline_env(monkeypatch, sample_items):
    items = list(get_source("fincuge:finre,finfe").load(samples=True))
    assert Counter(i.meta["task"] for i in items) == {"finre": 1, "finfe": 2}
    assert items[0].answer_type == "label" and items[0].labels
    assert len(list(get_source("tfns").load(samples=True, limit=2))) == 2
    monkeypatch.setenv("FINR1_OFFLINE_SAMPLES", "1")
    assert [i.id for i in get_source("finpee").load()] == [i.id for i in sample_items["finpee"]]


def test_jsonl_user_items(sample_items):
    items = {i.id: i for i in sample_items["jsonl"]}
    assert items["jsonl/q2"].language == "zh" and "B. 发行公司债券" in items["jsonl/q2"].messages[0].content
    assert items["jsonl/q3"].category == "business_knowledge" and items["jsonl/q3"].meta["origin"]
    assert items["jsonl/q4"].labels["positive"] == ["positive", "bullish"]


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ({"id": "a", "question": "q", "answer_type": "number"}, "line 1: field 'answer_type' must be one of"),
        ({"id": "a", "question": "q", "answer_type": "text", "extra": 1}, "line 1: unknown field(s) extra"),
        (
            {
                "id": "a",
                "messages": [{"role": "system", "content": "x"}, {"role": "user", "content": "q"}],
                "answer_type": "text",
            },
            "must not contain a system turn",
        ),
        ({"id": "a", "answer_type": "text"}, "needs a non-empty 'question' or 'messages'"),
        ({"id": "a", "question": "q", "answer_type": "text", "category": "misc"}, "field 'category' must be one of"),
        ({"id": "a", "question": "q", "answer_type": "choice", "choices": {"A": 1}}, "field 'choices.A'"),
    ],
)
def test_jsonl_bad_rows_are_one_line_errors(tmp_path, row, expected):
    path = tmp_path / "mine.jsonl"
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as exc:
        list(get_source("jsonl").load(path))
    assert str(path) in one_line(exc) and expected in str(exc.value)


def test_bad_inputs_name_the_problem(tmp_path):
    with pytest.raises(InputError, match="unknown source 'finqq'"):
        get_source("finqq")
    with pytest.raises(InputError, match="takes no ':x' option"):
        get_source("tfns:x")
    with pytest.raises(InputError, match="source 'tfns' has no split 'dev'"):
        list(get_source("tfns").load(samples=True, split="dev"))
    with pytest.raises(InputError, match="data path for source 'finqa' not found"):
        list(get_source("finqa").load(tmp_path / "missing"))
    with pytest.raises(InputError, match="has no Hub copy"):
        list(get_source("finpee").load())
    csv_path = tmp_path / "sent_train.csv"
    csv_path.write_text("tweet,label\nhello,1\n", encoding="utf-8")
    with pytest.raises(InputError) as exc:
        list(get_source("tfns").load(tmp_path))
    assert f"{csv_path}: missing column(s) 'text'" in one_line(exc)
    bad = tmp_path / "train.json"
    bad.write_text(json.dumps([{"id": "A/1/page_1.pdf-1", "qa": {"question": "q?", "exe_ans": 1}}, {"id": "B"}]))
    with pytest.raises(InputError) as exc:
        list(get_source("finqa").load(tmp_path))
    assert f"{bad} row 1: missing field(s) 'question', 'answer'" in one_line(exc)


def test_sources_command_lists_every_adapter():
    result = CliRunner().invoke(sources_command, [])
    assert result.exit_code == 0, result.output
    for name, adapter in SOURCES.items():
        assert name in result.output and adapter.category in result.output
    assert (
        "Josephgflowers/Finance-Instruct-500k" in result.output and "lumalik/Quant-Trading-Instruct" in result.output
    )
    rows = [json.loads(line) for line in CliRunner().invoke(sources_command, ["--json"]).output.splitlines()]
    assert {r["name"]: r["train_split"] for r in rows}["ant_finance"] == "unlabelled"


# --- decontamination -------------------------------------------------------------------------------------------


def test_decontaminate_drops_exact_near_and_same_page_items(sample_items):
    index = EvalIndex()
    finqa = sample_items["finqa"]
    index.add(finqa[0].meta["question"].upper() + "  ", source="finqa")  # exact after normalisation
    index.add("did the free cash flow increase from 2018 to 2019 for the company?", source="finqa")  # near
    index.add_page("GLX/2016/page_77.pdf", source="convfinqa")  # page
    tweet = sample_items["tfns"][0]
    index.add(tweet.meta["question"], source="tfns")
    reasons: dict[str, str] = {}
    kept, removed = decontaminate([*finqa, *sample_items["tfns"]], index, reasons=reasons)
    assert removed == [finqa[0].id, finqa[1].id, finqa[2].id, tweet.id]
    assert [reasons[i].split(":")[0] for i in removed] == ["text", "page", "ngram", "text"]
    assert len(kept) == len(finqa) + len(sample_items["tfns"]) - 4


def test_eval_index_from_a_shared_data_layout(tmp_path, sample_items):
    root = tmp_path / "data"
    (root / "tfns").mkdir(parents=True)
    tweets = [i.meta["question"] for i in sample_items["tfns"][:2]]
    (root / "tfns" / "sent_valid.csv").write_text(
        "text,label\n" + "".join(f'"{t}",0\n' for t in tweets), encoding="utf-8"
    )
    (root / "finqa").mkdir()
    (root / "finqa" / "test_500.json").write_text(
        json.dumps(
            [
                {
                    "id": "TCM/2015/page_58.pdf-7",
                    "question": "what is x?",
                    "answer": 1.0,
                    "pre_text": [],
                    "post_text": [],
                    "table": [],
                }
            ]
        )
    )
    index = build_eval_index([root])
    kept, removed = decontaminate([*sample_items["tfns"], *sample_items["finqa"], *sample_items["convfinqa"]], index)
    assert len(removed) == 2 + 1 + 3  # two tweets, the TCM FinQA item, the three TCM ConvFinQA turns
    assert all("TCM" in r or r.startswith("tfns/") for r in removed)


@needs_shared
def test_shipped_samples_are_not_in_the_evaluation_sets(sample_items):
    index = build_eval_index([SHARED])
    everything = [i for items in sample_items.values() for i in items]
    kept, removed = decontaminate(everything, index)
    assert removed == []


# --- the real files in ../shared/data (evaluation splits read through the adapters) ---------------------------


@needs_shared
@pytest.mark.parametrize(
    ("name", "split", "count"),
    [
        ("finqa", "test", 554),
        ("convfinqa", "dev", 1490),
        ("tfns", "valid", 2388),
        ("ant_finance", "labelled", 2343),
        ("ant_finance", "unlabelled", 6101),
        ("financeiq", "test", 7123),
        ("fincuge", "eval", 15984),
    ],
)
def test_adapters_on_shared_data(name, split, count):
    items = list(get_source(name).load(SHARED / name, split=split))
    assert len(items) == count and len({i.id for i in items}) == count


# --- the Hub (the in-memory Hub-compatible test server) --------------------------------------------------------


def test_hub_reading_of_original_files_and_tables(hub_server, tmp_path):
    from huggingface_hub import HfApi

    api = HfApi(endpoint=hub_server.url)
    finqa_repo = f"{hub_server.user}/finqa-{os.getpid()}"
    api.create_repo(finqa_repo, repo_type="dataset")
    api.upload_file(
        path_or_fileobj=str(sample_path("finqa") / "train.json"),
        path_in_repo="train.json",
        repo_id=finqa_repo,
        repo_type="dataset",
    )
    items = list(get_source("finqa").load(hub_id=finqa_repo))
    assert [i.id for i in items] == [i.id for i in get_source("finqa").load(samples=True)]

    tfns_repo = f"{hub_server.user}/tfns-{os.getpid()}"
    api.create_repo(tfns_repo, repo_type="dataset")
    api.upload_file(
        path_or_fileobj=str(sample_path("tfns") / "sent_train.csv"),
        path_in_repo="sent_train.csv",
        repo_id=tfns_repo,
        repo_type="dataset",
    )
    from_hub = list(get_source("tfns").load(hub_id=tfns_repo))
    local = list(get_source("tfns").load(samples=True))
    assert [(i.id, i.reference) for i in from_hub] == [(i.id, i.reference) for i in local]

    fi_repo = f"{hub_server.user}/fi500k-{os.getpid()}"
    api.create_repo(fi_repo, repo_type="dataset")
    api.upload_file(
        path_or_fileobj=str(sample_path("finance_instruct_500k") / "train.jsonl"),
        path_in_repo="train.jsonl",
        repo_id=fi_repo,
        repo_type="dataset",
    )
    from_hub = [i.id for i in get_source("finance_instruct_500k").load(hub_id=fi_repo)]
    assert from_hub == [i.id for i in get_source("finance_instruct_500k").load(samples=True)]

    with pytest.raises(InputError) as exc:
        list(get_source("tfns").load(hub_id=f"{hub_server.user}/no-such-set"))
    assert "cannot read from the Hub" in one_line(exc) and "--data PATH" in str(exc.value)


def test_fincuge_train_files_with_a_stray_header_row(tmp_path, caplog):
    """The upstream train files of finne and finnsp (ssymmetry/BBT-FinCUGE-Applications 654d132) each hold one
    row of CSV column names among the data; it is skipped with a warning, and ids keep the row positions."""
    root = tmp_path / "FinCUGE_Publish"
    (root / "finne").mkdir(parents=True)
    rows = [["公司业绩大幅增长", "1.0"], ["trainingSourceData", "Sentiment"], ["股价连续下跌", "0.0"]]
    (root / "finne" / "train_list.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    (root / "finnsp").mkdir()
    header = ["\ufeffid", "title", "text", "entity", "negative", "key_entity"]
    data = ["a1", "标题", "某公司涉嫌诈骗", "某公司", "1", "某公司"]
    (root / "finnsp" / "train_list.json").write_text(json.dumps([header, data], ensure_ascii=False), encoding="utf-8")
    items = list(get_source("fincuge").load(root))
    assert [i.id for i in items] == [
        "fincuge/finne/0",
        "fincuge/finne/2",
        "fincuge/finnsp/a1",
    ]  # finnsp rows carry their own id
    assert "skipped 1 row(s) of column names" in caplog.text
    # A malformed data row is still an error naming the file and row.
    rows[2] = ["股价连续下跌", "0.7"]
    (root / "finne" / "train_list.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(InputError, match=r"finne/train_list.json row 2: score must be"):
        list(get_source("fincuge:finne").load(root))


def test_sources_without_a_hub_copy_say_how_to_get_them():
    with pytest.raises(InputError) as exc:
        list(get_source("fincuge").load())
    assert "git clone https://github.com/ssymmetry/BBT-FinCUGE-Applications" in one_line(exc)
    with pytest.raises(InputError) as exc:
        list(get_source("ant_finance").load())
    assert "no training split" in one_line(exc) and "evaluation set" in one_line(exc)
