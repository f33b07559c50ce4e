"""An in-memory Hugging Face Hub-compatible test server on loopback (standard library only).

It speaks the part of the Hub HTTP API that ``huggingface_hub`` 1.x, ``datasets`` 5.x and
``transformers`` 5.x use to create repos and branches, upload files (regular and git-LFS), list,
resolve and download by revision, so ``Dataset.push_to_hub`` / ``load_dataset(repo_id)``,
``upload_folder`` / ``snapshot_download`` and ``save_pretrained`` + ``from_pretrained(repo_id)``
work offline. Every commit is a real new commit (full history per branch), so an old sha still
reads the old files.

The endpoint is read by ``huggingface_hub`` and ``datasets`` **at import time**: set the variables
from :func:`hub_env` (or call :func:`configure_hf_env`) before importing them. The pytest plugin
``finr1_core.testing.pytest_plugin`` does that for a test session.

Example:
    >>> with HubServer() as hub:                       # doctest: +SKIP
    ...     os.environ.update(hub.env(hf_home=tmp))
    ...     HfApi(endpoint=hub.url).create_repo("org/name", repo_type="dataset")

Routes (``{t}`` is ``models``, ``datasets`` or ``spaces``; ``{repo}`` is ``ORG/NAME`` or ``NAME``):

- ``GET /api/whoami-v2``
- ``POST /api/repos/create`` (409 if it exists), ``DELETE /api/repos/delete``
- ``POST /api/validate-yaml`` (always valid), ``GET /api/agent-harnesses`` (empty registry)
- ``GET /api/{t}/{repo}`` and ``GET /api/{t}/{repo}/revision/{rev}`` (``sha``, ``siblings``; ``blobs=1``)
- ``GET /api/{t}/{repo}/tree/{rev}[/{path}]`` (``recursive``, ``expand``, ``cursor`` pagination via ``Link``)
- ``POST /api/{t}/{repo}/paths-info/{rev}`` (form-encoded or JSON ``paths``, ``expand``)
- ``GET /api/{t}/{repo}/refs``, ``GET /api/{t}/{repo}/commits/{rev}`` (paginated)
- ``POST|DELETE /api/{t}/{repo}/branch/{branch}`` (``startingPoint``), ``POST|DELETE .../tag/{rev|tag}``
- ``POST /api/{t}/{repo}/preupload/{rev}`` (``lfs`` for LFS extensions, binary samples and big files)
- ``POST /api/{t}/{repo}/commit/{rev}`` (NDJSON: header, file, lfsFile, deletedFile, deletedFolder)
- ``POST /[{t}/]{repo}.git/info/lfs/objects/batch`` (basic transfer) and ``PUT /_lfs/{oid}`` (sha256 checked)
- ``GET|HEAD /[{t}/]{repo}/resolve/{rev}/{path}`` (``X-Repo-Commit``, ``ETag``, ``Range``)

Errors follow the Hub: 404 with ``X-Error-Code`` ``RepoNotFound``, ``RevisionNotFound`` or
``EntryNotFound`` (transformers probes optional files and needs exactly that), 409 for conflicts,
412 for a stale ``parentCommit``, 401 ``Invalid credentials in Authorization header`` on writes
when the server was given a ``token`` and the request carries another one.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
import re
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

logger = logging.getLogger(__name__)

#: Dummy token the test environment exports as HF_TOKEN (looks like a real one on purpose, so
#: redaction tests exercise the "value looks like a token" rule too).
DUMMY_TOKEN = "hf_finr1TestToken0000000000000000000"

#: Extensions the Hub's default .gitattributes stores in git-LFS.
LFS_EXTENSIONS = (
    ".7z", ".arrow", ".bin", ".bz2", ".ckpt", ".ftz", ".gguf", ".gz", ".h5", ".joblib", ".mlmodel", ".model",
    ".msgpack", ".npy", ".npz", ".onnx", ".ot", ".parquet", ".pb", ".pickle", ".pkl", ".pt", ".pth", ".rar",
    ".safetensors", ".tar", ".tflite", ".tgz", ".wasm", ".xz", ".zip", ".zst",
)  # fmt: skip

#: The Hub stores regular (non-LFS) files only up to this size.
LFS_SIZE_THRESHOLD = 10 * 1024 * 1024

_REPO_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
_URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
_REPO_ACTIONS = {
    "revision", "tree", "paths-info", "refs", "commits", "preupload", "commit", "branch", "tag", "resolve",
}  # fmt: skip
_SHA_RE = re.compile(r"^[0-9a-f]{40}$")

_GITATTRIBUTES = "".join(f"*{ext} filter=lfs diff=lfs merge=lfs -text\n" for ext in LFS_EXTENSIONS).encode()


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _is_true(values: list[str] | None) -> bool:
    return bool(values) and values[-1].strip().lower() in ("1", "true", "yes", "on")


class _File:
    """One file of a commit. LFS files keep their real bytes; oids are computed as the Hub does."""

    __slots__ = ("content", "lfs", "sha256", "git_oid", "pointer_size")

    def __init__(self, content: bytes, lfs: bool, sha256: str | None = None):
        self.content = content
        self.lfs = lfs
        self.sha256 = sha256 or hashlib.sha256(content).hexdigest()
        if lfs:
            pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.sha256}\nsize {len(content)}\n"
            self.git_oid = _git_blob_sha1(pointer.encode())
            self.pointer_size = len(pointer)
        else:
            self.git_oid = _git_blob_sha1(content)
            self.pointer_size = 0

    @property
    def size(self) -> int:
        return len(self.content)

    @property
    def etag(self) -> str:
        return self.sha256 if self.lfs else self.git_oid

    @property
    def upload_oid(self) -> str:
        """The oid preupload reports: what the client compares with its local file to skip no-ops."""
        return self.sha256 if self.lfs else self.git_oid


@dataclass
class _Commit:
    sha: str
    parent: str | None
    title: str
    message: str
    author: str
    date: datetime
    files: dict[str, _File]


@dataclass
class _Repo:
    type: str
    id: str
    private: bool
    created_at: datetime
    commits: dict[str, _Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def resolve(self, revision: str) -> _Commit | None:
        """Branch, tag, full ref name or full commit sha -> commit (None if unknown)."""
        name = revision
        for prefix in ("refs/heads/", "refs/tags/"):
            if name.startswith(prefix):
                name = name[len(prefix) :]
        sha = self.branches.get(name) or self.tags.get(name)
        if sha is None and _SHA_RE.match(revision) and revision in self.commits:
            sha = revision
        return self.commits.get(sha) if sha else None


class HubError(Exception):
    """An HTTP error answer: status, Hub error code (X-Error-Code) and message."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


