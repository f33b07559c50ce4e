"""``finr1-distill run``: source items → decontamination → quotas → shard → teacher → distilled dataset.

Steps (RECIPE.md §1, §2, §11):

1. Read each configured source through its adapter (local files in the original format, the Hub, or the
   shipped samples). A missing file, missing column or malformed row stops the run with one line that
   names it; nothing is skipped silently.
2. Drop items found in evaluation sets (normalised text, 8-gram overlap, FinQA/ConvFinQA report page) and
   record their ids in the card.
3. Fill each source's quota by seeded sampling (the kept items stay in source order).
4. Keep this run's shard (``--shard I/N``, by stable hash of the item id).
5. Send ``samples_per_item`` requests per item to the teacher through the resumable runner; the result
   log lives in the output's work dir, so a killed run resumes without repeating a finished call.
6. Write one :class:`~finr1_core.schemas.DistilledRow` per (item, sample) to split ``train``. Failed
   calls, traces cut by ``max_tokens`` (``finish_reason == "length"``) and empty traces or answers are kept
   as rows with ``error`` set, and counted, so the judge can route them (objective items still reach rl).

A teacher that refuses the key (401/402/403) stops the run at once. When fewer than ``min_usable`` of the
calls gave a usable trace (every call failed, a wrong model, an instruct model behind a reasoning parser),
the run fails before step 6: nothing is written, no lineage, and the result log stays in the work dir so
the fixed re-run pays only for what is missing.
"""

from __future__ import annotations

import logging
import random
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finr1_core.errors import ConfigError, Finr1Error, InputError
from finr1_core.lineage import InputRecord
from finr1_core.runner import UsableCount, check_usable, usage_record
from finr1_core.schemas import DistilledRow, SourceItem
from finr1_core.stage import Shard, Stage, fingerprint_path, parse_shard
from finr1_distill import __version__
from finr1_distill.config import DistillConfig, SourceSpec

logger = logging.getLogger(__name__)

TOOL = "finr1-distill"
ERROR_KINDS = ("request_failed", "truncated", "empty_trace", "empty_answer")
_CHUNK = 2000  # rows per in-memory batch when building the dataset


@dataclass
class LoadedSource:
    """One source's items after decontamination and quota sampling (all shards)."""

    spec: SourceSpec
    loaded: list[SourceItem]
    kept: list[SourceItem]
    removed: dict[str, str]
    selected: list[SourceItem]
    input: InputRecord


@dataclass
class DistillResult:
    """What a run produced: the output record and the summary written into the card."""

    output: str
    complete: bool
    summary: dict[str, Any] = field(default_factory=dict)


def _source_input(spec: SourceSpec, adapter: Any, samples: bool) -> InputRecord:
    from finr1_distill.sources import sample_path
    from finr1_distill.sources.base import offline_samples

    if spec.data:
        return InputRecord(ref=spec.data, revision_sha=fingerprint_path(spec.data))
    if samples or offline_samples():
        path = sample_path(adapter.name)
        return InputRecord(ref=f"finr1-distill samples/{adapter.name}", revision_sha=fingerprint_path(path))
    hub_id = spec.hub_id or adapter.hub_id or "?"
    return InputRecord(ref=f"hf://datasets/{hub_id}", revision_sha=None)


def check_sources(config: DistillConfig) -> list[tuple[SourceSpec, Any]]:
    """Resolve every source's adapter and check its local data path, before anything slow happens.

    Raises:
        ConfigError: no sources are configured.
        InputError: an unknown source or a missing data path (one line naming it).
    """
    from finr1_distill.sources import get_source

    if not config.sources:
        raise ConfigError("no sources to distil: list at least one under 'sources' or pass --source NAME")
    adapters = [(spec, get_source(spec.name)) for spec in config.sources]
    for spec, _ in adapters:
        if spec.data and not Path(spec.data).exists():
            raise InputError(f"{spec.data}: data path for source '{spec.name}' not found")
    for root in config.decontamination.eval_data if config.decontamination.enabled else []:
        if not Path(root).is_dir():
            raise InputError(f"{root}: evaluation data folder (decontamination.eval_data) not found")
    return adapters


