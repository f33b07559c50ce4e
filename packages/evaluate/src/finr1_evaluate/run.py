"""``finr1-evaluate run``: resolve every input, sample, generate (cached), score, write the artifact.

Flow per run (RECIPE.md §7), each step before the next pays for anything:

1. **Check the config**: benchmark names, a judge for benchmarks that need one, the output ref.
2. **Resolve the inputs**: each benchmark's data source and revision (Hub shas, local fingerprints), the
   served weights (``--model-ref``) and ``--ids-from``. A complete output for the same config and inputs is
   left alone; one with another config is refused, naming the keys, unless ``--force``.
3. **Check the endpoints** (unless ``--rescore``) and **read every benchmark**, then take the sampled ids:
   from ``--ids-from``, else from the output being replaced when it was drawn the same way, else a fresh
   stratified draw (``sample_items``).
4. **Per benchmark**: generate through core's runner into the work dir (:mod:`finr1_evaluate.generation`),
   check the share of usable generations, score by rules and the judge (:mod:`finr1_evaluate.scoring`; the
   judge through core's judge loop, :mod:`finr1_evaluate.judge`), check the share of usable verdicts. Both
   checks are core's ``check_usable`` against ``min_usable.generations`` and ``min_usable.verdicts``; a
   401/402/403 from either endpoint stops the run at once (core's ``AuthError``).
5. **Write** the artifact (:mod:`finr1_evaluate.artifact`): one split per benchmark, the card with the
   results table, ``lineage.json`` with the evaluation record. Only now is the output complete.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from finr1_core.errors import ArtifactError, ConfigError, InputError
from finr1_core.lineage import InputRecord
from finr1_core.redaction import redact_text
from finr1_core.runner import ChatResult, check_usable
from finr1_core.schemas import EvalSample
from finr1_evaluate import __version__
from finr1_evaluate.artifact import TOOL, EvalLineage, differences, read_evaluation, read_samples, write_artifact
from finr1_evaluate.config import EvalConfig
from finr1_evaluate.generation import (
    check_reachable,
    count_usable,
    generate,
    prompt_messages,
    request_key,
    responses_from_samples,
)
from finr1_evaluate.inputs import (
    DataSource,
    ServedModel,
    known_benchmark_names,
    parse_data_option,
    resolve_benchmarks,
    resolve_served_model,
    resolve_sources,
    select_for_run,
)
from finr1_evaluate.judge import judge_cache_key, run_judge
from finr1_evaluate.report import EVALUATION_SCHEMA, load_results, render_markdown
from finr1_evaluate.scoring import aggregate, apply_verdict, judge_prompts, rule_row

logger = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What a run ended with: the evaluation record, and whether it wrote the output or found it complete."""

    results: dict[str, Any]
    output: str
    written: bool
    revision: str | None = None


@dataclass
class Plan:
    """Everything resolved before the first model request."""

    cfg: EvalConfig
    stage: Any
    benches: list[Any]
    sources: dict[str, DataSource]
    served: ServedModel
    inputs: list[InputRecord]
    ids_from: dict[str, list[str]] | None
    previous: EvalLineage | None
    cache_key: str
    items: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def cache(self) -> Path:
        """The generation log folder for this model configuration, in the work dir."""
        return self.stage.state_dir / "cache" / self.cache_key

    @property
    def judge_dir(self) -> Path:
        """The judge log folder for this judge configuration, in the work dir."""
        return self.stage.state_dir / "cache" / f"judge-{judge_cache_key(self.cfg.judge)}"


def strategy_for(cfg: EvalConfig, bench: Any) -> str:
    """The scoring strategy: the config's override, else the registry's default."""
    return cfg.scoring.get(bench.name) or getattr(bench, "scoring", "rule")


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value}%"


# --- 1. the config ---------------------------------------------------------------------------------------