class _HubState:
    """Repos, commits and LFS objects, guarded by one lock (the handlers run in threads)."""

    def __init__(self, user: str):
        self.user = user
        self.lock = threading.RLock()
        self.repos: dict[tuple[str, str], _Repo] = {}
        self.lfs_objects: dict[str, bytes] = {}
        self._counter = 0

    def new_sha(self, *parts: str) -> str:
        self._counter += 1
        seed = "\0".join((*parts, str(self._counter), str(time.time_ns()), uuid.uuid4().hex))
        return hashlib.sha1(seed.encode()).hexdigest()

    def repo(self, repo_type: str, repo_id: str) -> _Repo:
        repo = self.repos.get((repo_type, repo_id))
        if repo is None:
            raise HubError(404, f"Repository {repo_type}/{repo_id} not found", "RepoNotFound")
        return repo

    def commit_at(self, repo: _Repo, revision: str) -> _Commit:
        commit = repo.resolve(revision)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return commit

    def create_repo(self, repo_type: str, repo_id: str, private: bool = False, url: str = "") -> _Repo:
        if (repo_type, repo_id) in self.repos:
            # The Hub's 409 body carries the url: create_repo(exist_ok=True) reads it.
            raise HubError(409, f"You already created this {repo_type} repo", extra={"url": url})
        repo = _Repo(type=repo_type, id=repo_id, private=private, created_at=_now())
        sha = self.new_sha(repo_type, repo_id)
        # Like the Hub: a new repo has one commit holding .gitattributes.
        repo.commits[sha] = _Commit(
            sha, None, "initial commit", "", self.user, _now(), {".gitattributes": _File(_GITATTRIBUTES, lfs=False)}
        )
        repo.branches["main"] = sha
        self.repos[(repo_type, repo_id)] = repo
        return repo

    def add_commit(
        self, repo: _Repo, branch: str, files: dict[str, _File], title: str, message: str, parent: str | None
    ) -> _Commit:
        sha = self.new_sha(repo.type, repo.id, branch, title)
        commit = _Commit(sha, parent, title, message, self.user, _now(), files)
        repo.commits[sha] = commit
        repo.branches[branch] = sha
        return commit

    def history(self, repo: _Repo, commit: _Commit) -> list[_Commit]:
        out = []
        current: _Commit | None = commit
        while current is not None:
            out.append(current)
            current = repo.commits.get(current.parent) if current.parent else None
        return out

    def last_commit_for(self, repo: _Repo, commit: _Commit, path: str, is_dir: bool) -> _Commit:
        """The newest commit (walking first parents) that changed ``path`` (a file or a folder)."""

        def snapshot(c: _Commit) -> Any:
            if not is_dir:
                f = c.files.get(path)
                return f.git_oid if f else None
            prefix = path.rstrip("/") + "/" if path else ""
            return tuple(sorted((p, f.git_oid) for p, f in c.files.items() if p.startswith(prefix)))

        current, target = commit, snapshot(commit)
        while current.parent:
            parent = repo.commits[current.parent]
            if snapshot(parent) != target:
                return current
            current = parent
        return current


def _dir_oid(commit: _Commit, path: str) -> str:
    return hashlib.sha1(f"tree\0{commit.sha}\0{path}".encode()).hexdigest()


