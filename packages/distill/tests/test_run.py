"""`finr1-distill run` end to end against the fake OpenAI server: samples, flags, flagged traces, kill -9 and
resume, injected faults, shards, the Hub test server, and bad input that must fail with one line."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from finr1_core import refs
from finr1_core.schemas import DistilledRow
from finr1_core.testing.fake_openai import FakeAnswer, FakeOpenAIServer
from finr1_core.testing.leaks import assert_no_leaks, distinctive_secrets
from finr1_distill.cli import main
from finr1_distill.sources import SOURCES, get_source

REASONING = "\nFirst, read the question.\nSecond, find the numbers.\nThird, compute the result."
SAMPLE_SOURCES = [name for name in SOURCES if name not in ("finpee", "jsonl")]


def _answer(request: dict) -> FakeAnswer:
    return FakeAnswer("The answer is \\boxed{42}.", reasoning=REASONING)


@pytest.fixture
def teacher():
    """A fake teacher recording every request body."""
    seen: list[dict] = []
    lock = threading.Lock()

    def answer(request: dict) -> FakeAnswer:
        with lock:
            seen.append(request)
        return _answer(request)

    with FakeOpenAIServer(answers=answer, latency_s=0.001) as server:
        server.seen = seen  # type: ignore[attr-defined]
        yield server


def _flags(server: FakeOpenAIServer, out: Path, *extra: str) -> list[str]:
    return [
        "run",
        "--output",
        str(out),
        "--base-url",
        server.base_url,
        "--model",
        "fake-model",
        "--api-key-env",
        "",
        "--no-progress",
        *extra,
    ]


def _config(tmp_path: Path, data: dict, name: str = "distill.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return str(path)


def _rows(out: Path) -> list[DistilledRow]:
    ds, _ = refs.load_dataset_ref(str(out), split="train")
    return [DistilledRow.from_row(r) for r in ds]


def _error_line(stderr: str) -> str:
    """The one error line a failed run prints (log lines may precede it; a traceback may not)."""
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, stderr
    return errors[0]


def _items_file(tmp_path: Path, n: int, name: str = "items.jsonl") -> Path:
    path = tmp_path / name
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            row = {
                "id": f"q{i}",
                "question": f"Question number {i}: what is {i} plus {i}?",
                "reference": str(2 * i),
                "answer_type": "numeric",
            }
            f.write(json.dumps(row) + "\n")
    return path


def _expected_items(*names: str) -> list[str]:
    return [item.id for name in names for item in get_source(name).load(samples=True)]


# --- happy paths ------------------------------------------------------------------------------------------


def test_samples_end_to_end_with_decontamination_card_and_lineage(teacher, tmp_path, capsys):
    # An evaluation root (layout of ../shared/data) holding one of the shipped TFNS training tweets.
    tweet = next(i for i in get_source("tfns").load(samples=True))
    eval_root = tmp_path / "eval"
    (eval_root / "tfns").mkdir(parents=True)
    (eval_root / "tfns" / "sent_valid.csv").write_text(f'text,label\n"{tweet.meta["question"]}",0\n', encoding="utf-8")
    cfg = _config(tmp_path, {"decontamination": {"eval_data": [str(eval_root)]}})
    out = tmp_path / "distill"
    assert main([*_flags(teacher, out, "--samples", "--config", cfg)]) == 0
    rows = _rows(out)
    expected = [i for i in _expected_items(*SAMPLE_SOURCES) if i != tweet.id]
    assert sorted(r.id for r in rows) == sorted(expected)
    assert all(r.error is None and r.reasoning and r.completion and r.teacher == "fake-model" for r in rows)
    assert {r.source for r in rows} == set(SAMPLE_SOURCES)
    # Teacher defaults (RECIPE §2) and no system prompt.
    assert len(teacher.seen) == len(expected)
    for body in teacher.seen:
        assert (body["temperature"], body["top_p"], body["max_tokens"]) == (0.6, 0.95, 16384)
        assert all(m["role"] != "system" for m in body["messages"])
    lineage = refs.read_lineage(str(out))
    assert lineage.counts == {"train": len(expected)} and len(lineage.inputs) == len(SAMPLE_SOURCES)
    card = (out / "README.md").read_text(encoding="utf-8")
    assert f"`{tweet.id}`" in card and "removed 1 items" in card
    assert "removed 1 contaminated" in capsys.readouterr().out


def test_source_flags_quota_sampling_and_samples_per_item(teacher, tmp_path):
    items = _items_file(tmp_path, 12)
    cfg = _config(tmp_path, {"sources": [{"name": "jsonl", "quota": 5}], "seed": 7})
    runs = {}
    for seed_name, seed in (("a", 7), ("b", 7), ("c", 8)):
        cfg = _config(tmp_path, {"sources": [{"name": "jsonl", "quota": 5}], "seed": seed}, f"{seed_name}.yaml")
        out = tmp_path / f"out-{seed_name}"
        args = _flags(
            teacher,
            out,
            "--config",
            cfg,
            "--source",
            "jsonl",
            "--data",
            str(items),
            "--samples-per-item",
            "2",
            "--max-tokens",
            "512",
            "--concurrency",
            "3",
        )
        assert main(args) == 0
        rows = _rows(out)
        runs[seed_name] = sorted({r.id for r in rows})
        assert len(rows) == 10 and sorted((r.id, r.sample_index) for r in rows) == sorted(
            (i, s) for i in runs[seed_name] for s in (0, 1)
        )
    assert len(runs["a"]) == 5 and runs["a"] == runs["b"]  # the quota keeps its items under the seed
    assert runs["c"] != runs["a"]
    assert {body["max_tokens"] for body in teacher.seen} == {512}


def test_a_source_option_is_counted_under_its_configured_name(teacher, tmp_path):
    out = tmp_path / "out"
    assert main(_flags(teacher, out, "--source", "fincuge:finfe", "--samples")) == 0
    n = len(list(get_source("fincuge:finfe").load(samples=True)))
    assert n and len(_rows(out)) == n
    assert f"| fincuge:finfe | {n} | 0 | {n} | {n} | {n} |" in (out / "README.md").read_text(encoding="utf-8")


def test_truncated_empty_and_failed_calls_are_kept_as_flagged_rows(tmp_path, capsys):
    def answer(request):
        text = request["messages"][-1]["content"]
        if "number 0:" in text:
            return FakeAnswer("cut", reasoning=REASONING, finish_reason="length")
        if "number 1:" in text:
            return FakeAnswer("\\boxed{2}", reasoning="")
        if "number 2:" in text:
            return FakeAnswer("", reasoning=REASONING)
        return FakeAnswer("\\boxed{6}", reasoning=REASONING)

    def fault(request, attempt):
        return "400" if "number 3:" in request["messages"][-1]["content"] else None

    items = _items_file(tmp_path, 12)  # 4 flagged of 12: above the default min_usable (0.5)
    out = tmp_path / "out"
    with FakeOpenAIServer(answers=answer, fault_fn=fault) as server:
        assert main(_flags(server, out, "--source", "jsonl", "--data", str(items))) == 0
    rows = {r.id: r for r in _rows(out)}
    assert len(rows) == 12
    assert rows["jsonl/q0"].error.startswith("truncated") and rows["jsonl/q0"].finish_reason == "length"
    assert rows["jsonl/q1"].error.startswith("empty reasoning")
    assert rows["jsonl/q2"].error.startswith("empty final answer")
    assert "HTTP 400" in rows["jsonl/q3"].error
    assert rows["jsonl/q4"].error is None and rows["jsonl/q4"].completion == "\\boxed{6}"
    line = capsys.readouterr().out
    assert "8 usable" in line and "request failed 1" in line and "truncated 1" in line
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "| jsonl | 12 | 0 | 12 | 12 | 8 | 1 | 1 | 1 | 1 |" in card


def test_shards_write_disjoint_parts_of_one_dataset(teacher, tmp_path, capsys):
    items = _items_file(tmp_path, 15)
    out = tmp_path / "out"
    for index in range(3):
        assert main(_flags(teacher, out, "--source", "jsonl", "--data", str(items), "--shard", f"{index}/3")) == 0
        assert ("complete" in capsys.readouterr().out) == (index == 2)
    rows = _rows(out)
    assert sorted(r.id for r in rows) == sorted(f"jsonl/q{i}" for i in range(15))
    assert len(teacher.seen) == 15  # each item asked once over all shards
    assert sorted(p.name for p in (out / "data").iterdir()) == [f"train-{i:05d}-of-00003.parquet" for i in range(3)]
    assert refs.read_lineage(str(out)).counts == {"train": 15}


def test_budget_stop_exits_non_zero_and_the_next_run_finishes(teacher, tmp_path, capsys):
    items = _items_file(tmp_path, 6)
    out = tmp_path / "out"
    cfg = _config(tmp_path, {"max_requests": 4, "concurrency": 1})
    base = _flags(teacher, out, "--source", "jsonl", "--data", str(items))
    assert main([*base, "--config", cfg]) == 1
    assert "run the same command again" in capsys.readouterr().err
    assert refs.read_lineage(str(out)) is None
    assert main(base) == 0
    assert len(_rows(out)) == 6 and len(teacher.seen) == 6


def test_resuming_with_another_teacher_setting_is_refused(teacher, tmp_path, capsys):
    items = _items_file(tmp_path, 4)
    out = tmp_path / "out"
    cfg = _config(tmp_path, {"max_requests": 2, "concurrency": 1})
    base = _flags(teacher, out, "--source", "jsonl", "--data", str(items), "--config", cfg)
    assert main(base) == 1
    capsys.readouterr()
    assert main([*base, "--max-tokens", "99"]) == 1
    err = _error_line(capsys.readouterr().err)
    assert "other settings" in err and "params" in err


# --- crash safety -------------------------------------------------------------------------------------------


def _subprocess_cli(args: list[str], **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **kwargs.pop("env", {})}
    return subprocess.Popen(
        [sys.executable, "-m", "finr1_distill.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def _logged_keys(path: Path) -> set[tuple[str, int]]:
    keys = set()
    if path.exists():
        for line in path.read_bytes().split(b"\n")[:-1]:  # whole lines only
            row = json.loads(line)
            if row["error"] is None:
                keys.add((row["item_id"], row["sample_index"]))
    return keys


def test_kill_9_mid_run_then_resume_gives_one_row_per_item_sample_and_no_repeated_call(tmp_path):
    items = _items_file(tmp_path, 24)
    prompts = {f"jsonl/q{i}": f"Question number {i}:" for i in range(24)}
    out = tmp_path / "out"
    log = out / refs.WORK_DIRNAME / "run" / "teacher.jsonl"
    with FakeOpenAIServer(answers=_answer, latency_s=0.15) as server:
        args = _flags(
            server, out, "--source", "jsonl", "--data", str(items), "--samples-per-item", "2", "--concurrency", "4"
        )
        proc = _subprocess_cli(args)
        deadline = time.monotonic() + 60
        while len(_logged_keys(log)) < 12 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        done_before = _logged_keys(log)
        assert 12 <= len(done_before) < 48, "the kill must land mid-run"
        assert refs.read_lineage(str(out)) is None
        first_run = server.stats()
        server.reset_stats()
        proc = _subprocess_cli(args)
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
        again = server.stats()
    rows = _rows(out)
    keys = [(r.id, r.sample_index) for r in rows]
    assert len(keys) == 48 and len(set(keys)) == 48
    for item_id, prompt in prompts.items():
        finished = sum((item_id, s) in done_before for s in (0, 1))
        asked = sum(n for key, n in again.by_item.items() if prompt in key)
        assert asked == 2 - finished, item_id  # finished calls are never requested again
    assert first_run.chat_requests >= len(done_before)
    assert again.chat_requests == 48 - len(done_before)


FAULT_KINDS = ("429", "500", "503", "hang", "malformed", "drop")


def _fault_for(prompt: str, attempt: int) -> str | None:
    """20% of attempts fault, spread over every retryable kind, decided by hash so arrival order does not matter."""
    x = int(hashlib.sha256(f"{prompt}|{attempt}".encode()).hexdigest()[:8], 16) / 16**8
    return FAULT_KINDS[int(x / 0.2 * len(FAULT_KINDS))] if x < 0.2 else None


def test_twenty_percent_faults_end_as_successes_or_recorded_errors(tmp_path):
    items = _items_file(tmp_path, 100)
    cfg = _config(
        tmp_path,
        {
            "teacher": {"timeout_s": 0.5, "max_retries": 1, "backoff_initial_s": 0.01, "backoff_max_s": 0.05},
            "concurrency": 16,
        },
    )
    out = tmp_path / "out"

    def fault(request, attempt):
        return _fault_for(request["messages"][-1]["content"], attempt)

    with FakeOpenAIServer(answers=_answer, fault_fn=fault, retry_after=0, hang_s=5) as server:
        assert main(_flags(server, out, "--source", "jsonl", "--data", str(items), "--config", cfg)) == 0
        stats = server.stats()
        last_fault = {entry["item"]: entry["fault"] for entry in server.request_log}  # an item's tries are sequential
    rows = _rows(out)
    assert sorted(r.id for r in rows) == sorted(f"jsonl/q{i}" for i in range(100))
    assert set(stats.faults) == set(FAULT_KINDS)
    assert 0.1 < sum(stats.faults.values()) / stats.chat_requests < 0.3
    for row in rows:
        # An item ends as an error exactly when its last try hit a fault (a dropped keep-alive connection may
        # be re-sent by the HTTP client, so the number of tries is read from the server, not predicted).
        assert (row.error is not None) == (last_fault[row.messages[-1].content] is not None), (row.id, row.error)
        if row.error is None:
            assert row.reasoning and row.completion
        else:
            assert row.reasoning is None and row.completion is None
    assert any(r.error for r in rows) and any(r.error is None for r in rows)


# --- Hub output ---------------------------------------------------------------------------------------------


def test_output_to_the_hub_test_server(teacher, tmp_path):
    from finr1_core.testing.hub_server import HubServer

    items = _items_file(tmp_path, 3)
    ref = "hf://datasets/finr1-test/distill-run@run-1"
    with HubServer() as hub:
        env = hub.env(str(tmp_path / "hf_home"))
        proc = _subprocess_cli(
            _flags(teacher, tmp_path / "unused", "--source", "jsonl", "--data", str(items), "--output", ref), env=env
        )
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
        code = (
            "import json; from finr1_core import refs\n"
            f"ds, rec = refs.load_dataset_ref({ref!r}, split='train')\n"
            f"print(json.dumps({{'ids': sorted(ds['id']), 'sha': rec.revision_sha, "
            f"'counts': refs.read_lineage({ref!r}).counts}}))"
        )
        check = subprocess.run(
            [sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True, timeout=120
        )
    assert check.returncode == 0, check.stderr
    result = json.loads(check.stdout.strip().splitlines()[-1])
    assert result["ids"] == [f"jsonl/q{i}" for i in range(3)] and result["counts"] == {"train": 3}
    assert len(result["sha"]) == 40


# --- bad input ----------------------------------------------------------------------------------------------


def _bad_tfns(tmp_path: Path) -> list[str]:
    path = tmp_path / "tfns.csv"
    path.write_text("text,sentiment\nshares slide,0\n", encoding="utf-8")
    return ["--source", "tfns", "--data", str(path)]


def _malformed_jsonl(tmp_path: Path) -> list[str]:
    path = _items_file(tmp_path, 2)
    with path.open("a", encoding="utf-8") as f:
        f.write('{"id": "q9", "question": "broken\n')
    return ["--source", "jsonl", "--data", str(path)]


@pytest.mark.parametrize(
    ("make_args", "fragment"),
    [
        (lambda p: ["--source", "nosuch", "--samples"], "unknown source 'nosuch'"),
        (lambda p: ["--source", "finqa", "--data", str(p / "missing.json")], "missing.json"),
        (_bad_tfns, "label"),
        (_malformed_jsonl, "line 3"),
        (lambda p: ["--source", "finqa", "--samples", "--shard", "3/3"], "shard '3/3'"),
        (lambda p: ["--source", "finqa", "--samples", "--base-url", "http://127.0.0.1:9/v1"], "cannot reach"),
    ],
    ids=["unknown-source", "missing-file", "missing-column", "malformed-row", "bad-shard", "unreachable-endpoint"],
)
def test_bad_input_exits_non_zero_with_one_line(teacher, tmp_path, capsys, make_args, fragment):
    out = tmp_path / "out"
    args = [*_flags(teacher, out), *make_args(tmp_path)]
    assert main(args) != 0
    err = _error_line(capsys.readouterr().err)
    assert fragment in err, err
    assert refs.read_lineage(str(out)) is None
    assert teacher.seen == []  # nothing was sent


def test_data_without_a_single_source_is_a_usage_error(teacher, tmp_path, capsys):
    assert main([*_flags(teacher, tmp_path / "o"), "--data", str(tmp_path)]) == 2
    assert "--data needs exactly one --source" in capsys.readouterr().err


# === issue 14: a run that produced nothing usable fails; secrets never leak =======================================


def _assert_failed_without_output(out: Path, stdout: str) -> None:
    assert refs.read_lineage(str(out)) is None and not (out / "lineage.json").exists()
    assert "(complete)" not in stdout and not list(out.glob("data/*.parquet"))


def test_a_teacher_that_refuses_the_key_stops_at_once_with_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FINR1_TEST_TEACHER_KEY", "sk-revoked-teacher-key-0123456789")
    items = _items_file(tmp_path, 20)
    out = tmp_path / "out"
    with FakeOpenAIServer(answers=_answer, api_key="sk-revoked-teacher-key-0123456789", revoke_after=3) as server:
        args = [*_flags(server, out, "--source", "jsonl", "--data", str(items), "--concurrency", "1")]
        args[args.index("--api-key-env") + 1] = "FINR1_TEST_TEACHER_KEY"
        assert main(args) == 1
        stats = server.stats()
    assert (stats.ok, stats.refused) == (3, 1)  # three answers, the first 401 stops the run: 16 calls not paid for
    captured = capsys.readouterr()
    line = _error_line(captured.err)
    assert f"{server.base_url}/chat/completions refused the key in $FINR1_TEST_TEACHER_KEY (--api-key-env)" in line
    assert "revoked" in line and "sk-revoked" not in captured.err + captured.out
    _assert_failed_without_output(out, captured.out)
    logged = [
        json.loads(line) for line in (out / refs.WORK_DIRNAME / "run" / "teacher.jsonl").read_text().splitlines()
    ]
    assert [row["error"] is None for row in logged] == [True, True, True, False]  # paid calls kept, refusal logged


def test_a_teacher_failing_every_call_fails_the_run_and_the_fixed_rerun_resumes(tmp_path, capsys):
    items = _items_file(tmp_path, 6)
    out = tmp_path / "out"
    cfg = _config(tmp_path, {"teacher": {"max_retries": 2, "backoff_initial_s": 0.01, "backoff_max_s": 0.02}})
    with FakeOpenAIServer(answers=_answer, faults={"500": 1.0}) as server:
        assert main(_flags(server, out, "--source", "jsonl", "--data", str(items), "--config", cfg)) == 1
        assert server.stats().chat_requests == 6 * 3  # every call retried to its budget
    captured = capsys.readouterr()
    line = _error_line(captured.err)
    assert line.startswith("error: only 0 of 6 teacher calls were usable (0%, below --min-usable 50%)")
    assert "request_failed 6 (e.g. HTTP 500: injected fault 500 (after 3 attempts))" in line
    _assert_failed_without_output(out, captured.out)
    with FakeOpenAIServer(answers=_answer) as server:
        assert main(_flags(server, out, "--source", "jsonl", "--data", str(items), "--config", cfg)) == 0
        assert server.stats().chat_requests == 6  # the failed calls are sent again, once each
    assert len(_rows(out)) == 6 and refs.read_lineage(str(out)) is not None


def test_an_instruct_teacher_behind_a_reasoning_parser_is_reported(tmp_path, capsys):
    items = _items_file(tmp_path, 3)
    out = tmp_path / "out"
    instruct = FakeAnswer("Step 1: add. The answer is \\boxed{4}.", reasoning="")
    with FakeOpenAIServer(answers=lambda r: instruct, reasoning_mode="all_reasoning") as server:
        assert main(_flags(server, out, "--source", "jsonl", "--data", str(items))) == 1
    line = _error_line(capsys.readouterr().err)
    assert "only 0 of 3 teacher calls were usable" in line and "empty_answer 3" in line
    assert "content was null and the whole reply came as reasoning_content" in line


def test_min_usable_accepts_a_partial_run_when_lowered(tmp_path):
    items = _items_file(tmp_path, 4)
    out = tmp_path / "out"
    fault = {
        "fault_fn": lambda request, attempt: "400" if "number 0:" not in request["messages"][-1]["content"] else None
    }
    with FakeOpenAIServer(answers=_answer, **fault) as server:
        args = _flags(server, out, "--source", "jsonl", "--data", str(items))
        assert main(args) == 1  # 1 of 4 usable
        assert main([*args, "--min-usable", "0.2"]) == 0
    assert sum(r.error is None for r in _rows(out)) == 1


def test_errors_name_the_flag_the_user_typed(tmp_path, capsys):
    items = _items_file(tmp_path, 1)
    with FakeOpenAIServer(answers=_answer) as server:
        args = _flags(server, tmp_path / "out", "--source", "jsonl", "--data", str(items))
        args[args.index("--model") + 1] = "not-served"
        assert main(args) == 1
        assert _error_line(capsys.readouterr().err).endswith("(it serves: fake-model); fix --model")
        cfg = _config(tmp_path, {"teacher": {"modle": "x"}})
        assert main([*args, "--config", cfg]) == 1
    assert _error_line(capsys.readouterr().err) == (
        f"error: {cfg}:2: unknown key 'teacher.modle' (did you mean 'model'?); allowed here: "
        + ", ".join(sorted(_teacher_fields()))
        + "; rename or remove it"
    )


def _teacher_fields() -> list[str]:
    from finr1_distill.config import TeacherConfig

    return list(TeacherConfig.model_fields)


@pytest.mark.parametrize("outcome", ["success", "401", "500"])
def test_no_secret_reaches_any_stream_or_file_at_debug_level_in_json(tmp_path, capfd, outcome):
    items = _items_file(tmp_path, 3)
    out = tmp_path / "out"
    with distinctive_secrets() as secrets:
        faults = {"500": 1.0} if outcome == "500" else None
        with FakeOpenAIServer(answers=_answer, api_key=secrets.key, faults=faults) as server:
            server.revoke_after = 1 if outcome == "401" else None  # a key revoked mid-run
            args = _flags(server, out, "--source", "jsonl", "--data", str(items), "--concurrency", "1")
            args[args.index("--base-url") + 1] = secrets.url(server.base_url)
            args[args.index("--api-key-env") + 1] = secrets.key_env
            cfg = _config(tmp_path, {"teacher": {"max_retries": 1, "backoff_initial_s": 0.01}})
            rc = main(["--log-level", "debug", "--log-format", "json", *args, "--config", cfg])
        stdout, stderr = capfd.readouterr()
        assert rc == (0 if outcome == "success" else 1), stderr
        if rc:
            last = json.loads(stderr.strip().splitlines()[-1])  # the final error line is JSON too
            assert last["level"] == "ERROR" and last["exit_code"] == 1 and last["message"]
        assert_no_leaks(secrets, paths=[tmp_path], texts={"stdout": stdout, "stderr": stderr})


def test_a_key_refused_on_every_request_fails_before_any_call(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FINR1_TEST_TEACHER_KEY", "sk-wrong-teacher-key-0123456789")
    items = _items_file(tmp_path, 5)
    out = tmp_path / "out"
    with FakeOpenAIServer(answers=_answer, api_key="sk-right-teacher-key-0123456789") as server:
        args = _flags(server, out, "--source", "jsonl", "--data", str(items))
        args[args.index("--api-key-env") + 1] = "FINR1_TEST_TEACHER_KEY"
        assert main(args) == 1
        assert server.stats().chat_requests == 0 and server.stats().refused == 1  # the start-up check only
    captured = capsys.readouterr()
    line = _error_line(captured.err)
    assert f"{server.base_url}/models refused the key in $FINR1_TEST_TEACHER_KEY (--api-key-env) (HTTP 401" in line
    _assert_failed_without_output(out, captured.out)