def check_config(cfg: EvalConfig) -> list[Any]:
    """Everything that can be checked before reading data or calling a model (one-line errors).

    Per-benchmark entries of ``scoring`` for benchmarks this run does not select are ignored, so one config
    serves runs of any subset.
    """
    if not cfg.output:
        raise ConfigError("no output: pass --output DIR or hf://datasets/ORG/NAME[@BRANCH]")
    if not cfg.model.model:
        raise ConfigError("no model name: pass --model NAME (the name the endpoint serves)")
    if not cfg.rescore and not cfg.model.base_url:
        raise ConfigError("no model endpoint: pass --base-url URL (e.g. http://127.0.0.1:8000/v1)")
    benches = resolve_benchmarks(cfg.benchmarks)
    selected = [b.name for b in benches]
    cfg.scoring = select_for_run(cfg.scoring, selected, known_benchmark_names(benches), "scoring")
    for bench in benches:
        if strategy_for(cfg, bench) == "judge" and not cfg.judge.enabled:
            raise ConfigError(
                f"benchmark {bench.name} is scored by an LLM judge: pass --judge-base-url and --judge-model "
                f"(or set scoring.{bench.name}: rule in --config to score it by rules only)"
            )
    return benches


def _check_output(stage: Any) -> None:
    """Refuse, before paying for anything, a local output folder that holds files finr1 did not write."""
    from finr1_core.lineage import LINEAGE_FILENAME
    from finr1_core.refs import WORK_DIRNAME

    path = stage.output.path
    if path is None or not path.exists():
        return
    if not path.is_dir():
        raise ArtifactError(f"--output {path}: exists and is not a directory; choose another output")
    entries = {p.name for p in path.iterdir()} - {WORK_DIRNAME}
    if entries and LINEAGE_FILENAME not in entries:
        old = " (an evaluation written by finr1-evaluate 0.1: results.json, no lineage.json)"
        raise ArtifactError(
            f"--output {path}: holds files finr1 did not write as an artifact{old if 'results.json' in entries else ''}; "
            "choose another output or remove it"
        )


# --- 2. the inputs ---------------------------------------------------------------------------------------


def _ids_from(ref: str, benches: Sequence[Any]) -> tuple[dict[str, list[str]], InputRecord]:
    """The sampled ids of another evaluation (an artifact, or a 0.1 ``results.json``) and its revision."""
    from finr1_core.refs import local_revision

    path = Path(ref)
    if not ref.startswith("hf://") and path.name == "results.json":
        if not path.is_file():
            raise InputError(
                f"--ids-from {ref}: does not exist; evaluations are artifacts now: pass the folder {path.parent}"
            )
        data = load_results(path)
        record = InputRecord(ref=str(path), revision_sha=local_revision(path))
    else:
        found = read_evaluation(ref)
        if found is None:
            raise InputError(f"--ids-from {ref}: no complete evaluation there (no lineage.json: did that run finish?)")
        lineage, record = found
        data = lineage.evaluation
    ids = {}
    for bench in benches:
        entry = (data.get("benchmarks") or {}).get(bench.name)
        if not entry or "sampled_ids" not in entry:
            raise InputError(f"--ids-from {ref}: has no sampled ids for benchmark {bench.name!r}")
        ids[bench.name] = list(entry["sampled_ids"])
    return ids, record


def plan_run(cfg: EvalConfig, benches: list[Any]) -> Plan:
    """Resolve every input's revision and look at the output (steps 1-2 of the module docstring)."""
    from finr1_core.stage import Stage
    from finr1_evaluate.artifact import EvalLineage

    stage = Stage(TOOL, __version__, cfg, output=cfg.output or "", force=cfg.force)
    stage.lineage = EvalLineage.start(TOOL, __version__, config=cfg)
    _check_output(stage)
    specs = parse_data_option(cfg.data, [b.name for b in benches], known_benchmark_names(benches))
    sources = resolve_sources(benches, specs, samples=cfg.samples)
    # The endpoint's own account of the weights (GET /models) is asked for later, once it is known to answer.
    served = (
        resolve_served_model(cfg.model.model, cfg.model.base_url, cfg.model_ref, None)
        if cfg.model_ref
        else ServedModel(cfg.model.model, redact_text(cfg.model.base_url))
    )
    ids_from, ids_record = _ids_from(cfg.ids_from, benches) if cfg.ids_from else (None, None)
    inputs = [s.record for s in sources.values()] + [r for r in (served.record, ids_record) if r is not None]
    found = read_evaluation(stage.output.text)
    previous = found[0] if found else None
    return Plan(cfg, stage, benches, sources, served, inputs, ids_from, previous, cfg.cache_key(served.revision))


