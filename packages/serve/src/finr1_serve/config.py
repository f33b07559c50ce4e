"""Configuration of ``finr1-serve up`` (defaults < YAML ``--config`` < flags)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from finr1_core.config import StrictModel

DEFAULT_MAX_MODEL_LEN = 16384
"""RECIPE.md §9; lowered to the model's own context length when that is shorter and not set explicitly."""

AUTO = "auto"
"""``reasoning_parser: auto``: the parser only for models that write ``<think>`` (decided from the model)."""
NO_PARSER = ("none", "")
"""Values of ``reasoning_parser`` (besides null) that mean "no parser" (instruct models)."""


class ServeConfig(StrictModel):
    """How to serve one model over an OpenAI-compatible API."""

    model: str | None = Field(
        default=None,
        description="Model reference: a local folder, hf://ORG/NAME[@REV], or `embedded` (SmolLM2-135M-Instruct).",
    )
    engine: Literal["auto", "vllm", "transformers"] = Field(
        default="auto", description="auto: vLLM when CUDA and vLLM are present, else `transformers serve`."
    )
    host: str = Field(default="0.0.0.0", description="Interface the public endpoint listens on.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port of the public endpoint.")
    served_model_name: str = Field(default="Fin-R1", description="Model name clients send (RECIPE.md §9).")
    tensor_parallel_size: int | None = Field(
        default=None, ge=1, description="vLLM tensor-parallel size; default: the visible GPU count."
    )
    max_model_len: int | None = Field(
        default=None, ge=1, description=f"vLLM context length; default {DEFAULT_MAX_MODEL_LEN} (capped by the model)."
    )
    gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1, description="vLLM GPU memory fraction.")
    dtype: str | None = Field(
        default=None, description="Weights dtype at load time; default: vLLM auto, bfloat16 on CPUs that have it."
    )
    reasoning_parser: str | None = Field(
        default=AUTO,
        description="vLLM reasoning parser that moves <think> into reasoning_content: `auto` (decided from the "
        "model, see finr1_serve.engines.derive_reasoning_parser), `none` (instruct models), or a parser name.",
    )
    continuous_batching: bool = Field(
        default=True, description="transformers serve: batch concurrent requests (TOOLING.md §9)."
    )
    cpu_kv_cache_tokens: int = Field(
        default=32768,
        ge=256,
        description="transformers serve on CPU with continuous batching: KV-cache size in tokens, shared by "
        "concurrent requests (unbounded, transformers 5.17 reserves 80% of the machine's RAM).",
    )
    alias: bool = Field(
        default=True,
        description="transformers serve: put the name-mapping proxy in front so clients can use served_model_name.",
    )
    engine_args: list[str] = Field(default_factory=list, description="Extra arguments appended to the engine command.")
