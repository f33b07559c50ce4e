"""finr1_core.testing.leaks: the helper every stage's leak test uses must find what it is meant to find."""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.parquet as pq

from finr1_core.testing.leaks import Secrets, assert_no_leaks, distinctive_secrets, find_leaks


def test_distinctive_secrets_are_set_and_restored():
    assert "FINR1_LEAKCHECK_API_KEY" not in os.environ
    with distinctive_secrets() as secrets:
        assert os.environ[secrets.key_env] == secrets.key and os.environ[secrets.token_env] == secrets.token
        assert secrets.url("http://127.0.0.1:8000/v1") == f"http://leakcheck-user:{secrets.password}@127.0.0.1:8000/v1"
    assert "FINR1_LEAKCHECK_API_KEY" not in os.environ and secrets.key != Secrets().key


def test_secrets_are_found_in_streams_nested_files_and_compressed_parquet_values(tmp_path):
    secrets = Secrets()
    (tmp_path / ".finr1-work" / "run").mkdir(parents=True)
    (tmp_path / ".finr1-work" / "run" / "teacher.jsonl").write_text(f'{{"error": "{secrets.password}"}}\n')
    # Dictionary-encoded, compressed pages: the raw bytes need not contain the string; the values do.
    table = pa.table({"error": [f"HTTP 401 for {secrets.key}"] * 50})
    pq.write_table(table, tmp_path / "train.parquet", compression="zstd", use_dictionary=True)
    leaks = find_leaks(secrets, paths=[tmp_path], texts={"stderr": f"token {secrets.token}", "stdout": "clean"})
    assert "stderr: hf token" in leaks
    assert f"{tmp_path / '.finr1-work' / 'run' / 'teacher.jsonl'}: url password" in leaks
    assert f"{tmp_path / 'train.parquet'} (values): api key" in leaks
    assert not any(line.startswith("stdout") for line in leaks)


def test_a_clean_run_passes_and_searching_nothing_is_an_error(tmp_path):
    secrets = Secrets()
    (tmp_path / "README.md").write_text("base_url: http://leakcheck-user:<redacted>@127.0.0.1/v1\n")
    assert_no_leaks(secrets, paths=[tmp_path], texts={"stderr": "error: refused the key in $FINR1_LEAKCHECK_API_KEY"})
    try:
        assert_no_leaks(secrets, paths=[tmp_path / "missing"])
    except AssertionError as exc:
        assert "nothing was searched" in str(exc)
    else:
        raise AssertionError("searching nothing must fail")