def already_complete(plan: Plan) -> bool:
    """True when the output is complete for this config and these inputs (left alone unless ``--force``).

    Raises:
        ConfigError: the output is complete for another config or other inputs, and ``--force`` is not given.
    """
    if plan.previous is None:
        return False
    changed = differences(plan.previous, plan.cfg, plan.inputs)
    if plan.cfg.force:
        logger.info("%s: complete; --force: evaluating again%s", plan.stage.output, _changed_text(changed))
        return False
    if not changed:
        return True
    raise ConfigError(
        f"{plan.stage.output} is a complete evaluation made with other settings ({', '.join(changed)}); "
        "pass --force to replace it, or choose another --output"
    )


def _changed_text(changed: Sequence[str]) -> str:
    return f" (changed: {', '.join(changed)})" if changed else ""


# --- 3. endpoints and data ---------------------------------------------------------------------------------


def check_endpoints(cfg: EvalConfig, *, judge_needed: bool) -> None:
    """Fail fast (one line) when the model (unless rescoring) or the judge does not answer or refuses the key."""
    from finr1_core.runner import completions_route

    if not cfg.rescore:
        if cfg.model.api_mode == "completions" and not completions_route(cfg.model.base_url):
            check_reachable(cfg.model)  # a custom inference URL: no models list to ask
        else:
            _check_endpoint(cfg.model)
    if judge_needed:
        _check_endpoint(cfg.judge)


def _check_endpoint(endpoint: Any) -> None:
    from finr1_core.errors import AuthError, EndpointError
    from finr1_core.runner import check_endpoint

    try:
        check_endpoint(endpoint)
    except AuthError:
        raise
    except EndpointError as exc:
        # `transformers serve` answers 500 on GET /v1/models when its Hub cache folder is missing (TOOLING.md §5);
        # its /health is the readiness signal there, so a healthy server is accepted with a warning.
        if "answered HTTP 5" not in str(exc) or not _healthy(endpoint.base_url):
            raise
        logger.warning(
            "%s; %s/health is ok, so continuing (the model name is not checked)",
            exc,
            redact_text(endpoint.base_url.rstrip("/").removesuffix("/v1")),
        )


def _healthy(base_url: str) -> bool:
    import httpx

    root = base_url.rstrip("/").removesuffix("/v1")
    try:
        return httpx.get(root + "/health", timeout=10.0).status_code == 200
    except httpx.HTTPError:
        return False


def read_benchmarks(plan: Plan) -> None:
    """Read every benchmark's items (pinned to the resolved revisions) before anything is generated."""
    for bench in plan.benches:
        plan.items[bench.name] = plan.sources[bench.name].load(bench, plan.cfg.prompt_variant)


def select_items(plan: Plan, bench: Any) -> list[Any]:
    """Choose the items to evaluate (see the module docstring, step 3)."""
    cfg, items = plan.cfg, plan.items[bench.name]
    by_id = {item.id: item for item in items}
    if len(by_id) != len(items):
        raise InputError(f"benchmark {bench.name}: item ids are not unique ({len(items) - len(by_id)} duplicates)")
    ids: list[str] | None = None
    origin = ""
    if plan.ids_from is not None:
        ids, origin = plan.ids_from[bench.name], f"--ids-from {cfg.ids_from}"
    elif plan.previous is not None:
        entry = (plan.previous.evaluation.get("benchmarks") or {}).get(bench.name) or {}
        same = (
            entry.get("seed") == cfg.seed
            and entry.get("sample_size") == cfg.effective_sample_size()
            and entry.get("total_items") == len(items)
            and entry.get("prompt_variant") == cfg.prompt_variant
        )
        if same and entry.get("sampled_ids"):
            ids, origin = list(entry["sampled_ids"]), f"the evaluation in {plan.stage.output}"
    if ids is not None:
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise InputError(
                f"benchmark {bench.name}: {len(missing)} sampled ids from {origin} are not in the data "
                f"(first: {missing[0]!r}); use the same data or drop the reused ids"
            )
        logger.info("%s: reusing %d sampled ids from %s", bench.name, len(ids), origin)
        return [by_id[i] for i in ids]
    from finr1_evaluate.benchmarks import sample_items

    return list(sample_items(items, n=cfg.effective_sample_size(), seed=cfg.seed))


