"""SFT then GRPO: short linear runs over TRL's SFTTrainer and GRPOTrainer.

Both commands do the same thing around TRL: resolve the model and dataset refs and check them (before
any model is loaded), prepare the rows (system prompt, length filters), train with checkpoints in the
output's work folder (resumable), save the final model folder (weights, tokenizer, chat template,
generation config) with ``metrics.json`` and ``training_curves.png``, and hand it to
``finr1_core.refs.save_model_ref`` for the card and ``lineage.json``.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finr1_core.errors import ArtifactError, ConfigError, InputError
from finr1_train import __version__
from finr1_train.artifacts import check_output, is_hub_ref, load_split, resolve_model
from finr1_train.config import GRPOSettings, Recipe, SFTSettings
from finr1_train.curves import CURVES_FILE, METRICS_FILE, plot_curves, write_metrics

logger = logging.getLogger(__name__)

TOOL = "finr1-train"


@dataclass
class RunResult:
    """What a training run produced."""

    output: str
    location: str
    metrics_path: Path | None
    curves_path: Path | None
    global_step: int
    train_rows: int
    counts: dict[str, int] = field(default_factory=dict)
    trainer: Any = None


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


def _run_name(recipe: Recipe) -> str:
    settings = recipe.settings
    if settings.run:
        return settings.run
    if getattr(recipe.args, "run_name", None):
        return str(recipe.args.run_name)
    name = settings.output.rstrip("/").split("@")[0].split("/")[-1]
    return name or recipe.kind


def _prepare_output_dir(recipe: Recipe) -> Path:
    """Checkpoints go to the output's hidden work folder unless the recipe names output_dir."""
    from finr1_core import refs

    if "output_dir" not in recipe.explicit_trl_keys or not recipe.args.output_dir:
        recipe.args.output_dir = str(refs.work_dir(recipe.settings.output, repo_type="model") / "checkpoints")
    out = Path(recipe.args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _resume_point(recipe: Recipe, output_dir: Path) -> str | None:
    """Decide where training restarts: TRL's resume_from_checkpoint wins, then finr1's resume setting.

    Only complete checkpoints count (:mod:`finr1_train.checkpoints`): what a kill during a save left behind is
    removed by the main process and the run resumes from the newest complete one, or starts over (one line).
    """
    from finr1_train.checkpoints import inspect_checkpoint, scan

    main_process = _main_process()
    explicit = recipe.args.resume_from_checkpoint
    if explicit:
        if not Path(explicit).is_dir():
            raise InputError(f"resume_from_checkpoint {explicit}: folder does not exist")
        verdict = inspect_checkpoint(explicit)
        if not verdict.complete and verdict.step >= 0:
            raise InputError(
                f"resume_from_checkpoint {explicit}: the checkpoint is incomplete ({verdict.reason}); "
                "name an earlier checkpoint-N or drop resume_from_checkpoint"
            )
        return str(explicit)
    if recipe.settings.resume is False:
        if main_process and output_dir.is_dir():
            old = sorted(output_dir.glob("checkpoint-*"))
            if old:
                logger.info("--no-resume: starting over; old checkpoints in %s are removed", output_dir)
            for path in old:
                shutil.rmtree(path)
        return None
    found = scan(output_dir, clean=main_process)
    if found.latest is None:
        if recipe.settings.resume is True:
            detail = f" (incomplete: {found.describe_incomplete()})" if found.incomplete else ""
            raise InputError(
                f"--resume: no complete checkpoint-* folder in {output_dir} to resume from{detail}; "
                "rerun without --resume to start over"
            )
        if found.incomplete:
            logger.warning(
                "no complete checkpoint in %s (%s); training starts from step 0",
                output_dir,
                found.describe_incomplete(),
            )
        return None
    logger.info("resuming from %s", found.latest)
    return str(found.latest)


def _check_device(recipe: Recipe) -> None:
    import torch

    args = recipe.args
    if not args.use_cpu and not torch.cuda.is_available() and getattr(args, "use_vllm", False):
        raise ConfigError(f"{recipe.source}: use_vllm needs a CUDA GPU; on CPU use a cpu recipe (use_vllm: false)")


def _callbacks(recipe: Recipe) -> list[Any]:
    from finr1_train.callbacks import StopWhenAlreadyTrained

    callbacks: list[Any] = [StopWhenAlreadyTrained()]
    if isinstance(recipe.settings, GRPOSettings):
        from finr1_train.callbacks import ClippedCompletionsGuard

        callbacks.append(
            ClippedCompletionsGuard(
                recipe.args.max_completion_length,
                bool(recipe.args.mask_truncated_completions),
                recipe.settings.stop_after_clipped_steps,
            )
        )
    if recipe.settings.push_checkpoints:
        from finr1_core import refs
        from finr1_train.callbacks import PushCheckpointRevisions

        ref = refs.parse_ref(recipe.settings.output, repo_type="model")
        callbacks.append(PushCheckpointRevisions(ref.repo_id, _run_name(recipe)))
    return callbacks


def _train(trainer: Any, resume: str | None) -> None:
    from finr1_train.callbacks import AlreadyTrained

    try:
        trainer.train(resume_from_checkpoint=resume)
    except AlreadyTrained:
        logger.info("%s is at max_steps %d: nothing left to train", resume, trainer.args.max_steps)


def _card_body(recipe: Recipe, base_model: str, result_summary: dict[str, Any], counts: dict[str, int]) -> str:
    settings = recipe.settings
    args = recipe.args
    lines = [
        f"{'Supervised fine-tuning' if recipe.kind == 'sft' else 'GRPO'} of `{base_model}` on "
        f"`{settings.dataset}` (split `{settings.split}`) with `finr1-train {recipe.kind}` {__version__} "
        "(TRL). The full configuration and the inputs' revisions are in `lineage.json`; the training log is in "
        f"`{METRICS_FILE}` and the curves in `{CURVES_FILE}`.",
        "",
        "## Training",
        "",
        f"- rows trained on: {counts.get('train_rows', 0)}"
        + (f" ({counts['dropped_long']} longer ones dropped)" if counts.get("dropped_long") else ""),
        f"- optimizer steps: {counts.get('steps', 0)}; learning rate {args.learning_rate}, "
        f"{args.lr_scheduler_type.value if hasattr(args.lr_scheduler_type, 'value') else args.lr_scheduler_type} "
        f"schedule, per-device batch {args.per_device_train_batch_size} x accumulation "
        f"{args.gradient_accumulation_steps}",
    ]
    if isinstance(settings, GRPOSettings):
        weights = (list(settings.rewards.values()) if isinstance(settings.rewards, dict) else args.reward_weights) or [
            1.0
        ] * len(settings.reward_list())
        rewards = ", ".join(f"{n} x {w:g}" for n, w in zip(settings.reward_list(), weights, strict=True))
        lines.append(
            f"- rewards: {rewards}; {args.num_generations} generations per prompt, beta {args.beta}, "
            f"loss {args.loss_type}, max completion {args.max_completion_length} tokens"
        )
    for key in (
        "loss",
        "reward",
        "rewards/format_reward/mean",
        "rewards/accuracy_reward/mean",
        "completions/mean_length",
        "mean_token_accuracy",
    ):
        if key in result_summary:
            s = result_summary[key]
            lines.append(f"- {key}: first {s['first']:.4g}, last {s['last']:.4g}")
    if settings.system_prompt:
        lines += [
            "",
            "## Prompting",
            "",
            "Trained with this system prompt; use it at inference:",
            "",
            "```text",
            settings.system_prompt,
            "```",
        ]
    return "\n".join(lines) + "\n"


def _final_folder(recipe: Recipe, trainer: Any) -> Path:
    """A fresh staging folder in the output's work folder; save_model_ref then moves it into place."""
    from finr1_core import refs

    folder = refs.work_dir(recipe.settings.output, repo_type="model") / "final"
    if trainer.is_world_process_zero() and folder.exists():
        shutil.rmtree(folder)
    trainer.accelerator.wait_for_everyone()
    return folder


def _tidy_model_folder(folder: Path) -> None:
    """Drop the pickled training_args.bin (lineage.json has the config) and make the files world-readable.

    transformers writes model.safetensors with mode 0600; a serving container running as another user could
    not read it from a shared volume.
    """
    (folder / "training_args.bin").unlink(missing_ok=True)
    umask = os.umask(0)
    os.umask(umask)
    for path in folder.rglob("*"):
        if path.is_file():
            path.chmod(0o666 & ~umask)


def _finish(
    recipe: Recipe,
    trainer: Any,
    base_model: str,
    inputs: list[Any],
    counts: dict[str, int],
    started: _dt.datetime,
    callbacks: list[Any],
) -> RunResult:
    """Stage the final folder and its record (:mod:`finr1_train.pending`), then write the output from them."""
    from finr1_core import refs
    from finr1_train.curves import summarize
    from finr1_train.pending import write_pending

    for cb in callbacks:
        failure = getattr(cb, "failure", lambda: None)()
        if failure:  # a run that learned nothing is not an output; its checkpoints stay in the work folder
            raise ConfigError(
                f"{recipe.source}: {failure}; raise max_completion_length above the SFT traces' length (or shorten "
                "them) and rerun with --no-resume"
            )
    folder = _final_folder(recipe, trainer)
    # Every process takes part (ZeRO-3 and FSDP gather the shards); only the main one writes files.
    trainer.save_model(str(folder))  # weights, config, generation config and the tokenizer with its chat template
    counts = {**counts, "steps": int(trainer.state.global_step)}
    if not trainer.is_world_process_zero():
        return RunResult(
            recipe.settings.output,
            str(folder),
            None,
            None,
            counts["steps"],
            counts.get("train_rows", 0),
            counts,
            trainer,
        )
    if trainer.processing_class is not None and not (folder / "tokenizer_config.json").is_file():
        trainer.processing_class.save_pretrained(str(folder))
    _tidy_model_folder(folder)
    history = list(trainer.state.log_history)
    write_metrics(
        folder,
        history,
        {"command": recipe.kind, "base_model": base_model, "dataset": recipe.settings.dataset, "counts": counts},
    )
    curves = recipe.settings.plot and plot_curves(folder, history, f"finr1-train {recipe.kind}: {_run_name(recipe)}")
    for cb in callbacks:
        getattr(cb, "wait", lambda: None)()  # checkpoint uploads still queued
    write_pending(
        refs.work_dir(recipe.settings.output, repo_type="model"),
        folder,
        {
            "config": recipe.effective_config(),
            "inputs": [r.model_dump(mode="json") for r in inputs],
            "counts": counts,
            "started_at": started.isoformat(),
            "finished_at": _now().isoformat(),
            "card_body": _card_body(recipe, base_model, summarize(history), counts),
            "base_model": base_model,
            "has_curves": bool(curves),
            "checkpoint_push_failures": [f for cb in callbacks for f in getattr(cb, "failures", [])],
        },
    )
    result = _write_output(recipe, _pending(recipe))
    result.trainer = trainer
    return result


def _pending(recipe: Recipe) -> Any:
    from finr1_core import refs
    from finr1_train.pending import read_pending

    pending = read_pending(refs.work_dir(recipe.settings.output, repo_type="model"))
    if pending is None:
        raise ArtifactError(f"output {recipe.settings.output}: the staged final model vanished before it was written")
    return pending


def _write_output(recipe: Recipe, pending: Any) -> RunResult:
    """Write the staged final model to the output with its card and lineage (main process only)."""
    from finr1_core import refs
    from finr1_core.lineage import InputRecord, Lineage

    counts = dict(pending.counts)
    lineage = Lineage(
        tool=TOOL,
        tool_version=__version__,
        config=pending.config,  # Lineage redacts secrets itself (keeps pad_token, max_prompt_tokens)
        inputs=[InputRecord.model_validate(r) for r in pending.inputs],
        counts=counts,
        started_at=_dt.datetime.fromisoformat(pending.started_at),
        finished_at=_dt.datetime.fromisoformat(pending.finished_at),
    )
    # The staged folder lives in the work folder, which the write removes: report what landed in the output.
    record = refs.save_model_ref(
        pending.folder, recipe.settings.output, lineage, card_body=pending.card_body, move=True
    )
    if is_hub_ref(recipe.settings.output):
        metrics_path = curves_path = None  # uploaded with the model; the staging folder is gone
    else:
        metrics_path = Path(record.location) / METRICS_FILE
        curves_path = Path(record.location) / CURVES_FILE if pending.has_curves else None
    if pending.checkpoint_push_failures:
        raise ArtifactError(
            f"training finished and {record.location} is written, but pushing checkpoints failed: "
            f"{pending.checkpoint_push_failures[0]}"
        )
    logger.info(
        "finr1-train %s: %s -> %s (%d rows, %d steps, %.0f s)",
        recipe.kind,
        pending.base_model,
        recipe.settings.output,
        counts.get("train_rows", 0),
        counts.get("steps", 0),
        (lineage.finished_at - lineage.started_at).total_seconds() if lineage.finished_at else 0.0,
    )
    return RunResult(
        output=recipe.settings.output,
        location=record.location,
        metrics_path=metrics_path,
        curves_path=curves_path,
        global_step=int(counts.get("steps", 0)),
        train_rows=counts.get("train_rows", 0),
        counts=counts,
    )


def _main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _finished_training(recipe: Recipe) -> Any:
    """A training of this config that finished but whose output was not written (None when there is none).

    Every process reads the record and so takes the same decision; only the main one cleans up.

    Raises:
        ConfigError: the staged training was run with another config (the keys are named).
    """
    from finr1_core import refs
    from finr1_train.pending import PENDING_FILE, config_diff, discard, read_pending

    ref = refs.parse_ref(recipe.settings.output, repo_type="model")
    if ref.is_local and not (Path(ref.path or "") / refs.WORK_DIRNAME / PENDING_FILE).is_file():
        return None  # (work_dir would create the output folder)
    work = refs.work_dir(recipe.settings.output, repo_type="model")
    if recipe.settings.resume is False:
        if (work / PENDING_FILE).is_file() and _main_process():
            logger.info("--no-resume: the finished training staged in %s is discarded", work)
            discard(work)
        return None
    pending = read_pending(work, clean=_main_process())
    if pending is None:
        return None
    differ = config_diff(pending.config, recipe.effective_config())
    if differ:
        raise ConfigError(
            f"output {recipe.settings.output}: a finished training with other settings ({', '.join(differ[:5])}) "
            f"waits in {work} to be written; rerun with its settings to write it, or pass --no-resume to discard "
            "it and train again"
        )
    logger.info(
        "training of %s finished earlier (%d steps) but its output was not written; writing it now, no training",
        recipe.settings.output,
        pending.counts.get("steps", 0),
    )
    return pending


def _write_finished(recipe: Recipe, pending: Any) -> RunResult:
    """The main process writes a staged training; the others wait until every process has read the record."""
    from accelerate import PartialState

    PartialState().wait_for_everyone()  # nobody may find the work folder gone and start training alone
    if not _main_process():
        counts = dict(pending.counts)
        return RunResult(recipe.settings.output, str(pending.folder), None, None, counts.get("steps", 0), 0, counts)
    return _write_output(recipe, pending)


def _load_inputs(recipe: Recipe) -> tuple[Path, Any, Any, Any]:
    """Check and load the refs (model folder resolved, dataset split read) before any model is built."""
    settings = recipe.settings
    assert settings.model is not None  # checked by load_recipe
    check_output(settings.output)
    dataset, data_record = load_split(settings.dataset, settings.split, recipe.kind)
    model_path, model_record = resolve_model(settings.model)
    if settings.max_samples is not None and settings.max_samples < len(dataset):
        dataset = dataset.select(range(settings.max_samples))
    return model_path, model_record, dataset, data_record


def _tokenizer(model_path: Path) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_path))
    if tokenizer.chat_template is None:
        raise ArtifactError(f"model {model_path}: the tokenizer has no chat template; finr1 trains on chat data")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def run_sft(recipe: Recipe) -> RunResult:
    """Supervised fine-tuning on the ``sft`` split (assistant-only loss through prompt/completion pairs)."""
    from trl import SFTTrainer

    from finr1_train.checkpoints import complete_checkpoints
    from finr1_train.data import drop_long, sft_pairs, token_lengths

    settings = recipe.settings
    assert isinstance(settings, SFTSettings)
    started = _now()
    model_path, model_record, raw, data_record = _load_inputs(recipe)
    _check_device(recipe)
    source = f"{settings.dataset}[{settings.split}]"
    dataset = sft_pairs(raw, settings.system_prompt, source)
    tokenizer = _tokenizer(model_path)
    counts = {"input_rows": len(dataset)}
    if settings.drop_overlong and recipe.args.max_length is not None:
        lengths = token_lengths(
            tokenizer,
            [p + c for p, c in zip(dataset["prompt"], dataset["completion"], strict=True)],
            add_generation_prompt=False,
        )
        kept = drop_long(dataset, lengths, recipe.args.max_length, "SFT samples")
        counts["dropped_long"] = len(dataset) - len(kept)
        dataset = kept
    counts["train_rows"] = len(dataset)
    output_dir = _prepare_output_dir(recipe)
    resume = _resume_point(recipe, output_dir)
    callbacks = _callbacks(recipe)
    logger.info("SFT %s on %s: %d rows, checkpoints in %s", model_path, source, len(dataset), output_dir)
    t0 = time.perf_counter()
    trainer = complete_checkpoints(SFTTrainer)(
        model=str(model_path), args=recipe.args, train_dataset=dataset, processing_class=tokenizer, callbacks=callbacks
    )
    _train(trainer, resume)
    logger.debug("SFT train() took %.1f s", time.perf_counter() - t0)
    return _finish(recipe, trainer, settings.model or "", [model_record, data_record], counts, started, callbacks)


