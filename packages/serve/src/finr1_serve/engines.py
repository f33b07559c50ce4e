"""Build the serving command for vLLM (GPU) or ``transformers serve`` (CPU) and run it.

``vllm serve`` takes every Fin-R1 flag itself (RECIPE.md §9), so :func:`launch` simply execs it.
``transformers serve`` has no ``--served-model-name`` and answers 400 to any model name other than the
path it was started with (TOOLING.md §5); on that engine :func:`launch` starts it on a private loopback
port and runs :class:`~finr1_serve.alias.AliasProxy` on the public port, so clients use ``Fin-R1`` on
both engines.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import shlex
import shutil
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

from finr1_core.errors import ArtifactError, MissingDependencyError
from finr1_serve.config import AUTO, DEFAULT_MAX_MODEL_LEN, NO_PARSER, ServeConfig

logger = logging.getLogger(__name__)

EMBEDDED = "embedded"
VLLM_INSTALL = "use the finr1-serve image (vllm/vllm-openai:v0.31.0) or `pip install vllm==0.31.0` on a CUDA machine"
CPU_INSTALL = "pip install 'finr1-serve[cpu]'"
CB_BLOCK_SIZE = 256  # transformers' default page size
CB_MAX_BATCH_TOKENS = 2048  # tokens per forward pass; bounds the logits peak (tokens x vocab) on CPU
# Names of reasoning models ("Fin-R1", "DeepSeek-R1-Distill-…", "deepseek-reasoner", "QwQ-32B", "…-Thinking"):
# a whole word, so "Qwen2.5-72B-Instruct" or "r10" never match.
_REASONING_NAME = re.compile(r"(?<![a-z0-9])(r1|reasoner|qwq|thinking)(?![a-z0-9])", re.IGNORECASE)


@dataclass
class LaunchPlan:
    """What ``up`` runs.

    Attributes:
        engine: ``"vllm"`` or ``"transformers"``.
        command: The engine's argv (exec'd, or started as a child behind the alias proxy).
        model_dir: The resolved local model folder.
        env: Environment variables added for the engine process.
        alias: When set, ``(listen_host, listen_port, upstream_base_url)`` of the name-mapping proxy.
        served_model_name: The public model name.
    """

    engine: str
    command: list[str]
    model_dir: Path
    served_model_name: str
    env: dict[str, str] = field(default_factory=dict)
    alias: tuple[str, int, str] | None = None

    def describe(self) -> str:
        """The command line, plus the proxy when there is one (what ``--dry-run`` prints)."""
        lines = [shlex.join(self.command)]
        if self.alias is not None:
            host, port, upstream = self.alias
            lines.append(
                f"# finr1-serve alias proxy on {host}:{port} -> {upstream} "
                f"(model {self.served_model_name!r} = {self.model_dir})"
            )
        return "\n".join(lines)


# -- environment probes (monkeypatched in tests) ----------------------------------------------------------


def cuda_device_count() -> int:
    """Number of visible CUDA devices (0 without torch or CUDA)."""
    if importlib.util.find_spec("torch") is None:
        return 0
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def vllm_available() -> bool:
    """Whether the vLLM package and its ``vllm`` command are installed."""
    return importlib.util.find_spec("vllm") is not None and _executable("vllm") is not None


def transformers_serving_available() -> bool:
    """Whether ``transformers serve`` can run (transformers plus its ``serving`` extra)."""
    return all(importlib.util.find_spec(m) is not None for m in ("transformers", "fastapi", "uvicorn"))


def cpu_has_bf16() -> bool:
    """Whether the CPU computes bf16 in hardware (AVX512-BF16 or AMX), where bf16 is 1.4-1.7x faster."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def _executable(name: str) -> str | None:
    # Prefer the script next to this interpreter, so a venv's tools win over whatever is on PATH.
    sibling = Path(sys.executable).parent / name
    if sibling.is_file() and os.access(sibling, os.X_OK):
        return str(sibling)
    return shutil.which(name)


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


# -- planning ------------------------------------------------------------------------------------------


def resolve_model(ref: str) -> Path:
    """Turn a model reference into a local folder.

    ``embedded`` prepares the embedded SmolLM2 (converted once); an existing directory is used as is;
    anything else (``hf://ORG/NAME@REV``) goes through :func:`finr1_core.refs.resolve_model_ref`.
    """
    if ref == EMBEDDED:
        from finr1_core.models import embedded_model_path

        return embedded_model_path()
    path = Path(ref).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ArtifactError(f"{path} has no config.json: pass a model folder written by save_pretrained")
        return path.resolve()
    if not ref.startswith("hf://"):
        raise ArtifactError(f"model {ref!r} is neither a folder nor hf://ORG/NAME[@REV] nor `{EMBEDDED}`")
    from finr1_core.refs import resolve_model_ref

    folder, record = resolve_model_ref(ref)
    logger.info("model %s resolved to %s (%s)", ref, folder, record)
    return Path(folder)