# --- 4. one benchmark ---------------------------------------------------------------------------------------


def check_rescore(plan: Plan) -> None:
    """``--rescore`` needs each benchmark's replies: in the work dir's log, or in the output artifact.

    Raises:
        InputError: a benchmark has neither (before the judge is asked anything).
    """
    previous = plan.previous
    stored = previous is not None and previous.evaluation.get("cache_hash") == plan.cache_key
    for bench in plan.benches:
        if (plan.cache / f"{bench.name}.jsonl").is_file():
            continue
        if stored and bench.name in (previous.evaluation.get("benchmarks") or {}):  # type: ignore[union-attr]
            continue
        raise InputError(
            f"--rescore: no responses of model {plan.cfg.model.model!r} with these settings for benchmark "
            f"{bench.name} (key {plan.cache_key}) in {plan.stage.output} or its work dir; run without --rescore "
            "first, with the same --model and sampling"
        )


def _rescore_responses(plan: Plan, bench: Any, requests: Mapping[str, Any], log_path: Path) -> dict[str, ChatResult]:
    """``--rescore``: the replies of the work dir's log, else those stored in the output artifact."""
    if log_path.is_file():
        return generate(plan.cfg, requests, log_path, progress=False)
    assert plan.previous is not None  # check_rescore made sure
    entry = plan.previous.evaluation["benchmarks"][bench.name]
    stored = read_samples(plan.stage.output.text, bench.name)
    return responses_from_samples(stored, entry.get("truncated_ids") or [], requests)


def evaluate_benchmark(plan: Plan, bench: Any, *, progress: bool) -> tuple[dict[str, Any], list[EvalSample]]:
    """Generate, check, score and summarise one benchmark (step 4 of the module docstring)."""
    cfg = plan.cfg
    b0 = time.monotonic()
    chosen = select_items(plan, bench)
    messages = {item.id: prompt_messages(cfg, item) for item in chosen}
    keys = {item.id: request_key(item.id, messages[item.id]) for item in chosen}
    requests = {keys[i]: messages[i] for i in messages}
    log_path = plan.cache / f"{bench.name}.jsonl"
    logger.info(
        "%s: %d of %d items; generating into %s", bench.name, len(chosen), len(plan.items[bench.name]), log_path
    )
    if cfg.rescore:
        responses = _rescore_responses(plan, bench, requests, log_path)
    else:
        responses = generate(cfg, requests, log_path, progress=progress)
    replies = [responses.get(keys[item.id]) for item in chosen]
    # Before anything is written: a run of failed calls must not leave a complete output behind.
    check_usable(
        count_usable(replies),
        cfg.min_usable.generations,
        what=f"model answers on {bench.name}",
        setting=cfg.min_usable.setting_name("generations"),
        resume_dir=plan.stage.state_dir,
    )
    samples = score_benchmark(plan, bench, chosen, messages, replies, progress=progress)
    summary = summarise(plan, bench, chosen, samples, replies)
    logger.info(
        "%s: accuracy %s (n=%d, rule-only %s, judge failed %d, generation errors %d) in %.1f s",
        bench.name,
        _pct(summary["accuracy"]),
        summary["n_scored"],
        _pct(summary["rule_only"]["accuracy"]),
        summary["judge_failures"],
        summary["generation_errors"],
        time.monotonic() - b0,
    )
    return summary, samples