def _folders_of(files: Iterable[str]) -> set[str]:
    out = set()
    for path in files:
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            out.add("/".join(parts[:i]))
    return out


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects; every answer carries Content-Length
    server: _HubHTTPServer

    # --- plumbing -----------------------------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("hub-server %s - " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_HEAD(self) -> None:
        self._handle("HEAD")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size_line = self.rfile.readline().strip()
                size = int(size_line.split(b";")[0] or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():  # trailers
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()  # CRLF after each chunk
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)
        self._status = status

    def _json(self, obj: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> None:
        self._send(status, json.dumps(obj).encode(), headers=headers)

    def _handle(self, method: str) -> None:
        self._status = 0
        split = urlsplit(self.path)
        self.query = parse_qs(split.query, keep_blank_values=True)
        self.raw_segments = [s for s in split.path.split("/") if s != ""]
        try:
            self.body = b"" if method in ("GET", "HEAD") else self._read_body()
            with self.server.state.lock:
                self._route(method)
        except HubError as err:
            # Header values must be latin-1; the JSON body keeps the exact message.
            headers = {"X-Error-Message": err.message.encode("ascii", "replace").decode(), **err.headers}
            if err.code:
                headers["X-Error-Code"] = err.code
            self._json({"error": err.message, **err.extra}, status=err.status, headers=headers)
        except (ValueError, KeyError, TypeError, json.JSONDecodeError) as err:
            self._json({"error": f"Bad request: {err}"}, status=400, headers={"X-Error-Message": "Bad request"})
        except Exception as err:  # a bug in this server: answer 500 so the client fails fast and says why
            logger.exception("hub test server failed on %s %s", method, self.path)
            self._json({"error": f"test hub server error: {err!r}"}, status=500)
        finally:
            self.server.record(method, self.path, self._status)

    # --- routing ------------------------------------------------------------------------------

    def _route(self, method: str) -> None:
        seg = self.raw_segments
        useg = [unquote(s) for s in seg]
        if useg[:2] == ["api", "whoami-v2"] and method == "GET":
            return self._whoami()
        if useg[:2] == ["api", "validate-yaml"] and method == "POST":
            return self._json({"errors": [], "warnings": []})
        if useg[:2] == ["api", "agent-harnesses"] and method == "GET":  # huggingface_hub's user-agent registry
            return self._json({"standardEnvVars": [], "harnesses": {}})
        if useg[:3] == ["api", "repos", "create"] and method == "POST":
            return self._create_repo()
        if useg[:3] == ["api", "repos", "delete"] and method == "DELETE":
            return self._delete_repo()
        if len(useg) >= 3 and useg[0] == "api" and useg[1] in _REPO_TYPES:
            return self._repo_api(method, _REPO_TYPES[useg[1]], seg[2:])
        if useg[:1] == ["_lfs"] and method == "PUT" and len(useg) == 2:
            return self._lfs_put(useg[1])
        if len(useg) >= 4 and useg[-4:] == ["info", "lfs", "objects", "batch"] and method == "POST":
            return self._lfs_batch(useg[:-4])
        if "resolve" in useg and method in ("GET", "HEAD"):
            return self._resolve(seg)
        self.server.unhandled.append((method, self.path))
        raise HubError(404, f"test hub server: no route for {method} {self.path}")

    def _split_repo(self, repo_type: str, segs: list[str]) -> tuple[_Repo, list[str]]:
        """``[ns, name, action, ...]`` or ``[name, action, ...]`` (raw segments) -> repo, rest."""
        state = self.server.state
        useg = [unquote(s) for s in segs]
        if len(useg) >= 2 and (repo_type, useg[0]) in state.repos and useg[1] in _REPO_ACTIONS:
            return state.repo(repo_type, useg[0]), segs[1:]
        if len(useg) < 2:
            return state.repo(repo_type, useg[0]), segs[1:]
        return state.repo(repo_type, f"{useg[0]}/{useg[1]}"), segs[2:]

    def _check_write(self) -> None:
        expected = self.server.token
        auth = self.headers.get("Authorization", "")
        if expected is not None and auth != f"Bearer {expected}":
            raise HubError(401, "Invalid credentials in Authorization header")

    # --- user and repos -----------------------------------------------------------------------

    def _whoami(self) -> None:
        if self.server.token is not None and self.headers.get("Authorization") != f"Bearer {self.server.token}":
            raise HubError(401, "Invalid credentials in Authorization header")
        user = self.server.state.user
        self._json(
            {
                "type": "user",
                "id": hashlib.sha1(user.encode()).hexdigest()[:24],
                "name": user,
                "fullname": "finr1 test user",
                "email": None,
                "emailVerified": True,
                "isPro": False,
                "orgs": [],
                "auth": {"type": "access_token", "accessToken": {"displayName": "finr1-test", "role": "write"}},
            }
        )

    def _create_repo(self) -> None:
        self._check_write()
        payload = json.loads(self.body or b"{}")
        name = payload["name"]
        org = payload.get("organization") or self.server.state.user
        repo_type = payload.get("type") or "model"
        if repo_type not in _URL_PREFIX:
            raise HubError(400, f"Invalid repo type {repo_type!r}")
        repo_id = f"{org}/{name}"
        private = payload.get("private") or payload.get("visibility") == "private"
        url = f"{self.server.url}/{_URL_PREFIX[repo_type]}{repo_id}"
        self.server.state.create_repo(repo_type, repo_id, bool(private), url=url)
        self._json({"url": url, "name": repo_id, "id": repo_id})

    def _delete_repo(self) -> None:
        self._check_write()
        payload = json.loads(self.body or b"{}")
        org = payload.get("organization") or self.server.state.user
        repo_type = payload.get("type") or "model"
        key = (repo_type, f"{org}/{payload['name']}")
        self.server.state.repo(*key)
        del self.server.state.repos[key]
        self._json({})

    def _repo_api(self, method: str, repo_type: str, segs: list[str]) -> None:
        repo, rest = self._split_repo(repo_type, segs)
        action = unquote(rest[0]) if rest else ""
        args = rest[1:]
        rev = unquote(args[0]) if args else None
        if action == "" and method == "GET":
            return self._repo_info(repo, "main")
        if action == "revision" and method == "GET" and rev is not None:
            return self._repo_info(repo, "/".join(unquote(a) for a in args))
        if action == "tree" and method == "GET" and rev is not None:
            return self._tree(repo, rev, unquote("/".join(args[1:])))
        if action == "paths-info" and method == "POST" and rev is not None:
            return self._paths_info(repo, rev)
        if action == "refs" and method == "GET":
            return self._refs(repo)
        if action == "commits" and method == "GET":
            return self._commits(repo, rev or "main")
        if action == "preupload" and method == "POST" and rev is not None:
            return self._preupload(repo, rev)
        if action == "commit" and method == "POST" and rev is not None:
            return self._commit(repo, rev)
        if action == "branch" and rev is not None and method in ("POST", "DELETE"):
            return self._branch(repo, rev, method)
        if action == "tag" and rev is not None and method in ("POST", "DELETE"):
            return self._tag(repo, rev, method)
        self.server.unhandled.append((method, self.path))
        raise HubError(404, f"test hub server: no route for {method} {self.path}")

    def _repo_info(self, repo: _Repo, revision: str) -> None:
        commit = self.server.state.commit_at(repo, revision)
        blobs = _is_true(self.query.get("blobs"))
        siblings = []
        for path in sorted(commit.files):
            entry: dict[str, Any] = {"rfilename": path}
            if blobs:
                f = commit.files[path]
                entry.update(size=f.size, blobId=f.git_oid)
                if f.lfs:
                    entry["lfs"] = {"sha256": f.sha256, "size": f.size, "pointerSize": f.pointer_size}
            siblings.append(entry)
        info: dict[str, Any] = {
            "_id": hashlib.sha1(f"{repo.type}/{repo.id}".encode()).hexdigest()[:24],
            "id": repo.id,
            "author": repo.id.split("/")[0] if "/" in repo.id else None,
            "sha": commit.sha,
            "lastModified": _iso(commit.date),
            "createdAt": _iso(repo.created_at),
            "private": repo.private,
            "gated": False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "siblings": siblings,
            "usedStorage": sum(f.size for f in commit.files.values()),
        }
        if repo.type == "model":
            info["modelId"] = repo.id
        self._json(info)

    # --- listing ------------------------------------------------------------------------------

    def _entry(self, repo: _Repo, commit: _Commit, path: str, expand: bool) -> dict[str, Any]:
        f = commit.files.get(path)
        if f is not None:
            entry: dict[str, Any] = {"type": "file", "oid": f.git_oid, "size": f.size, "path": path}
            if f.lfs:
                entry["lfs"] = {"oid": f.sha256, "size": f.size, "pointerSize": f.pointer_size}
        else:
            entry = {"type": "directory", "oid": _dir_oid(commit, path), "size": 0, "path": path}
        if expand:
            last = self.server.state.last_commit_for(repo, commit, path, is_dir=f is None)
            entry["lastCommit"] = {"id": last.sha, "title": last.title, "date": _iso(last.date)}
        return entry

    def _paginate(self, items: list[Any]) -> None:
        page_size = self.server.page_size
        start = int((self.query.get("cursor") or ["0"])[-1] or 0)
        page = items[start : start + page_size]
        headers = {}
        if start + page_size < len(items):
            query = {k: v[-1] for k, v in self.query.items()}
            query["cursor"] = str(start + page_size)
            next_url = f"{self.server.url}{urlsplit(self.path).path}?{urlencode(query)}"
            headers["Link"] = f'<{next_url}>; rel="next"'
        self._json(page, headers=headers)

    def _tree(self, repo: _Repo, revision: str, path: str) -> None:
        commit = self.server.state.commit_at(repo, revision)
        path = path.strip("/")
        recursive = _is_true(self.query.get("recursive"))
        expand = _is_true(self.query.get("expand"))
        folders = _folders_of(commit.files)
        if path and path not in folders:
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound", {"X-Repo-Commit": commit.sha})
        prefix = f"{path}/" if path else ""
        paths = [p for p in sorted(folders) if p.startswith(prefix)] + [
            p for p in sorted(commit.files) if p.startswith(prefix)
        ]
        if not recursive:
            paths = [p for p in paths if "/" not in p[len(prefix) :]]
        self._paginate([self._entry(repo, commit, p, expand) for p in paths])

    def _paths_info(self, repo: _Repo, revision: str) -> None:
        commit = self.server.state.commit_at(repo, revision)
        content_type = self.headers.get("Content-Type", "")
        if "json" in content_type:
            payload = json.loads(self.body or b"{}")
            paths = payload.get("paths", [])
            paths = [paths] if isinstance(paths, str) else paths
            expand = bool(payload.get("expand")) and str(payload.get("expand")).lower() not in ("false", "0")
        else:
            form = parse_qs(self.body.decode(), keep_blank_values=True)
            paths = form.get("paths", [])
            expand = _is_true(form.get("expand"))
        folders = _folders_of(commit.files)
        out = []
        for path in paths:
            path = path.strip("/")
            if path in commit.files or path in folders:
                out.append(self._entry(repo, commit, path, expand))
        self._json(out)

    def _refs(self, repo: _Repo) -> None:
        def ref(kind: str, name: str, sha: str) -> dict[str, str]:
            return {"name": name, "ref": f"refs/{kind}/{name}", "targetCommit": sha}

        self._json(
            {
                "branches": [ref("heads", n, s) for n, s in sorted(repo.branches.items())],
                "tags": [ref("tags", n, s) for n, s in sorted(repo.tags.items())],
                "converts": [],
                "pullRequests": [],
            }
        )

    def _commits(self, repo: _Repo, revision: str) -> None:
        commit = self.server.state.commit_at(repo, revision)
        items = [
            {
                "id": c.sha,
                "title": c.title,
                "message": c.message,
                "authors": [{"user": c.author, "avatar": None}],
                "date": _iso(c.date),
                "formatted": {"title": c.title, "message": c.message},
            }
            for c in self.server.state.history(repo, commit)
        ]
        self._paginate(items)

    # --- refs ---------------------------------------------------------------------------------

    def _branch(self, repo: _Repo, branch: str, method: str) -> None:
        self._check_write()
        if method == "DELETE":
            if branch == "main" or branch not in repo.branches:
                raise HubError(404 if branch != "main" else 403, f"Cannot delete branch {branch}", "RevisionNotFound")
            del repo.branches[branch]
            return self._json({})
        if branch in repo.branches:
            raise HubError(409, f"Reference already exists: refs/heads/{branch}")
        payload = json.loads(self.body or b"{}") if self.body else {}
        start = payload.get("startingPoint") or "main"
        commit = self.server.state.commit_at(repo, start)
        repo.branches[branch] = commit.sha
        self._json({})

    def _tag(self, repo: _Repo, arg: str, method: str) -> None:
        self._check_write()
        if method == "DELETE":
            if arg not in repo.tags:
                raise HubError(404, f"Tag {arg} not found", "RevisionNotFound")
            del repo.tags[arg]
            return self._json({})
        payload = json.loads(self.body or b"{}")
        commit = self.server.state.commit_at(repo, arg)
        tag = payload["tag"]
        if tag in repo.tags:
            raise HubError(409, f"Tag {tag} already exists")
        repo.tags[tag] = commit.sha
        self._json({})

    # --- uploads ------------------------------------------------------------------------------

    def _wants_lfs(self, path: str, size: int, sample: bytes) -> bool:
        return path.lower().endswith(LFS_EXTENSIONS) or size >= self.server.lfs_threshold or b"\0" in sample

    def _preupload(self, repo: _Repo, revision: str) -> None:
        self._check_write()
        commit = self.server.state.commit_at(repo, revision)
        payload = json.loads(self.body or b"{}")
        out = []
        for item in payload.get("files", []):
            path = item["path"]
            sample = base64.b64decode(item.get("sample") or "")
            lfs = self._wants_lfs(path, int(item.get("size", 0)), sample)
            existing = commit.files.get(path)
            out.append(
                {
                    "path": path,
                    "uploadMode": "lfs" if lfs else "regular",
                    "shouldIgnore": False,
                    "oid": existing.upload_oid if existing is not None and existing.lfs == lfs else None,
                }
            )
        self._json({"files": out, "commitOid": commit.sha})

    def _commit(self, repo: _Repo, revision: str) -> None:
        self._check_write()
        state = self.server.state
        if _is_true(self.query.get("create_pr")):
            raise HubError(400, "test hub server: create_pr is not supported")
        if revision.startswith("refs/heads/"):
            revision = revision[len("refs/heads/") :]
        if revision not in repo.branches:
            if repo.resolve(revision) is not None:
                raise HubError(400, f"Invalid rev id: {revision} is not a branch")
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        head = repo.commits[repo.branches[revision]]
        lines = [json.loads(line) for line in self.body.splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "The first line of a commit must be its header")
        header = lines[0]["value"]
        parent = header.get("parentCommit")
        if parent and parent != head.sha:
            raise HubError(412, f"A commit has happened since {parent}; the head of {revision} is {head.sha}")
        files = dict(head.files)
        for line in lines[1:]:
            key, value = line.get("key"), line.get("value", {})
            path = value.get("path", "").lstrip("/")
            if key == "file":
                if value.get("encoding", "base64") != "base64":
                    raise HubError(400, f"Unsupported encoding {value.get('encoding')!r}")
                content = base64.b64decode(value["content"])
                if len(content) >= self.server.lfs_threshold:
                    raise HubError(400, f"{path}: files of {len(content)} bytes must be uploaded with git-LFS")
                files[path] = _File(content, lfs=False)
            elif key == "lfsFile":
                oid = value["oid"]
                data = state.lfs_objects.get(oid)
                if data is None:
                    raise HubError(422, f"{path}: LFS object {oid} was not uploaded")
                if "size" in value and int(value["size"]) != len(data):
                    raise HubError(422, f"{path}: size {value['size']} does not match LFS object {oid}")
                files[path] = _File(data, lfs=True, sha256=oid)
            elif key == "deletedFile":
                if path not in files:
                    raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
                del files[path]
            elif key == "deletedFolder":
                prefix = path.rstrip("/") + "/"
                doomed = [p for p in files if p.startswith(prefix)]
                if not doomed:
                    raise HubError(404, f"A folder with this name doesn't exist: {path}", "EntryNotFound")
                for p in doomed:
                    del files[p]
            else:
                raise HubError(400, f"test hub server: unsupported commit operation {key!r}")
        commit = state.add_commit(
            repo, revision, files, header.get("summary") or "commit", header.get("description") or "", head.sha
        )
        url = f"{self.server.url}/{_URL_PREFIX[repo.type]}{repo.id}/commit/{commit.sha}"
        self._json({"success": True, "commitOid": commit.sha, "commitUrl": url, "pullRequestUrl": None})

    def _lfs_batch(self, useg: list[str]) -> None:
        self._check_write()
        repo_type = "model"
        if useg and useg[0] in _REPO_TYPES and len(useg) >= 2:
            repo_type, useg = _REPO_TYPES[useg[0]], useg[1:]
        repo_id = "/".join(useg)
        if not repo_id.endswith(".git"):
            raise HubError(404, f"test hub server: no route for POST {self.path}")
        self.server.state.repo(repo_type, repo_id[: -len(".git")])
        payload = json.loads(self.body or b"{}")
        if payload.get("operation", "upload") != "upload":
            raise HubError(400, "test hub server: only LFS uploads are supported (downloads use /resolve)")
        objects = []
        for obj in payload.get("objects", []):
            oid, size = obj["oid"], int(obj["size"])
            entry: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
            stored = self.server.state.lfs_objects.get(oid)
            if stored is None or len(stored) != size:
                entry["actions"] = {
                    "upload": {"href": f"{self.server.url}/_lfs/{oid}?size={size}", "header": {}, "expires_in": 3600}
                }
            objects.append(entry)
        body = json.dumps({"transfer": "basic", "objects": objects, "hash_algo": "sha256"}).encode()
        self._send(200, body, content_type="application/vnd.git-lfs+json")

    def _lfs_put(self, oid: str) -> None:
        data = self.body
        digest = hashlib.sha256(data).hexdigest()
        if digest != oid:
            raise HubError(400, f"sha256 mismatch: uploaded content hashes to {digest}, expected {oid}")
        expected = self.query.get("size")
        if expected and int(expected[-1]) != len(data):
            raise HubError(400, f"size mismatch: got {len(data)} bytes, expected {expected[-1]}")
        self.server.state.lfs_objects[oid] = data
        self._send(200, b"", content_type="text/plain")

    # --- downloads ----------------------------------------------------------------------------

    def _resolve(self, segs: list[str]) -> None:
        state = self.server.state
        useg = [unquote(s) for s in segs]
        idx = useg.index("resolve")
        repo_type = "model"
        repo_segs = useg[:idx]
        if repo_segs and repo_segs[0] in _REPO_TYPES and len(repo_segs) >= 2:
            repo_type, repo_segs = _REPO_TYPES[repo_segs[0]], repo_segs[1:]
        repo = state.repo(repo_type, "/".join(repo_segs))
        tail = useg[idx + 1 :]
        if not tail:
            raise HubError(404, "Missing revision", "RevisionNotFound")
        # The revision is usually one quoted segment; a branch with '/' may also arrive unquoted.
        commit, path = None, ""
        for k in range(1, len(tail) + 1):
            commit = repo.resolve("/".join(tail[:k]))
            if commit is not None:
                path = "/".join(tail[k:])
                break
        if commit is None:
            raise HubError(404, f"Invalid rev id: {tail[0]}", "RevisionNotFound")
        f = commit.files.get(path)
        if f is None:
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound", {"X-Repo-Commit": commit.sha})
        headers = {
            "X-Repo-Commit": commit.sha,
            "ETag": f'"{f.etag}"',
            "Accept-Ranges": "bytes",
            "Content-Disposition": f'inline; filename="{quote(path.rsplit("/", 1)[-1])}"',
        }
        if f.lfs:
            headers["X-Linked-Size"] = str(f.size)
            headers["X-Linked-ETag"] = f'"{f.sha256}"'
        content_type = "application/octet-stream" if f.lfs else "text/plain; charset=utf-8"
        data = f.content
        range_header = self.headers.get("Range")
        if range_header and self.command == "GET":
            match = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", range_header)
            if not match or (match.group(1) == "" and match.group(2) == ""):
                raise HubError(416, f"Unsupported Range header {range_header!r}")
            size = len(data)
            if match.group(1) == "":
                start, end = max(0, size - int(match.group(2))), size - 1
            else:
                start = int(match.group(1))
                end = min(int(match.group(2)), size - 1) if match.group(2) else size - 1
            if start >= size or start > end:
                raise HubError(416, "Range not satisfiable", headers={"Content-Range": f"bytes */{size}"})
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
            return self._send(206, data[start : end + 1], content_type=content_type, headers=headers)
        self._send(200, data, content_type=content_type, headers=headers)


class _HubHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], state: _HubState, *, token: str | None, lfs_threshold: int, page_size: int
    ):
        super().__init__(address, _Handler)
        self.state = state
        self.token = token
        self.lfs_threshold = lfs_threshold
        self.page_size = page_size
        self.url = f"http://{address[0]}:{self.server_address[1]}"
        self.requests: list[tuple[str, str, int]] = []
        self.unhandled: list[tuple[str, str]] = []
        self._log_lock = threading.Lock()
        self._connections: set[socket.socket] = set()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._log_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._log_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def server_close(self) -> None:
        """Close the listening socket and every open connection: a pooled keep-alive client (huggingface_hub
        keeps one per host) would otherwise hold its handler thread after the server stopped."""
        super().server_close()
        with self._log_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def record(self, method: str, path: str, status: int) -> None:
        with self._log_lock:
            self.requests.append((method, path, status))