def load_sources(config: DistillConfig) -> list[LoadedSource]:
    """Read, decontaminate and quota-sample every configured source (the same in every shard)."""
    from finr1_distill.sources import build_eval_index, decontaminate

    adapters = check_sources(config)
    index = None
    deco = config.decontamination
    if deco.enabled and deco.eval_data:
        index = build_eval_index(deco.eval_data, n=deco.ngram, threshold=deco.threshold)
    elif deco.enabled:
        logger.warning("decontamination: no evaluation data configured (decontamination.eval_data); nothing removed")
    out: list[LoadedSource] = []
    seen: dict[str, str] = {}
    for spec, adapter in adapters:
        items = list(
            adapter.load(spec.data, split=spec.split, limit=config.limit, samples=config.samples, hub_id=spec.hub_id)
        )
        for item in items:
            if item.id in seen:
                raise InputError(f"source '{spec.name}': item id '{item.id}' also comes from '{seen[item.id]}'")
            seen[item.id] = spec.name
        reasons: dict[str, str] = {}
        kept = items
        if index is not None:
            kept, _ = decontaminate(items, index, reasons=reasons)
        selected = kept
        if spec.quota is not None and spec.quota < len(kept):
            rng = random.Random(f"{config.seed}/{spec.name}")
            picked = set(rng.sample(range(len(kept)), spec.quota))
            selected = [item for i, item in enumerate(kept) if i in picked]
        elif spec.quota is not None and spec.quota > len(kept):
            # Expected with the small shipped samples; worth a warning on real data.
            level = logging.INFO if config.limit or spec.data is None and config.samples else logging.WARNING
            logger.log(
                level, "source %s: quota %d but only %d items available; using all", spec.name, spec.quota, len(kept)
            )
        input_record = _source_input(spec, adapter, config.samples)
        out.append(LoadedSource(spec, items, kept, reasons, selected, input_record))
        logger.info(
            "source %s: %d items read, %d removed as contaminated, %d selected",
            spec.name,
            len(items),
            len(reasons),
            len(selected),
        )
    return out


def _requests(items: list[SourceItem], config: DistillConfig) -> Iterator[Any]:
    from finr1_core.runner import ChatRequest

    params = config.teacher.params()
    for item in items:
        messages = [m.model_dump() for m in item.messages]
        for sample in range(config.samples_per_item):
            yield ChatRequest(item.id, sample, messages, dict(params))


def split_final_answer(content: str) -> tuple[str, str]:
    """Split a plain chain-of-thought answer into ``(reasoning, final answer)``.

    For teachers without a reasoning channel (``teacher.reasoning: split_final``): the final answer is
    the last paragraph; an answer of one paragraph is split before its last line, then before its last
    sentence. Text that cannot be split gives an empty reasoning, which :func:`classify` flags.
    """
    text = content.strip()
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    if len(paragraphs) >= 2:
        return "\n\n".join(paragraphs[:-1]).strip(), paragraphs[-1].strip()
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) >= 2:
        return "\n".join(lines[:-1]).strip(), lines[-1].strip()
    sentences = re.split(r"(?<=[.!?。！？])\s+", text)
    if len(sentences) >= 2:
        return " ".join(sentences[:-1]).strip(), sentences[-1].strip()
    return "", text


def apply_reasoning_policy(result: Any, policy: str) -> Any:
    """Under ``split_final``, give a successful result without a trace one split from its content."""
    if policy != "split_final" or result.error is not None or (result.reasoning or "").strip():
        return result
    reasoning, completion = split_final_answer(result.completion or result.content or "")
    result.reasoning, result.completion = reasoning, completion
    return result


def classify(result: Any) -> tuple[str | None, str | None]:
    """``(error kind, error text)`` of a runner result, or ``(None, None)`` for a usable trace."""
    if result.error is not None:
        return "request_failed", result.error
    if result.finish_reason == "length":
        return "truncated", "truncated: finish_reason is 'length' (the trace hit teacher.max_tokens)"
    if not (result.reasoning or "").strip():
        return "empty_trace", "empty reasoning trace (no reasoning_content and no <think> block)"
    if not (result.completion or "").strip():
        if result.content is None and (result.reasoning or "").strip():
            # vLLM's reasoning parser on a model that never closes </think> puts the whole reply in reasoning_content.
            return "empty_answer", (
                "empty final answer: content was null and the whole reply came as reasoning_content "
                "(a reasoning parser in front of a model that does not write </think>?)"
            )
        return "empty_answer", "empty final answer after the reasoning"
    return None, None


def distilled_row(item: SourceItem, result: Any, teacher: str) -> DistilledRow:
    """The dataset row of one (item, sample) result."""
    _, error = classify(result)
    return DistilledRow(
        **item.model_dump(),
        teacher=teacher,
        sample_index=result.sample_index,
        reasoning=result.reasoning or None,
        completion=result.completion or None,
        finish_reason=result.finish_reason,
        usage=usage_record(result.usage),
        latency_s=result.latency_s,
        error=error,
    )


