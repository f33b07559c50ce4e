"""Slurm batch scripts for several nodes, rendered from a recipe and an accelerate config (open-r1's layout).

open-r1 ships one ``slurm/train.slurm`` that reads the recipe with ``grep`` at run time; here the script is
rendered once from the parsed recipe, so what it launches is what ``finr1-train`` validated:

- **SFT** (and GRPO with ``vllm_mode: colocate``): every node trains. One ``srun`` task per node runs
  ``accelerate launch`` with ``--num_machines N --num_processes N x GPUs``, the main process on the first
  node, the machine rank read inside each task (``$SLURM_PROCID``; open-r1's current script expands it in
  the batch shell, where it is 0 on every node), and the recipe's ``gradient_accumulation_steps`` given to
  accelerate as well (its DeepSpeed plugin must agree with TRL's, as open-r1 notes).
- **GRPO with ``vllm_mode: server``**: the last node runs ``trl vllm-serve`` and is left out of the training
  world (``num_machines`` and ``num_processes`` count the training nodes only); the trainers get
  ``--vllm_server_host <that node>``. The script waits for the server's ``/health`` before training starts.

Before any GPU work the script runs ``finr1-train … --dry-run --accelerate-config …`` (the DeepSpeed / vLLM
preflight). ``--requeue`` is set: a requeued job resumes from the newest complete checkpoint.
"""

from __future__ import annotations

import shlex
import string
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from finr1_core.errors import ConfigError
from finr1_train.config import EMBEDDED_MODEL, Kind, load_recipe
from finr1_train.preflight import accelerate_uses_deepspeed, read_accelerate_config

#: The compute nodes' device flags are theirs to check (the dry run in the script does); the renderer, often on a
#: login node without a GPU, only reads the recipe.
_RENDER_DEVICE_FLAGS = ["--use_cpu", "true", "--bf16", "false"]
DEFAULT_MAIN_PORT = 29500
DEFAULT_VLLM_PORT = 8000


class _Template(string.Template):
    delimiter = "@@"  # bash owns $


@dataclass(frozen=True)
class Layout:
    """How a job's nodes are used (the numbers a test checks)."""

    kind: Kind
    train_nodes: int
    vllm_nodes: int
    gpus_per_node: int
    grad_acc_steps: int
    vllm_mode: str | None

    @property
    def total_nodes(self) -> int:
        """Nodes the job asks for."""
        return self.train_nodes + self.vllm_nodes

    @property
    def num_processes(self) -> int:
        """Training processes: the training nodes' GPUs (the vLLM node is not in the training world)."""
        return self.train_nodes * self.gpus_per_node


def _template(name: str) -> str:
    return resources.files("finr1_train").joinpath("templates", name).read_text(encoding="utf-8")


def _vllm_model(model: str) -> tuple[str, str | None]:
    """``trl vllm-serve``'s --model and --revision for a finr1 model ref."""
    if model == EMBEDDED_MODEL:
        raise ConfigError("model 'embedded' is the CPU model; a multi-node GRPO recipe names the SFT output")
    if model.startswith("hf://"):
        repo, _, revision = model.removeprefix("hf://").partition("@")
        return repo, revision or None
    return model, None