def choose_engine(requested: str) -> str:
    """Pick the engine: vLLM when asked or when CUDA and vLLM are both present, else transformers."""
    if requested == "vllm":
        if not vllm_available():
            raise MissingDependencyError(f"--engine vllm: vLLM is not installed; {VLLM_INSTALL}")
        return "vllm"
    if requested == "auto" and cuda_device_count() > 0 and vllm_available():
        return "vllm"
    if not transformers_serving_available():
        raise MissingDependencyError(
            f"`transformers serve` needs transformers[serving] (fastapi, uvicorn): {CPU_INSTALL}"
        )
    return "transformers"


def _model_config(model_dir: Path) -> dict:
    try:
        return json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def default_tensor_parallel_size(model_dir: Path, gpus: int) -> int:
    """The visible GPU count, lowered to the largest size that divides the model's attention heads."""
    heads = _model_config(model_dir).get("num_attention_heads")
    size = max(gpus, 1)
    if isinstance(heads, int) and heads > 0:
        while heads % size:
            size -= 1
        if size != max(gpus, 1):
            logger.info("tensor-parallel size %d (of %d GPUs) so it divides the %d attention heads", size, gpus, heads)
    return size


def effective_max_model_len(model_dir: Path, requested: int | None) -> int:
    """``requested`` if given; otherwise 16384 capped by the model's ``max_position_embeddings``."""
    if requested is not None:
        return requested
    limit = _model_config(model_dir).get("max_position_embeddings")
    if isinstance(limit, int) and 0 < limit < DEFAULT_MAX_MODEL_LEN:
        logger.info(
            "max-model-len %d: the model's context length (below the default %d)", limit, DEFAULT_MAX_MODEL_LEN
        )
        return limit
    return DEFAULT_MAX_MODEL_LEN


def _chat_template(model_dir: Path) -> str:
    """The model's chat template text (``chat_template.jinja`` or ``tokenizer_config.json``), or ''."""
    parts = []
    jinja = model_dir / "chat_template.jinja"
    if jinja.is_file():
        parts.append(jinja.read_text(encoding="utf-8", errors="replace"))
    try:
        template = json.loads((model_dir / "tokenizer_config.json").read_text(encoding="utf-8")).get("chat_template")
    except (OSError, ValueError, AttributeError):
        template = None
    if isinstance(template, str):
        parts.append(template)
    elif isinstance(template, list):  # named templates: [{"name": ..., "template": ...}]
        parts += [str(t.get("template", "")) for t in template if isinstance(t, dict)]
    return "\n".join(parts)


def _lineage_tool(model_dir: Path) -> str | None:
    try:
        tool = json.loads((model_dir / "lineage.json").read_text(encoding="utf-8")).get("tool")
    except (OSError, ValueError, AttributeError):
        return None
    return tool if isinstance(tool, str) else None


def derive_reasoning_parser(model_dir: Path, ref: str | None = None) -> tuple[str | None, str]:
    """The vLLM reasoning parser a model needs, and why: only models that write ``<think>`` get one.

    A parser on an instruct model (Qwen2.5-Instruct as judge or baseline) moves its whole answer into
    ``reasoning_content`` and leaves ``content`` null, or vLLM refuses the requests; so the default is none.
    A model writes ``<think>`` when its chat template does (DeepSeek-R1 distills, QwQ, Qwen3), when it is a
    finr1 student (``lineage.json`` written by finr1-train, trained on R1 traces), or when its name says so
    (``Fin-R1``, ``…-R1-…``, ``reasoner``, ``QwQ``, ``Thinking``).

    Returns:
        ``(parser or None, reason)``; ``qwen3`` for Qwen3 models (vLLM's parser for them), else ``deepseek_r1``.
    """
    model_type = str(_model_config(model_dir).get("model_type", ""))
    parser = "qwen3" if model_type.startswith("qwen3") else "deepseek_r1"
    if "<think>" in _chat_template(model_dir):
        return parser, "its chat template writes <think>"
    if _lineage_tool(model_dir) == "finr1-train":
        return parser, "a finr1 student (lineage.json by finr1-train): trained to write <think>"
    names = [ref or "", str(_model_config(model_dir).get("_name_or_path", "")), model_dir.name]
    for name in names:
        if _REASONING_NAME.search(name):
            return parser, f"its name {name!r} is a reasoning model's"
    return None, "no <think> in its chat template, lineage or name (an instruct model)"