def _build_dataset(
    items: list[SourceItem], spec_of: dict[str, str], config: DistillConfig, results_path: Any, usable: UsableCount
) -> tuple[Any, Counter, dict]:
    import datasets

    from finr1_core.runner import iter_results

    by_id = {item.id: item for item in items}
    order: dict[tuple[str, int], int] = {}
    for item in items:
        for sample in range(config.samples_per_item):
            order[(item.id, sample)] = len(order)
    features = DistilledRow.features()
    parts, batch, positions = [], [], []
    kinds: Counter[str] = Counter()
    per_source: dict[str, Counter[str]] = {}
    for result in iter_results(results_path):
        position = order.get(result.key)
        if position is None:
            continue  # a result of an earlier, larger run (e.g. a higher --limit) that this run does not use
        item = by_id[result.item_id]
        result = apply_reasoning_policy(result, config.teacher.reasoning)
        row = distilled_row(item, result, config.teacher.model)
        kind, error = classify(result)
        kinds[kind or "ok"] += 1
        usable.add(kind is None, kind, error)
        counter = per_source.setdefault(spec_of[item.id], Counter())  # by configured name (fincuge:finfe)
        counter["rows"] += 1
        counter[kind or "ok"] += 1
        counter["prompt_tokens"] += (row.usage.prompt_tokens or 0) if row.usage else 0
        counter["completion_tokens"] += (row.usage.completion_tokens or 0) if row.usage else 0
        batch.append(row.to_row())
        positions.append(position)
        if len(batch) >= _CHUNK:
            parts.append(datasets.Dataset.from_list(batch, features=features))
            batch = []
    if batch or not parts:
        parts.append(datasets.Dataset.from_list(batch, features=features) if batch else _empty(features))
    if len(positions) != len(order):
        missing = len(order) - len(positions)
        raise Finr1Error(
            f"{missing} of {len(order)} teacher calls have no result in {results_path}; run again to resume"
        )
    ds = datasets.concatenate_datasets(parts) if len(parts) > 1 else parts[0]
    ds = ds.select(sorted(range(len(positions)), key=positions.__getitem__))
    return ds, kinds, per_source


def _empty(features: Any) -> Any:
    import datasets

    return datasets.Dataset.from_dict({name: [] for name in features}, features=features)


def _summary(
    sources: list[LoadedSource],
    shard: Shard | None,
    kinds: Counter,
    per_source: dict[str, Counter],
    config: DistillConfig,
) -> dict[str, Any]:
    def mine(item_id: str) -> bool:
        return shard is None or shard.contains(item_id)

    table: dict[str, dict[str, int]] = {}
    removed_ids: list[str] = []
    reasons: Counter[str] = Counter()
    for src in sources:
        removed = [i for i in src.removed if mine(i)]
        removed_ids += removed
        reasons.update(src.removed[i].split(":")[0] for i in removed)
        counts = per_source.get(src.spec.name, Counter())
        table[src.spec.name] = {
            "read": sum(mine(i.id) for i in src.loaded),
            "removed": len(removed),
            "selected": sum(mine(i.id) for i in src.selected),
            "rows": counts.get("rows", 0),
            "ok": counts.get("ok", 0),
            **{kind: counts.get(kind, 0) for kind in ERROR_KINDS},
            "prompt_tokens": counts.get("prompt_tokens", 0),
            "completion_tokens": counts.get("completion_tokens", 0),
        }
    deco = config.decontamination
    return {
        "rows": sum(kinds.values()),
        "ok": kinds.get("ok", 0),
        "errors": {kind: kinds.get(kind, 0) for kind in ERROR_KINDS},
        "per_source": table,
        "decontamination": {
            "enabled": deco.enabled and bool(deco.eval_data),
            "removed": len(removed_ids),
            "reasons": dict(reasons),
            "removed_ids": sorted(removed_ids),
        },
    }