def run_grpo(recipe: Recipe) -> RunResult:
    """GRPO on the ``rl`` split with the configured rewards (beta 0 by default: no reference model)."""
    from trl import GRPOTrainer

    from finr1_train.checkpoints import complete_checkpoints
    from finr1_train.data import drop_long, rl_prompts, token_lengths
    from finr1_train.rewards import build_rewards

    settings = recipe.settings
    assert isinstance(settings, GRPOSettings)
    started = _now()
    reward_funcs = build_rewards(settings.reward_list(), settings.verifier)
    if isinstance(settings.rewards, dict):
        recipe.args.reward_weights = [float(w) for w in settings.rewards.values()]
    model_path, model_record, raw, data_record = _load_inputs(recipe)
    _check_device(recipe)
    source = f"{settings.dataset}[{settings.split}]"
    dataset = rl_prompts(raw, settings.system_prompt, source)
    tokenizer = _tokenizer(model_path)
    counts = {"input_rows": len(dataset)}
    if settings.max_prompt_tokens is not None:
        lengths = token_lengths(tokenizer, dataset["prompt"], add_generation_prompt=True)
        kept = drop_long(dataset, lengths, settings.max_prompt_tokens, "GRPO prompts")
        counts["dropped_long"] = len(dataset) - len(kept)
        dataset = kept
    counts["train_rows"] = len(dataset)
    output_dir = _prepare_output_dir(recipe)
    resume = _resume_point(recipe, output_dir)
    callbacks = _callbacks(recipe)
    logger.info(
        "GRPO %s on %s: %d prompts, rewards %s, beta %s, checkpoints in %s",
        model_path,
        source,
        len(dataset),
        ", ".join(settings.reward_list()),
        recipe.args.beta,
        output_dir,
    )
    trainer = complete_checkpoints(GRPOTrainer)(
        model=str(model_path),
        reward_funcs=reward_funcs,
        args=recipe.args,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=callbacks,
    )
    _train(trainer, resume)
    return _finish(recipe, trainer, settings.model or "", [model_record, data_record], counts, started, callbacks)


def run(recipe: Recipe) -> RunResult:
    """Run the recipe's command; a finished training whose output write failed is written, not trained again."""
    from finr1_train.preflight import check_recipe

    check_recipe(recipe)  # DeepSpeed / vLLM installed, before any input or model is loaded
    check_output(recipe.settings.output)
    pending = _finished_training(recipe)
    if pending is not None:
        return _write_finished(recipe, pending)
    return run_sft(recipe) if recipe.kind == "sft" else run_grpo(recipe)