class HubServer:
    """In-memory Hub-compatible HTTP server on loopback, in a background thread.

    Args:
        host: Address to bind (loopback by default).
        port: Port to bind; 0 picks a free one.
        user: User name whoami answers; ``create_repo`` without an organization uses it.
        token: When set, write routes require ``Authorization: Bearer <token>`` (401 otherwise).
            When None, any (or no) token is accepted.
        lfs_threshold: Files at least this big are uploaded with git-LFS (besides LFS extensions).
        page_size: Items per page for tree and commit listings (``Link: rel="next"`` pagination).

    Attributes:
        requests: ``(method, path with query, status)`` for every request answered, in order.
        unhandled: ``(method, path)`` of requests no route matched (useful to debug a new client).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        user: str = "finr1-test",
        token: str | None = None,
        lfs_threshold: int = LFS_SIZE_THRESHOLD,
        page_size: int = 1000,
    ):
        self._host, self._port = host, port
        self._state = _HubState(user)
        self._token = token
        self._lfs_threshold = lfs_threshold
        self._page_size = page_size
        self._httpd: _HubHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL (``http://127.0.0.1:PORT``), the value for ``HF_ENDPOINT``."""
        if self._httpd is None:
            raise RuntimeError("HubServer is not started")
        return self._httpd.url

    @property
    def user(self) -> str:
        """The user name the server reports in whoami."""
        return self._state.user

    @property
    def requests(self) -> list[tuple[str, str, int]]:
        """Requests answered so far: ``(method, path, status)``."""
        return list(self._httpd.requests) if self._httpd else []

    @property
    def unhandled(self) -> list[tuple[str, str]]:
        """Requests that matched no route: ``(method, path)``."""
        return list(self._httpd.unhandled) if self._httpd else []

    def start(self) -> HubServer:
        """Bind and serve in a daemon thread; returns self."""
        if self._httpd is not None:
            return self
        self._httpd = _HubHTTPServer(
            (self._host, self._port),
            self._state,
            token=self._token,
            lfs_threshold=self._lfs_threshold,
            page_size=self._page_size,
        )
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="finr1-hub-server", daemon=True)
        self._thread.start()
        logger.debug("hub test server listening on %s", self._httpd.url)
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (state is kept until the object is dropped)."""
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd, self._thread = None, None

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def env(self, hf_home: str | os.PathLike[str], token: str = DUMMY_TOKEN) -> dict[str, str]:
        """Environment variables pointing huggingface_hub, datasets and transformers at this server."""
        return hub_env(self.url, hf_home, token=token if self._token is None else self._token)

    # --- direct state access for tests (no HTTP) ----------------------------------------------

    def repo_exists(self, repo_id: str, repo_type: str = "model") -> bool:
        """Whether the repo exists."""
        with self._state.lock:
            return (repo_type, repo_id) in self._state.repos

    def branches(self, repo_id: str, repo_type: str = "model") -> dict[str, str]:
        """Branch name -> head commit sha."""
        with self._state.lock:
            return dict(self._state.repo(repo_type, repo_id).branches)

    def files(self, repo_id: str, repo_type: str = "model", revision: str = "main") -> dict[str, bytes]:
        """Path -> content of every file at a revision."""
        with self._state.lock:
            repo = self._state.repo(repo_type, repo_id)
            commit = self._state.commit_at(repo, revision)
            return {p: f.content for p, f in commit.files.items()}

    def lfs_paths(self, repo_id: str, repo_type: str = "model", revision: str = "main") -> set[str]:
        """Paths stored in git-LFS at a revision."""
        with self._state.lock:
            repo = self._state.repo(repo_type, repo_id)
            return {p for p, f in self._state.commit_at(repo, revision).files.items() if f.lfs}

    def commit_count(self, repo_id: str, repo_type: str = "model", revision: str = "main") -> int:
        """Number of commits in the first-parent history of a revision (the initial commit included)."""
        with self._state.lock:
            repo = self._state.repo(repo_type, repo_id)
            return len(self._state.history(repo, self._state.commit_at(repo, revision)))


def hub_env(url: str, hf_home: str | os.PathLike[str], token: str = DUMMY_TOKEN) -> dict[str, str]:
    """Environment for talking to a Hub-compatible test server.

    Args:
        url: The server's base URL (``HF_ENDPOINT``).
        hf_home: A temporary folder for ``HF_HOME`` (caches, token file).
        token: Dummy token exported as ``HF_TOKEN``.

    Returns:
        The variables to set: ``HF_ENDPOINT``, ``HF_HUB_DISABLE_XET=1`` (else uploads ask a xet route),
        ``HF_TOKEN``, ``HF_HOME``, and quiet/offline-safe switches.
    """
    return {
        "HF_ENDPOINT": url,
        "HF_HUB_DISABLE_XET": "1",
        "HF_TOKEN": token,
        "HF_HOME": os.fspath(hf_home),
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_UPDATE_CHECK": "1",
        "HF_HUB_OFFLINE": "0",
        "HF_DATASETS_OFFLINE": "0",
        "TRANSFORMERS_OFFLINE": "0",
    }


def configure_hf_env(env: Mapping[str, str]) -> list[str]:
    """Set ``env`` in ``os.environ`` and patch the libraries that already read it at import.

    ``huggingface_hub.constants`` and ``datasets.config`` copy ``HF_ENDPOINT``, ``HF_HOME`` and
    ``HF_HUB_DISABLE_XET`` into module constants when first imported. Setting the variables first is
    the reliable way; when a library was imported earlier, this patches the constants finr1's
    code paths use (endpoint, URL templates, xet switch, cache folders) and returns their names.

    Args:
        env: Variables to set, typically from :func:`hub_env`.

    Returns:
        The ``module.CONSTANT`` names that were patched (empty when nothing was imported yet).
    """
    os.environ.update(env)
    patched: list[str] = []

    def patch(module: Any, name: str, value: Any) -> None:
        if hasattr(module, name) and getattr(module, name) != value:
            setattr(module, name, value)
            patched.append(f"{module.__name__}.{name}")

    endpoint = env.get("HF_ENDPOINT")
    hf_home = env.get("HF_HOME")
    hub_constants = sys.modules.get("huggingface_hub.constants")
    if hub_constants is not None:
        if endpoint:
            patch(hub_constants, "ENDPOINT", endpoint.rstrip("/"))
            patch(
                hub_constants,
                "HUGGINGFACE_CO_URL_TEMPLATE",
                endpoint.rstrip("/") + "/{repo_id}/resolve/{revision}/{filename}",
            )
        if "HF_HUB_DISABLE_XET" in env:
            patch(hub_constants, "HF_HUB_DISABLE_XET", _truthy(env["HF_HUB_DISABLE_XET"]))
        if "HF_HUB_OFFLINE" in env:
            patch(hub_constants, "HF_HUB_OFFLINE", _truthy(env["HF_HUB_OFFLINE"]))
        if hf_home:
            patch(hub_constants, "HF_HOME", hf_home)
            for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
                patch(hub_constants, name, os.path.join(hf_home, "hub"))
            patch(hub_constants, "HF_ASSETS_CACHE", os.path.join(hf_home, "assets"))
            patch(hub_constants, "HF_XET_CACHE", os.path.join(hf_home, "xet"))
            patch(hub_constants, "HF_TOKEN_PATH", os.path.join(hf_home, "token"))
            patch(hub_constants, "HF_STORED_TOKENS_PATH", os.path.join(hf_home, "stored_tokens"))
    ds_config = sys.modules.get("datasets.config")
    if ds_config is not None:
        if "HF_HUB_OFFLINE" in env:
            patch(ds_config, "HF_HUB_OFFLINE", _truthy(env["HF_HUB_OFFLINE"]))
            patch(ds_config, "HF_DATASETS_OFFLINE", _truthy(env["HF_HUB_OFFLINE"]))
        if endpoint:
            patch(ds_config, "HF_ENDPOINT", endpoint.rstrip("/"))
            patch(
                ds_config, "HUB_DATASETS_URL", endpoint.rstrip("/") + "/datasets/{repo_id}/resolve/{revision}/{path}"
            )
        if hf_home:
            datasets_cache = os.path.join(hf_home, "datasets")
            patch(ds_config, "HF_CACHE_HOME", hf_home)
            patch(ds_config, "HF_DATASETS_CACHE", datasets_cache)
            patch(ds_config, "DOWNLOADED_DATASETS_PATH", os.path.join(datasets_cache, "downloads"))
            patch(ds_config, "EXTRACTED_DATASETS_PATH", os.path.join(datasets_cache, "downloads", "extracted"))
            patch(ds_config, "HF_MODULES_CACHE", os.path.join(hf_home, "modules"))
    if patched:
        logger.debug("patched already-imported Hugging Face constants: %s", ", ".join(patched))
    return patched


def _truthy(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def make_hf_home() -> str:
    """A fresh temporary folder to use as ``HF_HOME``."""
    return tempfile.mkdtemp(prefix="finr1-hf-home-")