def score_benchmark(
    plan: Plan,
    bench: Any,
    items: Sequence[Any],
    messages: Mapping[str, list[dict[str, str]]],
    replies: Sequence[ChatResult | None],
    *,
    progress: bool,
) -> list[EvalSample]:
    """Rule-score every item, send the strategy's share to the judge, check the verdicts, build the samples."""
    cfg = plan.cfg
    strategy = strategy_for(cfg, bench)
    rows = [rule_row(bench.name, item, messages[item.id], reply) for item, reply in zip(items, replies, strict=True)]
    if not (cfg.judge.enabled and strategy != "rule"):
        return [apply_verdict(row, {}) for row in rows]
    prompts = judge_prompts(rows, items, strategy, bench, cfg.judge.prompt)
    judged = run_judge(
        cfg.judge,
        prompts,
        plan.judge_dir,
        name=bench.name,
        concurrency=cfg.judge.concurrency or cfg.concurrency,
        progress=progress,
    )
    check_usable(
        judged.count,
        cfg.min_usable.verdicts,
        what=f"judge verdicts on {bench.name}",
        setting=cfg.min_usable.setting_name("verdicts"),
        resume_dir=plan.stage.state_dir,
    )
    return [apply_verdict(row, judged.decisions) for row in rows]


def summarise(
    plan: Plan,
    bench: Any,
    chosen: Sequence[Any],
    samples: Sequence[EvalSample],
    replies: Sequence[ChatResult | None],
) -> dict[str, Any]:
    """The benchmark's entry in the evaluation record: scores, counts, data and its revision, sampled ids."""
    cfg = plan.cfg
    strategy = strategy_for(cfg, bench)
    judge_used = cfg.judge.enabled and strategy != "rule"
    source = plan.sources[bench.name]
    truncated = [
        item.id for item, r in zip(chosen, replies, strict=True) if r is not None and r.finish_reason == "length"
    ]
    summary = aggregate(samples, judge_used=judge_used)
    summary.update(
        scoring=strategy,
        judge_note=getattr(bench, "judge_note", None),
        truncated=len(truncated),
        truncated_ids=truncated,
        seed=cfg.seed,
        sample_size=cfg.effective_sample_size(),
        total_items=len(plan.items[bench.name]),
        prompt_variant=cfg.prompt_variant,
        data=source.label,
        data_ref=source.record.ref,
        data_revision=source.record.revision_sha,
        hub_id=getattr(bench, "hub_id", None),
        sampled_ids=[item.id for item in chosen],
    )
    if not judge_used and summary["rule_undecided"]:
        logger.warning(
            "%s: %d responses the rules cannot decide (free text) count as wrong without a judge; "
            "pass --judge-base-url/--judge-model to score them",
            bench.name,
            summary["rule_undecided"],
        )
    return summary


# --- 5. the whole run -----------------------------------------------------------------------------------