def render_card(summary: dict[str, Any], config: DistillConfig) -> str:
    """Markdown body of the dataset card: what the rows are, counts per source, errors, removed ids."""
    t = config.teacher
    top_p = f", top_p {t.top_p}" if t.top_p is not None else ""
    lines = [
        "Reasoning traces distilled by `finr1-distill` (finr1, a re-implementation of Fin-R1's data pipeline).",
        "",
        f"Teacher `{t.model}` at temperature {t.temperature}{top_p}, max_tokens {t.max_tokens}, "
        f"{config.samples_per_item} sample(s) per prompt, no system prompt. Split `train` holds one row per "
        "(item, sample); rows whose call failed, whose trace was cut by max_tokens or is empty keep their "
        "`error` and are routed to rejected (and, for objective items, to rl) by `finr1-judge`.",
        "",
        "| source | read | removed (eval overlap) | selected | rows | ok | failed | truncated | empty trace "
        "| empty answer |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, c in summary.get("per_source", {}).items():
        lines.append(
            f"| {name} | {c['read']:,} | {c['removed']:,} | {c['selected']:,} | {c['rows']:,} | {c['ok']:,} | "
            f"{c['request_failed']:,} | {c['truncated']:,} | {c['empty_trace']:,} | {c['empty_answer']:,} |"
        )
    errors = summary.get("errors", {})
    lines += [
        "",
        f"Rows: {summary.get('rows', 0):,}, usable: {summary.get('ok', 0):,}, flagged: "
        + ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in errors.items())
        + ".",
    ]
    deco = summary.get("decontamination", {})
    lines.append("")
    if not deco.get("enabled"):
        lines.append(
            "Decontamination: **not run** (no evaluation data configured); overlap with evaluation sets "
            "was not checked."
        )
    else:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(deco.get("reasons", {}).items())) or "none"
        roots = ", ".join(f"`{r}`" for r in config.decontamination.eval_data)
        lines.append(
            f"Decontamination against {roots} (normalised text, {config.decontamination.ngram}-gram overlap ≥ "
            f"{config.decontamination.threshold}, report page): removed {deco.get('removed', 0):,} items ({reasons})."
        )
        ids = deco.get("removed_ids", [])
        if ids:
            lines += [
                "",
                "<details><summary>Removed item ids</summary>",
                "",
                *(f"- `{i}`" for i in ids),
                "",
                "</details>",
            ]
    if not any(s.name == "finpee" for s in config.sources):
        lines += ["", "FinPEE (private SUFE exam questions) is not included unless configured with local files."]
    return "\n".join(lines)


def run_distill(config: DistillConfig) -> DistillResult:
    """Run the distillation stage end to end (resumable); see the module docstring.

    Raises:
        ConfigError: bad shard spec, no sources, or a resume folder holding a run with other settings.
        InputError: unknown source, missing file or column, malformed row (one line naming it).
        EndpointError: the teacher is unreachable or does not serve the model.
        AuthError: the teacher refused the key (at start or during the run; the run stops at once).
        TooFewUsableError: fewer than ``min_usable`` of the calls gave a usable trace (nothing written).
        Finr1Error: a budget (max_requests, max_total_tokens) stopped the run before every call was made.
    """
    from finr1_core.runner import check_endpoint, run_chat

    shard = parse_shard(config.shard)
    stage = Stage(TOOL, __version__, config, output=config.output, shard=shard)
    endpoint = config.teacher.endpoint()
    check_sources(config)
    check_endpoint(endpoint)  # before reading sources, which can take long from the Hub
    sources = load_sources(config)
    for src in sources:
        stage.add_input(src.input)
    selected = [item for src in sources for item in src.selected]
    items = list(shard.select(selected, key=lambda i: i.id)) if shard else selected
    stage.input_rows = len(items)
    logger.info(
        "distilling %d items x %d samples%s",
        len(items),
        config.samples_per_item,
        f" (shard {shard} of {len(selected)} selected)" if shard else "",
    )
    t = config.teacher
    stage.pin_settings({"model": t.model, "params": t.params(), "messages": "source prompts, no system turn"})
    results_path = stage.state_dir / "teacher.jsonl"
    total = len(items) * config.samples_per_item
    if total:
        summary = run_chat(
            _requests(items, config),
            endpoint,
            results_path,
            concurrency=config.concurrency,
            progress=config.progress,
            max_requests=config.max_requests,
            max_total_tokens=config.max_total_tokens,
            check=False,
            total=total,
        )
        if not summary.complete:
            raise Finr1Error(
                f"stopped by {summary.stopped_reason} after {summary.succeeded + summary.failed} new results "
                f"({summary.skipped} were already done, {total} needed); run the same command again to continue"
            )
        spec_of = {item.id: src.spec.name for src in sources for item in src.selected}
        usable = UsableCount()
        ds, kinds, per_source = _build_dataset(items, spec_of, config, results_path, usable)
        # Before anything is written: a run of failed calls must not leave a complete output behind.
        check_usable(
            usable,
            config.min_usable,
            what="teacher calls",
            setting=config.setting_name("min_usable"),
            resume_dir=stage.state_dir,
        )
    else:
        logger.warning("no items to distil (after decontamination, quotas and sharding)")
        ds, kinds, per_source = _empty(DistilledRow.features()), Counter(), {}
    result_summary = _summary(sources, shard, kinds, per_source, config)
    record = stage.write({"train": ds}, summary=result_summary, card_body=lambda s: render_card(s, config))
    return DistillResult(output=config.output, complete=record.revision_sha is not None, summary=result_summary)