def plan(
    kind: Kind,
    recipe_path: str,
    accelerate_config: str,
    nodes: int,
    gpus_per_node: int | None = None,
) -> tuple[Layout, Any, dict[str, Any]]:
    """Check a multi-node launch and return its layout, the parsed recipe and the accelerate config.

    Args:
        kind: ``sft`` or ``grpo``.
        recipe_path: The recipe YAML.
        accelerate_config: The accelerate config YAML (its num_machines/num_processes are overridden).
        nodes: Training nodes (a GRPO recipe in vLLM server mode gets one more node for vLLM).
        gpus_per_node: GPUs of a node (default: the accelerate config's num_processes / num_machines).

    Raises:
        ConfigError: one line, for a launch that cannot work.
    """
    recipe = load_recipe(kind, recipe_path, trl_tokens=_RENDER_DEVICE_FLAGS)
    acc = read_accelerate_config(accelerate_config)
    if nodes < 1:
        raise ConfigError(f"--nodes {nodes}: give at least one training node")
    if gpus_per_node is None:
        machines = int(acc.get("num_machines") or 1)
        gpus_per_node = max(1, int(acc.get("num_processes") or 1) // machines)
    if gpus_per_node < 1:
        raise ConfigError(f"--gpus-per-node {gpus_per_node}: must be at least 1")
    args = recipe.args
    mode = getattr(args, "vllm_mode", None) if getattr(args, "use_vllm", False) else None
    vllm_nodes = 1 if mode == "server" else 0
    if mode == "server" and getattr(args, "vllm_server_base_url", None):
        raise ConfigError(
            f"{recipe_path}: vllm_server_base_url is set; the job starts its own vLLM node and passes "
            "vllm_server_host, which TRL ignores next to a base URL: remove vllm_server_base_url"
        )
    if str(acc.get("distributed_type", "")).upper() not in ("DEEPSPEED", "FSDP", "MULTI_GPU"):
        raise ConfigError(
            f"accelerate config {accelerate_config}: distributed_type {acc.get('distributed_type')!r} cannot span "
            "nodes; use recipes/accelerate/zero3.yaml or fsdp.yaml"
        )
    layout = Layout(kind, nodes, vllm_nodes, gpus_per_node, int(args.gradient_accumulation_steps), mode)
    return layout, recipe, acc


def render(
    kind: Kind,
    recipe_path: str,
    accelerate_config: str,
    nodes: int,
    *,
    gpus_per_node: int | None = None,
    vllm_tensor_parallel_size: int = 1,
    partition: str | None = None,
    time_limit: str | None = None,
    job_name: str | None = None,
    venv: str | None = None,
    script_name: str = "job.slurm",
    vllm_wait_minutes: int = 30,
) -> str:
    """The sbatch script of a multi-node run (see the module docstring for the layout).

    Returns:
        The script's text (``bash -n`` clean).
    """
    layout, recipe, acc = plan(kind, recipe_path, accelerate_config, nodes, gpus_per_node)
    args = recipe.args
    if layout.vllm_nodes and vllm_tensor_parallel_size > layout.gpus_per_node:
        raise ConfigError(
            f"--vllm-tensor-parallel-size {vllm_tensor_parallel_size}: the vLLM node has {layout.gpus_per_node} GPUs"
        )
    command = ["finr1-train", "slurm", kind, "--config", recipe_path, "--accelerate-config", accelerate_config]
    command += ["--nodes", str(nodes), "--gpus-per-node", str(layout.gpus_per_node)]
    if layout.vllm_nodes:
        command += ["--vllm-tensor-parallel-size", str(vllm_tensor_parallel_size)]
    for flag, value in (
        ("--partition", partition),
        ("--time", time_limit),
        ("--job-name", job_name),
        ("--venv", venv),
    ):
        if value:
            command += [flag, value]
    sbatch = [f"#SBATCH --partition={partition}"] if partition else []
    sbatch += [f"#SBATCH --time={time_limit}"] if time_limit else []
    engine = "DeepSpeed" if accelerate_uses_deepspeed(acc) else str(acc.get("distributed_type"))
    layout_text = (
        f"{layout.train_nodes} training node(s) x {layout.gpus_per_node} GPUs = {layout.num_processes} processes "
        f"({engine}, accelerate config {accelerate_config})"
    )
    vllm_block = ""
    if layout.vllm_nodes:
        model, revision = _vllm_model(str(recipe.settings.model))
        max_len = getattr(args, "vllm_max_model_length", None)
        prompt_tokens = getattr(recipe.settings, "max_prompt_tokens", None)
        if max_len is None and prompt_tokens is not None:
            max_len = prompt_tokens + args.max_completion_length  # the longest sequence GRPO asks for
        vllm_block = "\n" + _Template(_template("vllm-server.slurm.part")).substitute(
            VLLM_PORT=str(args.vllm_server_port or DEFAULT_VLLM_PORT),
            VLLM_MODEL=shlex.quote(model),
            VLLM_REVISION=f" --revision {shlex.quote(revision)}" if revision else "",
            VLLM_TP=str(vllm_tensor_parallel_size),
            VLLM_DP="1",  # TRL 1.16: data parallelism > 1 is not supported for dense models (vLLM PR #30739)
            VLLM_MAX_LEN=f"--max_model_len {max_len} " if max_len else "",
            VLLM_WAIT_TRIES=str(max(1, vllm_wait_minutes * 6)),
        )
        layout_text += f" + 1 vLLM node (trl vllm-serve {model}, tensor parallel {vllm_tensor_parallel_size})"
    name = job_name or f"finr1-{kind}"
    return _Template(_template("train.slurm")).substitute(
        TITLE=f"finr1-train {kind} over {layout.total_nodes} node(s): {recipe_path}",
        COMMAND=shlex.join(command),
        SCRIPT_NAME=script_name,
        LAYOUT=layout_text,
        JOB_NAME=name,
        TOTAL_NODES=str(layout.total_nodes),
        GPUS_PER_NODE=str(layout.gpus_per_node),
        EXTRA_SBATCH="\n".join(sbatch),
        ACTIVATE=(
            f"source {shlex.quote(str(Path(venv) / 'bin' / 'activate'))}"
            if venv
            else "# finr1-train, accelerate and trl must be on PATH on every node (render with --venv to activate one)"
        ),
        TASK=kind,
        RECIPE=shlex.quote(recipe_path),
        ACCELERATE_CONFIG=shlex.quote(accelerate_config),
        TRAIN_NODES=str(layout.train_nodes),
        VLLM_NODES=str(layout.vllm_nodes),
        GRAD_ACC_STEPS=str(layout.grad_acc_steps),
        MAIN_PORT=str(DEFAULT_MAIN_PORT),
        VLLM_BLOCK=vllm_block,
    )