def reasoning_parser_for(config: ServeConfig, model_dir: Path) -> str | None:
    """``config.reasoning_parser`` resolved: ``auto`` derived from the model, ``none``/null as no parser."""
    value = config.reasoning_parser
    if value is None or value.strip().lower() in NO_PARSER:
        return None
    if value.strip().lower() != AUTO:
        return value
    parser, reason = derive_reasoning_parser(model_dir, config.model)
    logger.info("reasoning parser %s (auto: %s)", parser or "none", reason)
    return parser


def vllm_command(config: ServeConfig, model_dir: Path, gpus: int) -> list[str]:
    """``vllm serve`` with the Fin-R1 serving flags (RECIPE.md §9) and, for reasoning models, the parser."""
    tp = config.tensor_parallel_size or default_tensor_parallel_size(model_dir, gpus)
    command = [
        _executable("vllm") or "vllm",
        "serve",
        str(model_dir),
        "--host",
        config.host,
        "--port",
        str(config.port),
        "--served-model-name",
        config.served_model_name,
        "--tensor-parallel-size",
        str(tp),
        "--max-model-len",
        str(effective_max_model_len(model_dir, config.max_model_len)),
        "--gpu-memory-utilization",
        str(config.gpu_memory_utilization),
    ]
    parser = reasoning_parser_for(config, model_dir)
    if parser:
        command += ["--reasoning-parser", parser]
    if config.dtype:
        command += ["--dtype", config.dtype]
    return command + list(config.engine_args)


def transformers_command(config: ServeConfig, model_dir: Path, host: str, port: int, cuda: bool) -> list[str]:
    """``transformers serve`` pinned to ``model_dir`` (flags checked against ``transformers serve --help`` 5.17)."""
    command = [_executable("transformers") or "transformers", "serve", "--host", host, "--port", str(port)]
    if config.continuous_batching:
        command.append("--continuous-batching")
        if not cuda:
            # Unbounded, continuous batching sizes its paged KV cache to 80% of *system* RAM on CPU (21 GB
            # resident for a 0.3 M-parameter model on a 24 GB machine, 35 s to allocate on the first request).
            blocks = -(-config.cpu_kv_cache_tokens // CB_BLOCK_SIZE)
            command += ["--cb-block-size", str(CB_BLOCK_SIZE), "--cb-num-blocks", str(blocks)]
            command += ["--cb-max-batch-tokens", str(CB_MAX_BATCH_TOKENS)]
    dtype = config.dtype or ("bfloat16" if not cuda and cpu_has_bf16() else None)
    if dtype:
        command += ["--dtype", dtype]
    return command + list(config.engine_args) + [str(model_dir)]


def plan_launch(config: ServeConfig, model_dir: Path | None = None) -> LaunchPlan:
    """Resolve the model (unless ``model_dir`` is given) and build the command ``up`` runs."""
    if model_dir is None:
        if not config.model:
            raise ArtifactError("no model given: pass --model DIR, --model hf://ORG/NAME@REV or --model embedded")
        model_dir = resolve_model(config.model)
    engine = choose_engine(config.engine)
    # Keeps the CLI from calling PyPI at start-up (the machines are offline, and it only prints a hint).
    env = {"HF_HUB_DISABLE_UPDATE_CHECK": "1"}
    gpus = cuda_device_count()
    if engine == "vllm":
        return LaunchPlan("vllm", vllm_command(config, model_dir, gpus), model_dir, config.served_model_name, env)
    if not config.alias:
        command = transformers_command(config, model_dir, config.host, config.port, cuda=gpus > 0)
        return LaunchPlan("transformers", command, model_dir, str(model_dir), env)
    upstream_port = free_port()
    command = transformers_command(config, model_dir, "127.0.0.1", upstream_port, cuda=gpus > 0)
    alias = (config.host, config.port, f"http://127.0.0.1:{upstream_port}")
    return LaunchPlan("transformers", command, model_dir, config.served_model_name, env, alias)


def launch(plan: LaunchPlan) -> int:
    """Run the plan: exec the engine, or supervise ``transformers serve`` behind the alias proxy.

    Returns only in the proxy case, with the engine's exit code.
    """
    env = {**os.environ, **plan.env}
    logger.info("starting %s: %s", plan.engine, shlex.join(plan.command))
    if plan.alias is None:
        for handler in logging.getLogger().handlers:
            handler.flush()
        os.execvpe(plan.command[0], plan.command, env)
    from finr1_serve.alias import AliasProxy, supervise

    host, port, upstream = plan.alias
    proxy = AliasProxy(host, port, upstream, plan.served_model_name, str(plan.model_dir))
    return supervise(plan.command, env, proxy)
