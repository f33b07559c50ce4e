"""Config precedence (defaults < YAML < flags) and one-line errors naming file, key and type."""

from __future__ import annotations

from typing import ClassVar, Literal

import pytest

from finr1_core.config import StrictModel, load_config, redact_config
from finr1_core.errors import ConfigError


class Endpoint(StrictModel):
    base_url: str = "http://127.0.0.1:8000/v1"
    model: str = "Fin-R1"
    api_key_env: str | None = None
    temperature: float = 0.6


class Cfg(StrictModel):
    teacher: Endpoint = Endpoint()
    concurrency: int = 64
    mode: Literal["faithful", "clean"] = "faithful"
    sources: list[str] = ["finqa"]


def write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_yaml_flags_precedence(tmp_path):
    path = write(tmp_path, "concurrency: 8\nteacher:\n  model: deepseek-reasoner\n  temperature: 0.3\n")
    cfg = load_config(Cfg, path, {"teacher.temperature": 0.9, "concurrency": None})
    assert cfg.concurrency == 8  # YAML beats default; a None flag does not override
    assert cfg.teacher.model == "deepseek-reasoner"
    assert cfg.teacher.temperature == 0.9  # flag beats YAML
    assert cfg.teacher.base_url == "http://127.0.0.1:8000/v1"  # default kept
    assert load_config(Cfg).concurrency == 64


def test_unknown_key_names_file_key_and_allowed(tmp_path):
    path = write(tmp_path, "teacher:\n  modle: x\n")
    with pytest.raises(ConfigError) as err:
        load_config(Cfg, path)
    msg = str(err.value)
    assert str(path) in msg and "teacher.modle" in msg and "unknown key" in msg and "model" in msg
    assert "\n" not in msg


def test_wrong_type_names_expected_type(tmp_path):
    path = write(tmp_path, "concurrency: lots\n")
    with pytest.raises(ConfigError, match=r"c\.yaml:1: key 'concurrency': expected an integer, got 'lots'"):
        load_config(Cfg, path)
    path = write(tmp_path, "mode: fast\n")
    with pytest.raises(ConfigError, match=r"key 'mode': expected one of 'faithful', 'clean'"):
        load_config(Cfg, path)
    path = write(tmp_path, "teacher:\n  temperature: hot\n")
    with pytest.raises(ConfigError, match=r"key 'teacher.temperature': expected a number"):
        load_config(Cfg, path)


def test_flag_errors_are_attributed_to_command_line(tmp_path):
    with pytest.raises(ConfigError, match=r"^command line: key 'concurrency'"):
        load_config(Cfg, None, {"concurrency": "x"})


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(Cfg, tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="top level"):
        load_config(Cfg, write(tmp_path, "- a\n- b\n"))
    with pytest.raises(ConfigError, match=r"c\.yaml: line \d+"):
        load_config(Cfg, write(tmp_path, "a: [1, 2\n"))


def test_redact_config_drops_secrets_keeps_env_names():
    cfg = {"teacher": {"api_key_env": "DEEPSEEK_API_KEY", "api_key": "sk-live", "model": "m"}, "hf_token": "hf_x"}
    assert redact_config(cfg) == {"teacher": {"api_key_env": "DEEPSEEK_API_KEY", "model": "m"}}


class Step(StrictModel):
    name: str
    model: str = "m"


class Pipeline(StrictModel):
    renamed_keys: ClassVar[dict[str, str]] = {"max_tries": "max_asks"}

    steps: list[Step]
    max_asks: int = 3


def test_a_misspelt_key_is_named_before_the_key_it_makes_missing(tmp_path):
    # "stepz" also makes "steps" missing; the typo is the fix, so it is what the message names.
    path = write(tmp_path, "max_asks: 2\nstepz:\n  - name: a\n")
    with pytest.raises(ConfigError) as err:
        load_config(Pipeline, path)
    assert str(err.value) == (
        f"{path}:2: unknown key 'stepz' (did you mean 'steps'?); allowed here: max_asks, steps; rename or remove it"
    )


def test_unknown_keys_in_lists_are_named_with_their_index_line_and_the_fix(tmp_path):
    path = write(tmp_path, "steps:\n  - name: a\n  - name: b\n    modle: x\n    colour: red\n")
    with pytest.raises(ConfigError) as err:
        load_config(Pipeline, path)
    assert str(err.value) == (
        f"{path}:4: unknown keys 'steps[1].modle' (did you mean 'model'?), 'steps[1].colour'; rename or remove them"
    )
    with pytest.raises(ConfigError, match=r"unknown key 'max_tries' \(renamed to 'max_asks'\)"):
        load_config(Pipeline, write(tmp_path, "steps: []\nmax_tries: 3\n"))


def test_setting_names_say_where_each_value_came_from(tmp_path):
    path = write(tmp_path, "teacher:\n  model: from-file\n")
    cfg = load_config(
        Cfg, path, {"concurrency": 3}, flags={"concurrency": "--concurrency", "teacher.model": "--model"}
    )
    assert cfg.setting_name("concurrency") == "--concurrency"
    assert cfg.teacher.setting_name("model") == f"teacher.model in {path}"
    assert cfg.teacher.setting_name("base_url") == "teacher.base_url"  # a default without a flag
    with pytest.raises(ConfigError, match=r"^--concurrency: expected an integer, got 'x'"):
        load_config(Cfg, None, {"concurrency": "x"}, flags={"concurrency": "--concurrency"})
