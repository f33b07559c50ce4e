"""Artifact refs and lineage: parsing, redaction, dataset and model round trips (Hub test server and local)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from finr1_core import refs
from finr1_core.errors import ArtifactError, ConfigError
from finr1_core.lineage import (
    REDACTED,
    InputRecord,
    Lineage,
    is_secret_key,
    looks_like_token,
    redact,
    render_card,
)
from finr1_core.testing.hub_server import DUMMY_TOKEN

FAKE_OPENAI_KEY = "sk-proj-Zq81mX0pLk27Wnb4Tr9Yv3Hc6Jd5"
FAKE_SECRET = "Qz7xW2mN9pL4kR8tV1bY6cH3jD5fG0sA"  # no known prefix: caught by key name or by shape


def _dataset_dict(n_train: int = 3, offset: int = 0):
    import datasets

    return datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict(
                {"id": [f"r{i + offset}" for i in range(n_train)], "x": [i + offset for i in range(n_train)]}
            ),
            "test": datasets.Dataset.from_dict({"id": ["t0"], "x": [100 + offset]}),
        }
    )


def _lineage(**config) -> Lineage:
    return Lineage.start(
        "finr1-test",
        "0.1.0",
        config={"model": "tiny", "max_tokens": 64, **config},
        inputs=[InputRecord(ref="hf://datasets/src/items@main", revision_sha="a" * 40)],
    )


# --- parse_ref ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "repo_type", "repo_id", "revision", "canonical"),
    [
        ("hf://datasets/org/name", "dataset", "org/name", None, "hf://datasets/org/name"),
        ("hf://datasets/org/name@run-1", "dataset", "org/name", "run-1", "hf://datasets/org/name@run-1"),
        ("  hf://datasets/Org/My.Data_1@feat/x  ", "dataset", "Org/My.Data_1", "feat/x", None),
        ("hf://org/model@" + "b" * 40, "model", "org/model", "b" * 40, None),
        ("hf://models/org/model", "model", "org/model", None, "hf://org/model"),
    ],
)
def test_parse_hub_refs(text, repo_type, repo_id, revision, canonical):
    ref = refs.parse_ref(text, repo_type)
    assert (ref.is_hub, ref.is_local) == (True, False)
    assert (ref.repo_type, ref.repo_id, ref.revision) == (repo_type, repo_id, revision)
    if canonical:
        assert str(ref) == canonical
    assert refs.parse_ref(str(ref), repo_type) == ref


def test_parse_local_refs(tmp_path):
    assert refs.parse_ref("artifacts/distill").path == Path("artifacts/distill")
    assert refs.parse_ref(f"file://{tmp_path}").path == tmp_path
    assert refs.parse_ref(tmp_path, "model").path == tmp_path
    local = refs.parse_ref("runs/out@v1")  # '@' means nothing in a local path
    assert local.is_local and local.revision is None


@pytest.mark.parametrize(
    ("text", "repo_type", "fragment"),
    [
        ("", "dataset", "empty"),
        ("   ", "dataset", "empty"),
        ("hf://", "dataset", "ORG/NAME"),
        ("hf://datasets/org", "dataset", "ORG/NAME"),
        ("hf://datasets/org/name/extra", "dataset", "ORG/NAME"),
        ("hf://datasets/org/na me", "dataset", "not a valid Hub name"),
        ("hf://datasets/org/a--b", "dataset", "not a valid Hub name"),
        ("hf://datasets/org/name@", "dataset", "revision"),
        ("hf://datasets/org/name@bad..rev", "dataset", "revision"),
        ("hf://datasets/org/name@with space", "dataset", "revision"),
        ("hf://spaces/org/app", "dataset", "spaces"),
        ("hf://org/name", "dataset", "hf://datasets/org/name"),
        ("hf://datasets/org/name", "model", "hf://org/name"),
        ("s3://bucket/key", "dataset", "unsupported scheme"),
        ("hf:/datasets/org/name", "dataset", "did you mean hf://"),
    ],
)
def test_bad_refs_give_one_line_config_errors(text, repo_type, fragment):
    with pytest.raises(ConfigError) as info:
        refs.parse_ref(text, repo_type)
    message = str(info.value)
    assert "\n" not in message
    assert fragment in message


# --- redaction ---------------------------------------------------------------------------------


def test_redact_drops_secret_keys_and_token_values(monkeypatch):
    monkeypatch.setenv("MY_SERVICE_TOKEN", "plain-but-secret-value-42")
    config = {
        "api_key": FAKE_SECRET,
        "hf_token": "anything",
        "password": "hunter2",
        "teacher": {
            "api_key_env": "OPENAI_API_KEY",
            "base_url": "https://user:pa55word@example.com/v1?api_key=abc123&x=1",
            "headers": {"Authorization": "Bearer abc", "X-Trace": "ok"},
            "clientSecret": "s",
        },
        "max_tokens": 512,
        "max_new_tokens": 64,
        "tokenizer": "Qwen/Qwen2.5-7B-Instruct",
        "pad_token": "<|endoftext|>",
        "revision": "c" * 40,
        "notes": f"key {FAKE_OPENAI_KEY} and {DUMMY_TOKEN} and plain-but-secret-value-42",
        "values": [FAKE_SECRET, "short", Path("/tmp/x")],
    }
    out = redact(config)
    assert set(out) == {
        "teacher",
        "max_tokens",
        "max_new_tokens",
        "tokenizer",
        "pad_token",
        "revision",
        "notes",
        "values",
    }
    assert out["teacher"]["api_key_env"] == "OPENAI_API_KEY"
    assert out["teacher"]["headers"] == {"X-Trace": "ok"}
    assert "clientSecret" not in out["teacher"]
    assert "pa55word" not in out["teacher"]["base_url"] and "abc123" not in out["teacher"]["base_url"]
    assert out["teacher"]["base_url"].startswith("https://user:")
    assert out["revision"] == "c" * 40
    assert out["values"] == [REDACTED, "short", "/tmp/x"]
    for secret in (FAKE_OPENAI_KEY, DUMMY_TOKEN, "plain-but-secret-value-42"):
        assert secret not in json.dumps(out)
    assert config["api_key"] == FAKE_SECRET  # the input is untouched


@pytest.mark.parametrize(
    ("key", "secret"),
    [("api_key", True), ("OPENAI_API_KEY", True), ("hf_token", True), ("accessToken", True),
     ("Authorization", True), ("db_password", True), ("api_key_env", False), ("max_tokens", False),
     ("tokenizer_name", False), ("eos_token", False), ("num_keys", True), ("model", False)],
)  # fmt: skip
def test_is_secret_key(key, secret):
    assert is_secret_key(key) is secret


@pytest.mark.parametrize(
    ("value", "token"),
    [(FAKE_OPENAI_KEY, True), (DUMMY_TOKEN, True), (FAKE_SECRET, True), ("Bearer abcdefgh12345", True),
     ("d" * 40, False), ("OPENAI_COMPATIBLE_PROVIDER_API_KEY_2", False), ("artifacts/distill/run-0001", False),
     ("Qwen/Qwen2.5-7B-Instruct", False), ("123e4567-e89b-12d3-a456-426614174000", False)],
)  # fmt: skip
def test_looks_like_token(value, token):
    assert looks_like_token(value) is token


def test_lineage_redacts_config_on_creation_and_assignment():
    lineage = _lineage(api_key=FAKE_SECRET)
    assert "api_key" not in lineage.config and lineage.config["max_tokens"] == 64
    lineage.config = {"nested": {"token": "x", "ok": FAKE_OPENAI_KEY}}
    assert lineage.config == {"nested": {"ok": REDACTED}}
    again = Lineage.from_json(lineage.finish(counts={"train": 1}).to_json())
    assert again.counts == {"train": 1} and again.finished_at is not None


def test_card_has_front_matter_inputs_counts_and_config():
    lineage = _lineage().finish(counts={"train": 3})
    card = render_card(lineage, kind="dataset", title="demo", metadata={"license": "apache-2.0"}, body="Body text.")
    assert card.startswith("---\nlicense: apache-2.0\ntags:\n- finr1\n- finr1-test\n---\n\n# demo\n")
    assert "Body text." in card and "| train | 3 |" in card
    assert "`hf://datasets/src/items@main` at `" + "a" * 40 + "`" in card
    assert "max_tokens: 64" in card


# --- datasets on the Hub test server -----------------------------------------------------------


def test_dataset_round_trip_on_branch(hub_server, hub_repo_id):
    import datasets

    ref = f"hf://datasets/{hub_repo_id}@run-1"
    out = refs.save_dataset_ref(_dataset_dict(), ref, _lineage(), card_body="Tiny test data.")

    branches = hub_server.branches(hub_repo_id, "dataset")
    assert branches["run-1"] == out.revision_sha  # the branch was created and holds the commit
    assert set(hub_server.files(hub_repo_id, "dataset", "main")) == {".gitattributes"}  # main untouched
    files = hub_server.files(hub_repo_id, "dataset", "run-1")
    assert set(files) == {
        ".gitattributes",
        "README.md",
        "lineage.json",
        "data/train-00000-of-00001.parquet",
        "data/test-00000-of-00001.parquet",
    }
    assert hub_server.lfs_paths(hub_repo_id, "dataset", "run-1") == {p for p in files if p.endswith(".parquet")}
    card = files["README.md"].decode()
    assert "path: data/train-*" in card and "Tiny test data." in card
    assert json.loads(files["lineage.json"])["counts"] == {"train": 3, "test": 1}

    data, record = refs.load_dataset_ref(ref)
    assert record == InputRecord(ref=ref, revision_sha=out.revision_sha)
    assert record.pinned == f"hf://datasets/{hub_repo_id}@{out.revision_sha}"
    assert data["train"]["x"] == [0, 1, 2] and data["test"]["id"] == ["t0"]
    test_split, _ = refs.load_dataset_ref(ref, split="test")
    assert test_split.num_rows == 1

    lineage = refs.read_lineage(ref)
    assert lineage is not None and lineage.counts == {"train": 3, "test": 1} and lineage.output == ref
    assert lineage.inputs[0].revision_sha == "a" * 40
    # Plain `datasets` finds the splits from the card too.
    plain = datasets.load_dataset(hub_repo_id, revision="run-1")
    assert sorted(plain) == ["test", "train"] and plain["train"]["x"] == [0, 1, 2]


def test_old_revision_reads_old_data_and_stale_files_go(hub_server, hub_repo_id):
    import datasets

    ref = f"hf://datasets/{hub_repo_id}"
    first = refs.save_dataset_ref(_dataset_dict(3), ref, _lineage())
    only_train = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"id": ["n"], "x": [42]})})
    second = refs.save_dataset_ref(only_train, ref, _lineage())
    assert first.revision_sha != second.revision_sha
    assert hub_server.branches(hub_repo_id, "dataset") == {"main": second.revision_sha}

    new, new_record = refs.load_dataset_ref(ref)
    assert list(new) == ["train"] and new["train"]["x"] == [42]
    assert new_record.revision_sha == second.revision_sha
    assert not any(p.startswith("data/test-") for p in hub_server.files(hub_repo_id, "dataset"))

    old, old_record = refs.load_dataset_ref(f"{ref}@{first.revision_sha}")
    assert sorted(old) == ["test", "train"] and old["train"]["x"] == [0, 1, 2]
    assert old_record.revision_sha == first.revision_sha
    with pytest.raises(ArtifactError, match="cannot write to a commit sha"):
        refs.save_dataset_ref(only_train, f"{ref}@{first.revision_sha}", _lineage())


def test_splits_with_different_columns_get_one_config_each(hub_repo_id, tmp_path):
    import datasets

    data = datasets.DatasetDict(
        {
            "sft": datasets.Dataset.from_dict({"messages": [[{"role": "user", "content": "hi"}]]}),
            "rl": datasets.Dataset.from_dict({"prompt": ["p1", "p2"], "solution": ["1", "2"]}),
            "rejected": datasets.Dataset.from_dict(
                {"id": []}, features=datasets.Features({"id": datasets.Value("string")})
            ),
        }
    )
    for ref in (f"hf://datasets/{hub_repo_id}@judge", str(tmp_path / "judged")):
        refs.save_dataset_ref(data, ref, _lineage())
        loaded, _ = refs.load_dataset_ref(ref)
        assert {k: v.num_rows for k, v in loaded.items()} == {"sft": 1, "rl": 2, "rejected": 0}
        assert loaded["sft"][0]["messages"] == [{"role": "user", "content": "hi"}]
        assert loaded["rl"].column_names == ["prompt", "solution"]
    # Without a config name, plain `datasets` reads the default (first) config.
    assert list(datasets.load_dataset(str(tmp_path / "judged"))) == ["sft"]


def test_all_empty_dataset_keeps_its_schema(tmp_path):
    import datasets

    features = datasets.Features({"id": datasets.Value("string"), "score": datasets.Value("float32")})
    empty = datasets.DatasetDict({"rejected": datasets.Dataset.from_dict({"id": [], "score": []}, features=features)})
    refs.save_dataset_ref(empty, str(tmp_path / "none"), _lineage())
    loaded, _ = refs.load_dataset_ref(str(tmp_path / "none"), split="rejected")
    assert loaded.num_rows == 0 and loaded.features == features


def test_hub_errors_are_one_line(hub_server, hub_repo_id):
    with pytest.raises(ArtifactError) as missing_repo:
        refs.load_dataset_ref(f"hf://datasets/{hub_repo_id}")
    assert "no such dataset repo" in str(missing_repo.value) and "\n" not in str(missing_repo.value)
    refs.save_dataset_ref(_dataset_dict(), f"hf://datasets/{hub_repo_id}", _lineage())
    with pytest.raises(ArtifactError, match="revision 'nope' does not exist"):
        refs.load_dataset_ref(f"hf://datasets/{hub_repo_id}@nope")
    with pytest.raises(ArtifactError, match="no split 'dev'"):
        refs.load_dataset_ref(f"hf://datasets/{hub_repo_id}", split="dev")
    assert refs.read_lineage(f"hf://datasets/{hub_repo_id}@nope") is None
    assert refs.read_lineage(f"hf://datasets/{hub_repo_id}-absent") is None
    assert refs.read_lineage(f"hf://datasets/{hub_repo_id}") is not None


def test_hub_write_refuses_foreign_content(hub_server, hub_repo_id):
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(hub_repo_id, repo_type="dataset")
    api.upload_file(path_or_fileobj=b"a,b\n1,2\n", path_in_repo="mine.csv", repo_id=hub_repo_id, repo_type="dataset")
    with pytest.raises(ArtifactError, match="finr1 did not write"):
        refs.save_dataset_ref(_dataset_dict(), f"hf://datasets/{hub_repo_id}", _lineage())
    # A new branch is fine: it is the run's own.
    out = refs.save_dataset_ref(_dataset_dict(), f"hf://datasets/{hub_repo_id}@finr1-run", _lineage())
    assert "mine.csv" not in hub_server.files(hub_repo_id, "dataset", out.revision_sha)
    assert "mine.csv" in hub_server.files(hub_repo_id, "dataset", "main")


# --- datasets in local directories -------------------------------------------------------------


def test_local_dataset_round_trip(tmp_path):
    import datasets

    target = tmp_path / "artifacts" / "distill"
    work = refs.work_dir(str(target))
    assert work == target / ".finr1-work" and work.is_dir()
    (work / "results.jsonl").write_text("{}\n")
    assert refs.read_lineage(str(target)) is None  # only resume state: not complete
    with pytest.raises(ArtifactError, match="directory is empty"):
        refs.load_dataset_ref(str(target))

    out = refs.save_dataset_ref(_dataset_dict(), str(target), _lineage(), card_body="Local body.")
    files = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
    assert files == [
        "README.md",
        "data/test-00000-of-00001.parquet",
        "data/train-00000-of-00001.parquet",
        "lineage.json",
    ]
    assert not work.exists()  # resume state removed after the final write
    assert sorted(p.name for p in target.parent.iterdir()) == ["distill"]  # no staging leftovers
    assert out.location == str(target.absolute())

    plain = datasets.load_dataset(str(target))
    assert sorted(plain) == ["test", "train"] and plain["train"]["id"] == ["r0", "r1", "r2"]
    data, record = refs.load_dataset_ref(str(target))
    assert data["train"]["x"] == [0, 1, 2]
    assert record.revision_sha == out.revision_sha and len(record.revision_sha or "") == 40
    assert refs.read_lineage(str(target)).counts == {"train": 3, "test": 1}

    # A second write replaces the whole directory and gets a new revision.
    second = refs.save_dataset_ref(_dataset_dict(5, offset=10), str(target), _lineage())
    assert second.revision_sha != out.revision_sha
    assert refs.load_dataset_ref(str(target), split="train")[0]["x"] == [10, 11, 12, 13, 14]


def test_local_write_refuses_foreign_directory_and_reads_plain_files(tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(ArtifactError, match="finr1 did not write"):
        refs.save_dataset_ref(_dataset_dict(), str(foreign), _lineage())
    assert (foreign / "notes.txt").read_text() == "keep me"

    jsonl = tmp_path / "items.jsonl"
    jsonl.write_text('{"q": "a"}\n{"q": "b"}\n')
    data, record = refs.load_dataset_ref(str(jsonl))
    assert data["train"]["q"] == ["a", "b"] and record.revision_sha
    with pytest.raises(ArtifactError, match="no such directory"):
        refs.load_dataset_ref(str(tmp_path / "absent"))


def test_hub_work_dir_is_keyed_and_removed_after_write(hub_repo_id, tmp_path, monkeypatch):
    monkeypatch.setenv("FINR1_CACHE", str(tmp_path / "cache"))
    ref = f"hf://datasets/{hub_repo_id}@run-7"
    work = refs.work_dir(ref)
    assert work.is_dir() and work.is_relative_to(tmp_path / "cache")
    assert work != refs.work_dir(f"hf://datasets/{hub_repo_id}@run-8")
    assert refs.work_dir(f"hf://{hub_repo_id}@run-7") != work  # a model ref of the same name
    refs.save_dataset_ref(_dataset_dict(), ref, _lineage())
    assert not work.exists()


# --- secrets -------------------------------------------------------------------------------------


def test_secrets_never_reach_lineage_or_card(hub_server, hub_repo_id, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_OPENAI_KEY)
    lineage = _lineage(
        api_key=FAKE_SECRET,
        teacher={"api_key_env": "OPENAI_API_KEY", "key": FAKE_OPENAI_KEY, "extra_headers": {"authorization": "x"}},
        note=f"called with {FAKE_OPENAI_KEY}",
        hub_token=DUMMY_TOKEN,
    )
    secrets = (FAKE_OPENAI_KEY, FAKE_SECRET, DUMMY_TOKEN)
    refs.save_dataset_ref(_dataset_dict(), str(tmp_path / "out"), lineage, card_body="body")
    refs.save_dataset_ref(_dataset_dict(), f"hf://datasets/{hub_repo_id}@s", lineage, card_body="body")
    texts = [(tmp_path / "out" / name).read_text() for name in ("lineage.json", "README.md")]
    hub_files = hub_server.files(hub_repo_id, "dataset", "s")
    texts += [hub_files["lineage.json"].decode(), hub_files["README.md"].decode()]
    for text in texts:
        for secret in secrets:
            assert secret not in text
        assert "OPENAI_API_KEY" in text  # the env var *name* is kept


# --- models --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    config = transformers.Qwen2Config(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=256,
    )
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(config)
    folder = tmp_path_factory.mktemp("tiny-qwen2")
    model.save_pretrained(folder)
    (folder / "README.md").write_text("trainer card, replaced by finr1's")
    return folder


def _logits(folder_or_id, **kwargs):
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder_or_id, **kwargs)
    with torch.no_grad():
        return model(torch.tensor([[1, 2, 3, 4]])).logits


def test_model_round_trip_on_hub(hub_server, hub_repo_id, tiny_model_dir):
    import torch

    ref = f"hf://{hub_repo_id}@sft-run"
    lineage = Lineage.start(
        "finr1-train",
        "0.1.0",
        config={"lr": 1e-5},
        inputs=[
            InputRecord(ref="hf://org/base@main", revision_sha="e" * 40),
            InputRecord(ref="hf://datasets/org/judged@v1", revision_sha="f" * 40),
        ],
    )
    out = refs.save_model_ref(tiny_model_dir, ref, lineage, card_body="A tiny model.")
    files = hub_server.files(hub_repo_id, "model", "sft-run")
    assert {"config.json", "model.safetensors", "generation_config.json", "README.md", "lineage.json"} <= set(files)
    assert "model.safetensors" in hub_server.lfs_paths(hub_repo_id, "model", "sft-run")
    card = files["README.md"].decode()
    assert "trainer card" not in card and "A tiny model." in card
    assert "base_model: org/base" in card and "- org/judged" in card

    expected = _logits(tiny_model_dir)
    assert torch.allclose(_logits(hub_repo_id, revision="sft-run"), expected)
    folder, record = refs.resolve_model_ref(ref)
    assert record.revision_sha == out.revision_sha
    assert torch.allclose(_logits(folder), expected)
    assert refs.read_lineage(ref).inputs[1].ref == "hf://datasets/org/judged@v1"
    assert refs.read_lineage(f"hf://{hub_repo_id}@other") is None


def test_model_round_trip_local(tmp_path, tiny_model_dir):
    import torch

    target = tmp_path / "models" / "sft"
    out = refs.save_model_ref(tiny_model_dir, str(target), _lineage())
    assert (target / "model.safetensors").is_file() and (tiny_model_dir / "model.safetensors").is_file()
    folder, record = refs.resolve_model_ref(str(target))
    assert folder == target and record.revision_sha == out.revision_sha
    assert torch.allclose(_logits(folder), _logits(tiny_model_dir))
    # A model saved straight into its output folder is published in place.
    in_place = tmp_path / "in-place"
    shutil.copytree(tiny_model_dir, in_place)
    refs.save_model_ref(in_place, str(in_place), _lineage())
    assert refs.read_lineage(str(in_place)) is not None and (in_place / "model.safetensors").is_file()
    with pytest.raises(ArtifactError, match="no such directory"):
        refs.resolve_model_ref(str(tmp_path / "absent"))
    with pytest.raises(ArtifactError, match="no such model repo"):
        refs.resolve_model_ref("hf://finr1-test/absent-model")


# --- the store: one interface for local folders and Hub branches -----------------------------------------------


@pytest.fixture
def quick_retries(monkeypatch):
    """Retry Hub calls without waiting (the policy's numbers are the production ones otherwise)."""
    monkeypatch.setattr(refs, "HUB_RETRY", refs.RetryPolicy(retries=3, initial_s=0.0, max_s=0.0))


@pytest.mark.parametrize("where", ["local", "hub"])
def test_store_lists_reads_and_commits_the_same_way_locally_and_on_the_hub(where, hub_repo_id, tmp_path):
    ref = str(tmp_path / "out") if where == "local" else f"hf://datasets/{hub_repo_id}@run-1"
    store = refs.open_store(ref)
    assert not store.list().exists and store.read("a.txt") is None

    def add(listing):
        assert listing.fresh == (where == "hub")  # a branch created by this write: what it holds is inherited
        refs.check_writable(listing)
        return refs.Change(add={"a.txt": b"one", "data/b.txt": b"two"})

    store.update(add, message="add")
    listing = store.list()
    assert listing.exists and listing.files == {"a.txt", "data/b.txt"} and not listing.complete
    assert store.read("data/b.txt", listing) == b"two" and store.fetch("a.txt").read_bytes() == b"one"
    with pytest.raises(ArtifactError, match="finr1 did not write"):  # two files, no lineage.json: not ours
        store.update(lambda listing: refs.check_writable(listing) or refs.Change(), message="refused")
    store.commit(refs.Change(add={"lineage.json": b"{}"}, delete=["a.txt"]), message="swap", parent=store.list())
    assert store.list().files == {"data/b.txt", "lineage.json"}
    store.update(lambda listing: refs.Change(add={"c.txt": b"three"}, replace=True), message="replace")
    assert store.list().files == {"c.txt"}


def test_hub_commits_and_listings_are_retried_on_transient_errors(hub_server, hub_repo_id, quick_retries):
    ref = f"hf://datasets/{hub_repo_id}@run-1"
    commit, info = r"/api/datasets/.*/commit/", rf"/api/datasets/{hub_repo_id}/revision/"
    with (
        hub_server.fail("POST", commit, status=503, times=1, retry_after=0),
        hub_server.fail("POST", commit, status=429, times=1, retry_after=0),
        hub_server.fail("POST", commit, drop=True, times=1),
        hub_server.fail("GET", info, status=500, times=1),
    ):
        out = refs.save_dataset_ref(_dataset_dict(), ref, _lineage())
    assert hub_server.branches(hub_repo_id, "dataset")["run-1"] == out.revision_sha
    assert hub_server.commit_count(hub_repo_id, "dataset", "run-1") == 2  # the initial commit and ours: once
    assert refs.load_dataset_ref(ref, split="train")[0]["x"] == [0, 1, 2]


def test_a_stale_parent_is_read_again_before_the_commit_is_retried(hub_server, hub_repo_id):
    ref = f"hf://datasets/{hub_repo_id}"
    refs.save_dataset_ref(_dataset_dict(), ref, _lineage())
    # Another writer commits between finr1's listing and its commit: the Hub answers 412 to the stale parent.
    from huggingface_hub import HfApi

    def sneak_in(listing):
        if not hasattr(sneak_in, "done"):
            sneak_in.done = True
            HfApi().upload_file(
                path_or_fileobj=b"x", path_in_repo="stray.txt", repo_id=hub_repo_id, repo_type="dataset"
            )
        return refs.Change(add={"lineage.json": b"{}"}, replace=True)

    refs.open_store(ref).update(sneak_in, message="replace")
    assert set(hub_server.files(hub_repo_id, "dataset")) == {".gitattributes", "lineage.json"}  # stray.txt seen, gone
    assert any(status == 412 for method, _, status in hub_server.requests if method == "POST")


def test_hub_failures_left_after_retries_are_one_line(hub_server, hub_repo_id, quick_retries):
    ref = f"hf://datasets/{hub_repo_id}@run-1"
    with hub_server.fail("POST", r"/commit/", status=503, times=None, retry_after=0) as busy:
        with pytest.raises(ArtifactError) as info:
            refs.save_dataset_ref(_dataset_dict(), ref, _lineage())
    message = str(info.value)
    assert "\n" not in message and "HTTP 503" in message and "after 4 tries" in message and busy.hits == 4
    assert info.value.__cause__ is None and info.value.__suppress_context__  # no chained traceback
    with hub_server.fail("POST", r"/commit/", drop=True, times=None):
        with pytest.raises(ArtifactError) as dropped:
            refs.save_dataset_ref(_dataset_dict(), ref, _lineage())
    assert "\n" not in str(dropped.value) and "cannot reach" in str(dropped.value)
    assert refs.read_lineage(ref) is None


# --- layout: every split reachable with plain datasets ------------------------------------------------------------


def _card_configs(card: str) -> dict[str, list[str]]:
    import yaml

    meta = yaml.safe_load(card.split("---\n")[1])
    return {c["config_name"]: [f["split"] for f in c["data_files"]] for c in meta["configs"]}


@pytest.mark.parametrize("where", ["local", "hub"])
def test_every_split_is_declared_and_reachable_with_plain_datasets(where, hub_server, hub_repo_id, tmp_path):
    import datasets

    judged_cols = datasets.Features({"id": datasets.Value("string"), "label": datasets.Value("string")})
    judge_like = {
        "sft": datasets.Dataset.from_dict({"messages": [[{"role": "user", "content": "hi"}]]}),
        "rl": datasets.Dataset.from_dict({"prompt": ["p1", "p2"], "solution": ["1", "2"]}),
        "rejected": datasets.Dataset.from_dict({"id": [], "label": []}, features=judged_cols),
        "judged": datasets.Dataset.from_dict({"id": ["a"], "label": ["good"]}, features=judged_cols),
    }
    uniform = {"train": _dataset_dict()["train"], "test": _dataset_dict()["test"], "dev": _dataset_dict(0)["train"]}
    for name, data in (("judge", judge_like), ("uniform", uniform)):
        ref = str(tmp_path / name) if where == "local" else f"hf://datasets/{hub_repo_id}-{name}@run-1"
        refs.save_dataset_ref(data, ref, _lineage())
        if where == "local":
            path, kwargs = str(tmp_path / name), {}
            card = (tmp_path / name / "README.md").read_text()
        else:
            path, kwargs = f"{hub_repo_id}-{name}", {"revision": "run-1"}
            card = hub_server.files(path, "dataset", "run-1")["README.md"].decode()
        configs = _card_configs(card)
        declared = {split: config for config, splits in configs.items() for split in splits}
        assert sorted(declared) == sorted(data)  # every split is in the card, empty ones included
        assert sorted(datasets.get_dataset_config_names(path, **kwargs)) == sorted(configs)
        for split, ds in data.items():
            if len(ds):
                loaded = datasets.load_dataset(path, declared[split], split=split, **kwargs)
                assert loaded.num_rows == ds.num_rows and loaded.column_names == ds.column_names
        assert sorted(datasets.load_dataset(path, **kwargs)) == sorted(configs["default"])  # the default loads
        loaded, _ = refs.load_dataset_ref(ref)
        assert {k: v.num_rows for k, v in loaded.items()} == {k: v.num_rows for k, v in data.items()}
    assert configs["default"] == ["train", "test"] and configs["dev"] == ["dev"]  # same columns: one config
    assert sorted(datasets.load_dataset(path, split="test", **kwargs)["id"]) == ["t0"]
