"""The in-memory Hub test server, driven by huggingface_hub, datasets, transformers and raw HTTP."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import httpx
import pytest

from finr1_core.testing.hub_server import DUMMY_TOKEN, HubServer, hub_env


def test_environment_points_at_the_session_server(hub_server):
    from huggingface_hub import HfApi, constants

    assert constants.ENDPOINT == hub_server.url
    assert constants.HF_HUB_DISABLE_XET
    assert HfApi().whoami()["name"] == hub_server.user
    env = hub_env(hub_server.url, "/tmp/h")
    assert env["HF_ENDPOINT"] == hub_server.url and env["HF_HUB_DISABLE_XET"] == "1"
    assert env["HF_TOKEN"] == DUMMY_TOKEN and env["HF_HOME"] == "/tmp/h"


def test_repos_branches_and_refs(hub_server, hub_repo_id):
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, RevisionNotFoundError

    api = HfApi()
    url = api.create_repo(hub_repo_id, repo_type="dataset")
    assert (url.repo_id, url.repo_type) == (hub_repo_id, "dataset")
    with pytest.raises(HfHubHTTPError) as conflict:
        api.create_repo(hub_repo_id, repo_type="dataset")
    assert conflict.value.response.status_code == 409
    assert api.create_repo(hub_repo_id, repo_type="dataset", exist_ok=True).repo_id == hub_repo_id

    first = api.upload_file(path_or_fileobj=b"v1", path_in_repo="a.txt", repo_id=hub_repo_id, repo_type="dataset")
    api.upload_file(path_or_fileobj=b"v2", path_in_repo="a.txt", repo_id=hub_repo_id, repo_type="dataset")
    api.create_branch(hub_repo_id, branch="from-first", revision=first.oid, repo_type="dataset")
    api.create_branch(hub_repo_id, branch="team/run-1", repo_type="dataset")
    with pytest.raises(HfHubHTTPError) as exists:
        api.create_branch(hub_repo_id, branch="team/run-1", repo_type="dataset")
    assert exists.value.response.status_code == 409
    with pytest.raises(RevisionNotFoundError):
        api.create_branch(hub_repo_id, branch="x", revision="no-such-rev", repo_type="dataset")
    api.create_tag(hub_repo_id, tag="v1.0", revision=first.oid, repo_type="dataset")

    refs = api.list_repo_refs(hub_repo_id, repo_type="dataset")
    heads = {b.name: b.target_commit for b in refs.branches}
    assert heads["from-first"] == first.oid and heads["team/run-1"] == heads["main"] != first.oid
    assert [(t.name, t.target_commit) for t in refs.tags] == [("v1.0", first.oid)]
    assert hub_server.files(hub_repo_id, "dataset", "from-first")["a.txt"] == b"v1"
    assert hub_server.files(hub_repo_id, "dataset", "team/run-1")["a.txt"] == b"v2"
    commits = api.list_repo_commits(hub_repo_id, repo_type="dataset")
    assert len(commits) == 3 and commits[-1].title == "initial commit" and commits[1].commit_id == first.oid
    assert hub_server.unhandled == []


def test_upload_modes_history_and_old_revisions(hub_server, hub_repo_id, tmp_path):
    from huggingface_hub import CommitOperationDelete, HfApi, hf_hub_download

    api = HfApi()
    api.create_repo(hub_repo_id)
    (tmp_path / "sub" / "deep").mkdir(parents=True)
    (tmp_path / "config.json").write_text('{"a": 1}')
    (tmp_path / "model.safetensors").write_bytes(b"\x00weights" * 50)
    (tmp_path / "sub" / "notes.txt").write_text("hello")
    (tmp_path / "sub" / "deep" / "blob.bin").write_bytes(bytes(range(256)))
    first = api.upload_folder(folder_path=tmp_path, repo_id=hub_repo_id)
    assert hub_server.lfs_paths(hub_repo_id) == {"model.safetensors", "sub/deep/blob.bin"}

    second = api.create_commit(
        hub_repo_id,
        operations=[CommitOperationDelete("sub/"), CommitOperationDelete("config.json")],
        commit_message="drop",
    )
    assert set(hub_server.files(hub_repo_id)) == {".gitattributes", "model.safetensors"}
    assert hub_server.commit_count(hub_repo_id) == 3
    # The old commit still serves its files, from the LFS store and from git.
    old = hf_hub_download(hub_repo_id, "sub/deep/blob.bin", revision=first.oid)
    assert open(old, "rb").read() == bytes(range(256))
    assert json.loads(open(hf_hub_download(hub_repo_id, "config.json", revision=first.oid)).read()) == {"a": 1}
    info = api.model_info(hub_repo_id, revision=first.oid, files_metadata=True)
    assert info.sha == first.oid
    sizes = {s.rfilename: (s.size, s.lfs.sha256 if s.lfs else None) for s in info.siblings}
    expected_sha = hashlib.sha256(b"\x00weights" * 50).hexdigest()
    assert sizes["model.safetensors"] == (400, expected_sha) and sizes["config.json"] == (8, None)
    assert api.model_info(hub_repo_id).sha == second.oid
    # An unchanged file is not re-committed (preupload reports the remote oid).
    api.upload_file(path_or_fileobj=b"\x00weights" * 50, path_in_repo="model.safetensors", repo_id=hub_repo_id)
    assert hub_server.commit_count(hub_repo_id) == 3


def test_tree_paths_info_and_pagination(hub_repo_id, tmp_path):
    from huggingface_hub import HfApi

    with HubServer(page_size=2) as small:
        api = HfApi(endpoint=small.url, token=DUMMY_TOKEN)
        api.create_repo(hub_repo_id, repo_type="dataset")
        api.upload_folder(
            folder_path=_folder(
                tmp_path,
                {
                    "README.md": b"r",
                    "data/a-0.parquet": b"P" * 10,
                    "data/b-0.parquet": b"Q" * 20,
                    "data/x/c.txt": b"c",
                },
            ),
            repo_id=hub_repo_id,
            repo_type="dataset",
        )
        top = {(e.path, type(e).__name__) for e in api.list_repo_tree(hub_repo_id, repo_type="dataset")}
        assert top == {("data", "RepoFolder"), ("README.md", "RepoFile"), (".gitattributes", "RepoFile")}
        every = [e.path for e in api.list_repo_tree(hub_repo_id, repo_type="dataset", recursive=True, expand=True)]
        assert sorted(every) == sorted(
            [".gitattributes", "README.md", "data", "data/x", "data/a-0.parquet", "data/b-0.parquet", "data/x/c.txt"]
        )
        assert sum("cursor=" in path for _, path, _ in small.requests) >= 3  # followed Link: rel="next"
        sub = [e.path for e in api.list_repo_tree(hub_repo_id, path_in_repo="data/x", repo_type="dataset")]
        assert sub == ["data/x/c.txt"]

        infos = api.get_paths_info(
            hub_repo_id, ["data", "data/b-0.parquet", "missing"], repo_type="dataset", expand=True
        )
        assert [(i.path, type(i).__name__) for i in infos] == [
            ("data", "RepoFolder"),
            ("data/b-0.parquet", "RepoFile"),
        ]
        assert infos[1].lfs.size == 20 and infos[1].last_commit is not None
        # Same route, JSON body (what some clients send).
        response = httpx.post(f"{small.url}/api/datasets/{hub_repo_id}/paths-info/main", json={"paths": ["README.md"]})
        assert response.status_code == 200 and response.json()[0]["size"] == 1
        assert small.unhandled == []


def test_resolve_headers_ranges_and_error_codes(hub_server, hub_repo_id):
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(hub_repo_id)
    commit = api.upload_file(path_or_fileobj=b"0123456789", path_in_repo="dir/f.txt", repo_id=hub_repo_id)
    base = f"{hub_server.url}/{hub_repo_id}/resolve"

    head = httpx.head(f"{base}/main/dir/f.txt")
    assert head.status_code == 200 and head.headers["X-Repo-Commit"] == commit.oid
    blob_oid = hashlib.sha1(b"blob 10\x000123456789").hexdigest()
    assert head.headers["ETag"] == f'"{blob_oid}"' and head.headers["Content-Length"] == "10"
    assert httpx.get(f"{base}/{commit.oid}/dir/f.txt").content == b"0123456789"
    part = httpx.get(f"{base}/main/dir/f.txt", headers={"Range": "bytes=2-4"})
    assert (part.status_code, part.content, part.headers["Content-Range"]) == (206, b"234", "bytes 2-4/10")
    assert httpx.get(f"{base}/main/dir/f.txt", headers={"Range": "bytes=-3"}).content == b"789"
    assert httpx.get(f"{base}/main/dir/f.txt", headers={"Range": "bytes=20-"}).status_code == 416

    def code(url: str) -> tuple[int, str | None]:
        r = httpx.get(url)
        return r.status_code, r.headers.get("X-Error-Code")

    assert code(f"{base}/main/dir/missing.txt") == (404, "EntryNotFound")
    assert code(f"{base}/main/caf%C3%A9.txt") == (404, "EntryNotFound")  # non-ASCII names in error headers
    assert code(f"{base}/no-branch/dir/f.txt") == (404, "RevisionNotFound")
    assert code(f"{hub_server.url}/{hub_repo_id}-absent/resolve/main/x") == (404, "RepoNotFound")
    assert code(f"{hub_server.url}/api/models/{hub_repo_id}/revision/{'0' * 40}") == (404, "RevisionNotFound")
    assert code(f"{hub_server.url}/api/models/{hub_repo_id}/tree/main/nope") == (404, "EntryNotFound")
    assert code(f"{hub_server.url}/api/datasets/{hub_repo_id}") == (404, "RepoNotFound")  # exists as a model only


def test_raw_commit_lfs_checks_and_stale_parent(hub_server, hub_repo_id):
    from huggingface_hub import HfApi

    HfApi().create_repo(hub_repo_id, repo_type="dataset")
    api = f"{hub_server.url}/api/datasets/{hub_repo_id}"
    head = httpx.get(api).json()["sha"]
    payload = b"parquet-bytes" * 10
    oid = hashlib.sha256(payload).hexdigest()

    modes = httpx.post(
        f"{api}/preupload/main",
        json={
            "files": [
                {"path": "data/t.parquet", "size": len(payload), "sample": base64.b64encode(payload[:512]).decode()},
                {"path": "notes.md", "size": 5, "sample": base64.b64encode(b"notes").decode()},
            ]
        },
    ).json()["files"]
    assert [f["uploadMode"] for f in modes] == ["lfs", "regular"]

    batch = httpx.post(
        f"{hub_server.url}/datasets/{hub_repo_id}.git/info/lfs/objects/batch",
        json={"operation": "upload", "transfers": ["basic"], "objects": [{"oid": oid, "size": len(payload)}]},
    ).json()
    href = batch["objects"][0]["actions"]["upload"]["href"]
    assert httpx.put(href, content=b"tampered" + payload[8:]).status_code == 400  # sha256 checked
    chunked = httpx.put(href, content=iter([payload[:50], payload[50:]]))  # a generator body goes out chunked
    assert chunked.status_code == 200 and chunked.request.headers.get("Transfer-Encoding") == "chunked"

    def commit(parent: str | None, *ops: dict) -> httpx.Response:
        header = {"summary": "raw", "description": "", **({"parentCommit": parent} if parent else {})}
        lines = [{"key": "header", "value": header}, *ops]
        body = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
        return httpx.post(f"{api}/commit/main", content=body, headers={"Content-Type": "application/x-ndjson"})

    lfs_op = {
        "key": "lfsFile",
        "value": {"path": "data/t.parquet", "algo": "sha256", "oid": oid, "size": len(payload)},
    }
    file_op = {"key": "file", "value": {"path": "notes.md", "encoding": "base64", "content": "bm90ZXM="}}
    done = commit(head, lfs_op, file_op)
    assert done.status_code == 200 and len(done.json()["commitOid"]) == 40
    assert commit(head, file_op).status_code == 412  # parentCommit is no longer the head
    missing = {"key": "lfsFile", "value": {"path": "x.parquet", "algo": "sha256", "oid": "f" * 64, "size": 1}}
    assert commit(None, missing).status_code == 422
    assert commit(None, {"key": "deletedFile", "value": {"path": "nope"}}).headers["X-Error-Code"] == "EntryNotFound"
    files = hub_server.files(hub_repo_id, "dataset")
    assert files["data/t.parquet"] == payload and files["notes.md"] == b"notes"


def test_token_is_enforced_when_configured(hub_repo_id):
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    with HubServer(token="hf_expectedToken123456789012345") as guarded:
        with pytest.raises(HfHubHTTPError) as denied:
            HfApi(endpoint=guarded.url, token="hf_wrongToken0000000000000000").create_repo(hub_repo_id)
        assert denied.value.response.status_code == 401
        ok = HfApi(endpoint=guarded.url, token="hf_expectedToken123456789012345")
        assert ok.create_repo(hub_repo_id).repo_id == hub_repo_id
        assert guarded.env("/tmp/x")["HF_TOKEN"] == "hf_expectedToken123456789012345"


def test_dataset_push_to_hub_and_load_by_revision(hub_server, hub_repo_id):
    import datasets

    v1 = datasets.DatasetDict(
        {"train": datasets.Dataset.from_dict({"q": ["a", "b"]}), "test": datasets.Dataset.from_dict({"q": ["c"]})}
    )
    first = v1.push_to_hub(hub_repo_id, revision="v1")
    datasets.Dataset.from_dict({"q": ["z"]}).push_to_hub(hub_repo_id, revision="v1")  # new commit on the branch
    assert any(p.endswith(".parquet") for p in hub_server.lfs_paths(hub_repo_id, "dataset", "v1"))

    latest = datasets.load_dataset(hub_repo_id, revision="v1")
    assert latest["train"]["q"] == ["z"]
    old = datasets.load_dataset(hub_repo_id, revision=first.oid)
    assert old["train"]["q"] == ["a", "b"] and old["test"]["q"] == ["c"]
    assert hub_server.unhandled == []


def test_model_push_to_hub_and_from_pretrained(hub_server, hub_repo_id, tmp_path):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from huggingface_hub import snapshot_download

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
    commit = model.push_to_hub(hub_repo_id)
    assert "model.safetensors" in hub_server.lfs_paths(hub_repo_id)
    loaded = transformers.AutoModelForCausalLM.from_pretrained(hub_repo_id, revision=commit.oid)
    ids = torch.tensor([[5, 6, 7]])
    with torch.no_grad():
        assert torch.allclose(loaded(ids).logits, model(ids).logits)
    folder = snapshot_download(hub_repo_id, cache_dir=tmp_path / "cache")
    assert {"README.md", "config.json", "generation_config.json", "model.safetensors"} <= {
        p.name for p in Path(folder).iterdir()
    }
    # Optional files transformers probes are plain 404 EntryNotFound, never another error.
    probes = [(path, status) for method, path, status in hub_server.requests if status >= 400 and hub_repo_id in path]
    assert all(status == 404 for _, status in probes)
    assert hub_server.unhandled == []


def _folder(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def test_injected_faults_answer_like_a_flaky_hub(hub_server, hub_repo_id):
    from huggingface_hub import HfApi

    HfApi().create_repo(hub_repo_id, repo_type="dataset")
    info = f"{hub_server.url}/api/datasets/{hub_repo_id}"
    with hub_server.fail("GET", rf"/api/datasets/{hub_repo_id}$", status=503, times=2, retry_after=3) as fault:
        first, second, third = (httpx.get(info) for _ in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (503, 503, 200)
    assert first.headers["Retry-After"] == "3" and "error" in first.json() and fault.hits == 2
    with hub_server.fail("GET", rf"/api/datasets/{hub_repo_id}$", status=404, skip=1):
        assert [httpx.get(info).status_code for _ in range(3)] == [200, 404, 200]
    with hub_server.fail("*", rf"/api/datasets/{hub_repo_id}$", drop=True, times=None):
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(info)
    assert httpx.get(info).status_code == 200  # leaving the block removed the fault

    # A commit that lands but whose answer is lost: the branch moved although the client saw a 500.
    head = httpx.get(info).json()["sha"]
    with hub_server.fail("POST", r"/commit/", status=500, after=True):
        with pytest.raises(Exception) as lost:
            HfApi().upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=hub_repo_id, repo_type="dataset")
    assert "500" in str(lost.value)
    assert httpx.get(info).json()["sha"] != head and "x.txt" in hub_server.files(hub_repo_id, "dataset")
