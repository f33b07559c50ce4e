"""Secrets never reach a log line, at any level, in text or JSON format."""

from __future__ import annotations

import json
import logging

import pytest

from finr1_core.logging import REDACTED, redact, setup_logging

SECRET = "sk-test-0123456789abcdefXYZ"


@pytest.mark.parametrize("fmt", ["text", "json"])
@pytest.mark.parametrize("level", ["DEBUG", "INFO", "WARNING", "ERROR"])
def test_secrets_redacted_every_level(monkeypatch, capsys, fmt, level):
    monkeypatch.setenv("FINR1_TEST_API_KEY", "plain-env-secret-value")
    setup_logging("DEBUG", fmt)
    log = logging.getLogger("finr1.test")
    log.log(getattr(logging, level), "key=%s header=%s", "plain-env-secret-value", f"Authorization: Bearer {SECRET}")
    log.log(getattr(logging, level), "hub token hf_abcdefghijklmnop1234 and %s", {"api_key": SECRET})
    try:
        raise RuntimeError(f"request failed with {SECRET}")
    except RuntimeError:
        log.exception("boom")
    err = capsys.readouterr().err
    assert "plain-env-secret-value" not in err
    assert SECRET not in err and "hf_abcdefghijklmnop1234" not in err
    assert err.count(REDACTED) >= 4
    if fmt == "json":
        lines = [json.loads(line) for line in err.strip().splitlines() if line.startswith("{")]
        assert lines and all({"time", "level", "message"} <= set(line) for line in lines)


def test_redact_leaves_ordinary_text_alone():
    text = "answer is 42 with temperature 0.6, model Fin-R1, api_key_env=DEEPSEEK_API_KEY"
    assert redact(text) == text


def test_working_directory_is_not_a_secret(monkeypatch, tmp_path):
    # PWD/OLDPWD look like "password" abbreviations but hold paths; redacting them mangles every path.
    monkeypatch.setenv("PWD", str(tmp_path))
    monkeypatch.setenv("OLDPWD", str(tmp_path))
    assert redact(f"wrote {tmp_path}/artifacts/distill") == f"wrote {tmp_path}/artifacts/distill"