def _versions() -> dict[str, str]:
    out = {}
    for dist in ("finr1-evaluate", "finr1-core"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "unknown"
    return out


def describe_run(plan: Plan, per_bench: Mapping[str, Any]) -> dict[str, Any]:
    """The evaluation record of the lineage (what ``results.json`` held in 0.1, plus the served model)."""
    cfg = plan.cfg
    judge = None
    if cfg.judge.enabled:
        keys = ("model", "base_url", "temperature", "top_p", "max_tokens", "max_asks")
        judge = {k: getattr(cfg.judge, k) for k in keys} | {"custom_prompt": cfg.judge.prompt is not None}
    return {
        "schema": EVALUATION_SCHEMA,
        "model": cfg.model.model,
        "label": cfg.label or cfg.model.model,
        "endpoint": {
            "base_url": cfg.model.base_url,
            "api_mode": cfg.model.api_mode,
            "prompt_format": cfg.model.prompt_format if cfg.model.api_mode == "completions" else None,
        },
        "served_model": plan.served.as_dict(),
        "sampling": cfg.sampling.model_dump(mode="json"),
        "system_prompt": cfg.system_prompt,
        "prompt_variant": cfg.prompt_variant,
        "seed": cfg.seed,
        "judge": judge,
        "cache_hash": plan.cache_key,  # not "cache_key": redaction drops keys named *_key
        "versions": _versions(),
        "benchmarks": dict(per_bench),
    }


def card_body(results: Mapping[str, Any], served: ServedModel, sources: Mapping[str, DataSource]) -> str:
    """The card above the provenance section: how to load it, the results tables, what was evaluated."""
    lines = [
        f"Evaluation of `{results['model']}` with finr1-evaluate (RECIPE.md §7): one split per benchmark, each row "
        "a scored sample (`finr1_core.schemas.EvalSample`); `datasets.load_dataset(<this repo or folder>, "
        'split="<benchmark>")` reads one. The full record (scores, counts, sampled ids) is in `lineage.json` '
        "under `evaluation`.",
        "",
        render_markdown([results], heading=False).strip(),
        "",
        "## What was evaluated",
        "",
        f"- Model: `{results['model']}` at `{served.endpoint}`; weights: {served.describe()}.",
        f"- System prompt: {'`' + results['system_prompt'] + '`' if results.get('system_prompt') else 'none'}.",
    ]
    judge = results.get("judge")
    lines.append(f"- Judge: `{judge['model']}` at `{judge['base_url']}`." if judge else "- Judge: none (rules only).")
    for name, source in sources.items():
        lines.append(f"- {name}: data `{source.record.ref}` at `{source.record.revision_sha}`.")
    return redact_text("\n".join(lines))


def run_evaluation(cfg: EvalConfig, *, progress: bool = True) -> Outcome:
    """Run the evaluation described by ``cfg`` and write its artifact (see the module docstring).

    Raises:
        ConfigError, InputError, ArtifactError, EndpointError: bad config or input, an unreachable endpoint or
            Hub (one line, before any model request).
        AuthError: the model or the judge refused the key (at start or mid-run: the run stops at once).
        TooFewUsableError: a benchmark has too few usable generations or verdicts; nothing is written.
    """
    benches = check_config(cfg)
    plan = plan_run(cfg, benches)
    if already_complete(plan):
        assert plan.previous is not None
        logger.info(
            "%s: already complete for this config and these inputs; left alone (--force redoes it)", plan.stage.output
        )
        return Outcome(plan.previous.evaluation, plan.stage.output.text, written=False)
    if cfg.rescore:
        check_rescore(plan)
    judge_needed = cfg.judge.enabled and any(strategy_for(cfg, b) != "rule" for b in benches)
    check_endpoints(cfg, judge_needed=judge_needed)
    if not cfg.rescore and not cfg.model_ref and cfg.model.api_mode == "chat":
        plan.served = resolve_served_model(cfg.model.model, cfg.model.base_url, None, cfg.model.request_headers())
    read_benchmarks(plan)
    plan.cache.mkdir(parents=True, exist_ok=True)
    (plan.cache / "config.json").write_text(
        json.dumps(_generation_settings(plan), indent=2, ensure_ascii=False) + "\n"
    )
    per_bench: dict[str, Any] = {}
    samples: dict[str, list[EvalSample]] = {}
    for bench in benches:
        per_bench[bench.name], samples[bench.name] = evaluate_benchmark(plan, bench, progress=progress)
    results = describe_run(plan, per_bench)
    for record in plan.inputs:
        plan.stage.add_input(record)
    record = write_artifact(plan.stage, samples, results, card_body(results, plan.served, plan.sources))
    return Outcome(results, plan.stage.output.text, written=True, revision=record.revision_sha)


def _generation_settings(plan: Plan) -> dict[str, Any]:
    cfg = plan.cfg
    return {
        "model": cfg.model.model,
        "served_revision": plan.served.revision,
        "api_mode": cfg.model.api_mode,
        "prompt_format": cfg.model.prompt_format,
        "sampling": cfg.sampling.model_dump(mode="json"),
        "prompt_variant": cfg.prompt_variant,
        "system_prompt": cfg.system_prompt,
    }
