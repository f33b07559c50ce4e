"""``finr1-evaluate run``: load benchmarks, sample, generate (cached), score, write the reports.

Flow per run (RECIPE.md §7):

1. Check the inputs before any model call: benchmark names, data paths, a judge for benchmarks that
   need one, and (unless ``--rescore``) that the model endpoint answers.
2. Load each benchmark, then take the sampled ids: from ``--ids-from``, else from an earlier
   ``results.json`` in the output folder made with the same seed and size, else a fresh stratified
   draw (``sample_items``; all items when the set has fewer than ``sample_size``).
3. Generate through the resumable runner into ``OUTPUT/cache/<key>/<benchmark>.jsonl``, where
   ``key`` hashes the model name, sampling parameters, prompt variant, system prompt and API mode,
   and each line is keyed by ``<item id>@<prompt hash>`` (a changed prompt is a new request). A
   killed run resumes from the log; a finished one is never generated again.
4. Score: the rule matcher first, the judge where the benchmark's strategy says so (its replies are
   cached the same way under ``cache/judge-<key>/``), then aggregate and write ``samples.jsonl``,
   ``results.json``, ``results.md`` and ``results.png``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from finr1_core.config import redact_config
from finr1_core.errors import ConfigError, InputError
from finr1_core.schemas import EvalSample, Message, Usage
from finr1_evaluate.config import EvalConfig, short_hash
from finr1_evaluate.judge import build_judge_prompt, parse_verdict
from finr1_evaluate.report import RESULTS_SCHEMA, write_reports
from finr1_evaluate.scoring import GENERATION_ERROR, JUDGE_FAILED, aggregate, needs_judge

logger = logging.getLogger(__name__)


@dataclass
class Response:
    """A model or judge reply as the evaluation uses it (from the runner or the raw HTTP mode)."""

    content: str | None
    reasoning: str | None
    finish_reason: str | None
    usage: dict[str, Any] | None
    latency_s: float | None
    error: str | None


# --- inputs --------------------------------------------------------------------------------------


def parse_data_option(value: str | None, names: Sequence[str]) -> dict[str, Path | None]:
    """``PATH`` (one path for every benchmark) or ``NAME=PATH[,NAME=PATH]`` -> path per benchmark.

    Raises:
        InputError: a path that does not exist, or a NAME that is not among the selected benchmarks.
    """
    paths: dict[str, Path | None] = {name: None for name in names}
    if not value:
        return paths
    pairs = [p.strip() for p in value.split(",") if p.strip()]
    if all("=" in p for p in pairs):
        for pair in pairs:
            name, _, path = pair.partition("=")
            name = name.strip()
            if name not in paths:
                raise InputError(f"--data {pair}: {name!r} is not one of the selected benchmarks ({', '.join(names)})")
            paths[name] = Path(path.strip()).expanduser()
    else:
        paths = {name: Path(value).expanduser() for name in names}
    for name, path in paths.items():
        if path is not None and not path.exists():
            raise InputError(f"--data: {path} does not exist (benchmark {name}); give an existing file or folder")
    return paths


def _benchmarks_module() -> Any:
    from finr1_evaluate import benchmarks

    return benchmarks


def resolve_benchmarks(names: Sequence[str]) -> list[Any]:
    """Registry names or YAML benchmark files (``*.yaml``); an unknown name is one line listing the known ones."""
    if not names:
        raise ConfigError("no benchmark selected: pass --benchmark NAME[,NAME...] (see `finr1-evaluate benchmarks`)")
    module = _benchmarks_module()
    out = []
    for name in names:
        if name.endswith((".yaml", ".yml")):
            out.append(module.load_yaml_benchmark(name))
        elif name in module.BENCHMARKS:
            out.append(module.get_benchmark(name))
        else:
            known = ", ".join(module.BENCHMARKS)
            raise InputError(f"unknown benchmark {name!r}; known: {known} (or a YAML benchmark file *.yaml)")
    seen = [b.name for b in out]
    if len(set(seen)) != len(seen):
        raise ConfigError(f"--benchmark names a benchmark twice: {', '.join(seen)}")
    return out


def strategy_for(cfg: EvalConfig, bench: Any) -> str:
    """The scoring strategy: the config's override, else the registry's default."""
    return cfg.scoring.get(bench.name) or getattr(bench, "scoring", "rule")


def _sampled_ids_from(path: Path, benchmark: str) -> list[str]:
    from finr1_evaluate.report import load_results

    data = load_results(path)
    entry = data["benchmarks"].get(benchmark)
    if not entry or "sampled_ids" not in entry:
        raise InputError(f"{path}: has no sampled ids for benchmark {benchmark!r} (--ids-from)")
    return list(entry["sampled_ids"])


def select_items(cfg: EvalConfig, bench: Any, items: list[Any], previous: Mapping[str, Any] | None) -> list[Any]:
    """Choose the items to evaluate (see the module docstring, step 2)."""
    by_id = {item.id: item for item in items}
    if len(by_id) != len(items):
        raise InputError(f"benchmark {bench.name}: item ids are not unique ({len(items) - len(by_id)} duplicates)")
    ids: list[str] | None = None
    if cfg.ids_from:
        ids = _sampled_ids_from(Path(cfg.ids_from), bench.name)
        origin = f"--ids-from {cfg.ids_from}"
    elif previous is not None:
        entry = previous.get("benchmarks", {}).get(bench.name) or {}
        same = (
            entry.get("seed") == cfg.seed
            and entry.get("sample_size") == cfg.effective_sample_size()
            and entry.get("total_items") == len(items)
            and entry.get("prompt_variant") == cfg.prompt_variant
        )
        if same and entry.get("sampled_ids"):
            ids = list(entry["sampled_ids"])
            origin = "the earlier results.json"
    if ids is not None:
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise InputError(
                f"benchmark {bench.name}: {len(missing)} sampled ids from {origin} are not in the data "
                f"(first: {missing[0]!r}); use the same data or drop the reused ids"
            )
        logger.info("%s: reusing %d sampled ids from %s", bench.name, len(ids), origin)
        return [by_id[i] for i in ids]
    chosen = _benchmarks_module().sample_items(items, n=cfg.effective_sample_size(), seed=cfg.seed)
    return list(chosen)


# --- generation ----------------------------------------------------------------------------------


def _messages(cfg: EvalConfig, item: Any) -> list[dict[str, str]]:
    messages = [_as_dict(m) for m in item.messages]
    if cfg.system_prompt:
        messages = [{"role": "system", "content": cfg.system_prompt}, *[m for m in messages if m["role"] != "system"]]
    return messages


def _as_dict(message: Any) -> dict[str, str]:
    if isinstance(message, Mapping):
        return {"role": str(message["role"]), "content": str(message["content"])}
    return {"role": message.role, "content": message.content}


def request_key(item_id: str, messages: Sequence[Mapping[str, str]]) -> str:
    """The cache key of one item's request: its id plus a hash of the exact prompt."""
    digest = hashlib.sha256(json.dumps(list(messages), ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:10]
    return f"{item_id}@{digest}"


def _endpoint(base_url: str, model: str, api_key_env: str | None, timeout_s: float, max_retries: int) -> Any:
    from finr1_core.runner import EndpointConfig

    return EndpointConfig(
        base_url=base_url, model=model, api_key_env=api_key_env, timeout_s=timeout_s, max_retries=max_retries
    )


def _from_chat_result(result: Any) -> Response:
    """A runner ``ChatResult`` (reasoning already split from the answer) as a :class:`Response`."""
    return Response(
        content=result.completion if result.error is None else None,
        reasoning=result.reasoning or None,
        finish_reason=result.finish_reason,
        usage=result.usage,
        latency_s=result.latency_s,
        error=result.error,
    )


def generate(
    cfg: EvalConfig,
    requests: Mapping[str, list[dict[str, str]]],
    log_path: Path,
    *,
    progress: bool,
) -> dict[str, Response]:
    """Generate (or, with ``--rescore``, only read from the cache) one reply per request key."""
    from finr1_core.runner import ChatRequest, read_results, run_chat

    if not cfg.rescore:
        endpoint = _endpoint(
            cfg.model.base_url or "",
            cfg.model.model or "",
            cfg.model.api_key_env,
            cfg.model.timeout_s,
            cfg.model.max_retries,
        )
        params = cfg.sampling.request_params()
        if cfg.model.api_mode == "completions":
            from finr1_evaluate.rawhttp import RawRequest, render_prompt, run_raw

            raw = [RawRequest(key, 0, render_prompt(msgs, cfg.model.prompt_format)) for key, msgs in requests.items()]
            run_raw(raw, endpoint, log_path, params=params, concurrency=cfg.concurrency)
        else:
            chat = [
                ChatRequest(item_id=key, sample_index=0, messages=msgs, params=params)
                for key, msgs in requests.items()
            ]
            # The endpoint was checked once at start; the log makes finished keys free on a rerun.
            run_chat(chat, endpoint, log_path, concurrency=cfg.concurrency, progress=progress, check=False)
    if not log_path.is_file():
        return {}
    return {key: _from_chat_result(r) for (key, _), r in read_results(log_path).items() if key in requests}


# --- judging -------------------------------------------------------------------------------------


def judge_cache_key(cfg: EvalConfig) -> str:
    """Hash of what determines a judge reply: model, sampling and the prompt template."""
    j = cfg.judge
    return short_hash(
        {
            "model": j.model,
            "temperature": j.temperature,
            "top_p": j.top_p,
            "max_tokens": j.max_tokens,
            "prompt": j.prompt,
        }
    )


def run_judge(
    cfg: EvalConfig, prompts: Mapping[str, str], log_path: Path, *, progress: bool
) -> dict[str, tuple[int | None, str | None]]:
    """Ask the judge about each prompt; retry unusable verdicts; returns key -> (score or None, raw reply)."""
    if not prompts:
        return {}
    from finr1_core.runner import ChatRequest, read_results, run_chat

    j = cfg.judge
    endpoint = _endpoint(j.base_url or "", j.model, j.api_key_env, j.timeout_s, j.max_retries)
    params = {"temperature": j.temperature, "top_p": j.top_p, "max_tokens": j.max_tokens}
    verdicts: dict[str, tuple[int | None, str | None]] = {}
    pending = list(prompts)
    for attempt in range(j.attempts):
        requests = [
            ChatRequest(
                item_id=key, sample_index=attempt, messages=[{"role": "user", "content": prompts[key]}], params=params
            )
            for key in pending
        ]
        run_chat(
            requests, endpoint, log_path, concurrency=j.concurrency or cfg.concurrency, progress=progress, check=False
        )
        results = read_results(log_path)
        still = []
        for key in pending:
            result = results.get((key, attempt))
            reply = _from_chat_result(result) if result is not None else None
            raw = None if reply is None else (reply.content if reply.error is None else f"[error] {reply.error}")
            score = parse_verdict(reply.content) if reply is not None and reply.error is None else None
            verdicts[key] = (score, raw)
            if score is None:
                still.append(key)
        pending = still
        if not pending:
            break
        logger.info(
            "judge: %d replies without a usable score; asking again (%d/%d)", len(pending), attempt + 2, j.attempts
        )
    return verdicts


# --- scoring -------------------------------------------------------------------------------------


def _usage(value: Mapping[str, Any] | None) -> Usage | None:
    if not value:
        return None
    return Usage(**{k: value.get(k) for k in ("prompt_tokens", "completion_tokens", "total_tokens")})


def score_benchmark(
    cfg: EvalConfig,
    bench: Any,
    items: Sequence[Any],
    keys: Mapping[str, str],
    messages: Mapping[str, list[dict[str, str]]],
    responses: Mapping[str, Response],
    judge_log: Path,
    *,
    progress: bool,
) -> tuple[list[EvalSample], dict[str, int]]:
    """Rule-score every item, send the strategy's share to the judge, and build the EvalSamples."""
    from finr1_core.answers import match_answer

    strategy = strategy_for(cfg, bench)
    judge_on = cfg.judge.enabled and strategy != "rule"
    rows: list[dict[str, Any]] = []
    judge_prompts: dict[str, str] = {}
    counts = {"truncated": 0}
    for item in items:
        key = keys[item.id]
        reply = responses.get(key)
        row: dict[str, Any] = {
            "benchmark": bench.name,
            "id": item.id,
            "category": getattr(item, "category", None),
            "messages": [Message(**m) for m in messages[item.id]],
            "reference": item.reference,
            "answer_type": item.answer_type,
        }
        if reply is None or reply.error is not None:
            why = "not generated (no cached response)" if reply is None else reply.error
            row["error"] = f"{GENERATION_ERROR}: {why}"
            rows.append(row)
            continue
        counts["truncated"] += int(reply.finish_reason == "length")
        row.update(
            response=reply.content, reasoning=reply.reasoning, usage=_usage(reply.usage), latency_s=reply.latency_s
        )
        match = match_answer(
            reply.content or "",
            item.reference,
            item.answer_type,
            choices=getattr(item, "choices", None),
            labels=getattr(item, "labels", None),
            question=getattr(item, "question", None) or None,
        )
        row.update(
            extracted=match.extracted,
            rule=match.rule,
            rule_correct=match.correct,
            correct=match.correct is True,
            method="rule",
        )
        extracted = (match.extracted or "").strip()
        if judge_on and extracted and needs_judge(strategy, match.correct):
            # The judge sees the reference and the extracted final answer: never the reasoning, never the question.
            prompt = build_judge_prompt(
                item.reference,
                extracted,
                getattr(item, "labels", None),
                cfg.judge.prompt,
                getattr(bench, "judge_note", None),
            )
            judge_key = f"{item.id}@{hashlib.sha256(prompt.encode()).hexdigest()[:10]}"
            judge_prompts[judge_key] = prompt
            row["_judge_key"] = judge_key
        rows.append(row)
    verdicts = run_judge(cfg, judge_prompts, judge_log, progress=progress) if judge_prompts else {}
    samples = []
    for row in rows:
        judge_key = row.pop("_judge_key", None)
        if judge_key is not None:
            score, raw = verdicts.get(judge_key, (None, None))
            row.update(method="llm", judge_raw=raw)
            if score is None:
                row.update(correct=None, error=f"{JUDGE_FAILED}: no usable score after {cfg.judge.attempts} attempts")
            else:
                row["correct"] = score == 1
        samples.append(EvalSample(**row))
    return samples, counts


# --- the whole run -------------------------------------------------------------------------------


def _versions() -> dict[str, str]:
    out = {}
    for dist in ("finr1-evaluate", "finr1-core"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "unknown"
    return out


def _read_previous(output: Path, cache_key: str) -> dict[str, Any] | None:
    path = output / "results.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        logger.warning("%s: unreadable; it will be replaced", path)
        return None
    if data.get("schema") != RESULTS_SCHEMA:
        return None
    if data.get("cache_key") != cache_key:
        logger.warning("%s: written for another model configuration; it will be replaced", path)
        return None
    return data


def check_inputs(cfg: EvalConfig) -> tuple[list[Any], dict[str, Path | None]]:
    """Everything that can be checked before loading data or calling a model (one-line errors)."""
    if not cfg.output:
        raise ConfigError("no output folder: pass --output DIR")
    if not cfg.model.model:
        raise ConfigError("no model name: pass --model NAME (the name the endpoint serves)")
    if not cfg.rescore and not cfg.model.base_url:
        raise ConfigError("no model endpoint: pass --base-url URL (e.g. http://127.0.0.1:8000/v1)")
    benches = resolve_benchmarks(cfg.benchmarks)
    unknown = sorted(set(cfg.scoring) - {b.name for b in benches})
    if unknown:
        raise ConfigError(f"scoring: {', '.join(unknown)} not among the selected benchmarks")
    for bench in benches:
        if strategy_for(cfg, bench) == "judge" and not cfg.judge.enabled:
            raise ConfigError(
                f"benchmark {bench.name} is scored by an LLM judge: pass --judge-base-url and --judge-model "
                f"(or set scoring.{bench.name}: rule in --config to score it by rules only)"
            )
    data = parse_data_option(cfg.data, [b.name for b in benches])
    if cfg.ids_from and not Path(cfg.ids_from).exists():
        raise InputError(f"--ids-from: {cfg.ids_from} does not exist")
    return benches, data


def check_endpoints(cfg: EvalConfig, *, judge_needed: bool) -> None:
    """Fail fast (EndpointError, one line) when the model (unless rescoring) or the judge does not answer."""
    if not cfg.rescore:
        if cfg.model.api_mode == "completions":
            from finr1_evaluate.rawhttp import check_raw_endpoint

            check_raw_endpoint(cfg.model.base_url or "")
        else:
            _check_chat_endpoint(cfg.model.base_url or "", cfg.model.model or "", cfg.model.api_key_env)
    if judge_needed:
        _check_chat_endpoint(cfg.judge.base_url or "", cfg.judge.model, cfg.judge.api_key_env)


def _check_chat_endpoint(base_url: str, model: str, api_key_env: str | None) -> None:
    from finr1_core.errors import EndpointError
    from finr1_core.runner import check_endpoint

    endpoint = _endpoint(base_url, model, api_key_env, 30.0, 0)
    try:
        check_endpoint(endpoint)
    except EndpointError as exc:
        # `transformers serve` answers 500 on GET /v1/models when its Hub cache folder is missing (TOOLING.md §5);
        # its /health is the readiness signal there, so a healthy server is accepted with a warning.
        if "answered HTTP 5" not in str(exc) or not _healthy(base_url):
            raise
        logger.warning(
            "%s; %s/health is ok, so continuing (the model name is not checked)",
            exc,
            base_url.rstrip("/").removesuffix("/v1"),
        )


def _healthy(base_url: str) -> bool:
    import httpx

    root = base_url.rstrip("/").removesuffix("/v1")
    try:
        return httpx.get(root + "/health", timeout=10.0).status_code == 200
    except httpx.HTTPError:
        return False


def run_evaluation(cfg: EvalConfig, *, progress: bool = True) -> dict[str, Any]:
    """Run the evaluation described by ``cfg`` and write its outputs; returns the results.json content."""
    started = datetime.now(UTC)
    t0 = time.monotonic()
    benches, data = check_inputs(cfg)
    judge_needed = cfg.judge.enabled and any(strategy_for(cfg, b) != "rule" for b in benches)
    check_endpoints(cfg, judge_needed=judge_needed)

    output = Path(cfg.output or ".")
    key = cfg.cache_key()
    cache = output / "cache" / key
    if cfg.rescore and not cache.is_dir():
        raise InputError(
            f"--rescore: no cached responses for model {cfg.model.model!r} with these sampling settings in "
            f"{output / 'cache'} (key {key}); run without --rescore first, with the same --model and sampling"
        )
    cache.mkdir(parents=True, exist_ok=True)
    generation = {
        "model": cfg.model.model,
        "api_mode": cfg.model.api_mode,
        "prompt_format": cfg.model.prompt_format,
        "sampling": cfg.sampling.model_dump(mode="json"),
        "prompt_variant": cfg.prompt_variant,
        "system_prompt": cfg.system_prompt,
    }
    (cache / "config.json").write_text(json.dumps(generation, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    previous = _read_previous(output, key)
    judge_dir = output / "cache" / f"judge-{judge_cache_key(cfg)}"

    per_bench: dict[str, Any] = {}
    all_samples: dict[str, list[EvalSample]] = {}
    for bench in benches:
        b0 = time.monotonic()
        items = list(bench.load(data[bench.name], prompt_variant=cfg.prompt_variant, samples=cfg.samples))
        if not items:
            raise InputError(
                f"benchmark {bench.name}: no items loaded from {data[bench.name] or 'its default source'}"
            )
        chosen = select_items(cfg, bench, items, previous)
        messages = {item.id: _messages(cfg, item) for item in chosen}
        keys = {item.id: request_key(item.id, messages[item.id]) for item in chosen}
        requests = {keys[i]: messages[i] for i in messages}
        log_path = cache / f"{bench.name}.jsonl"
        if cfg.rescore and not log_path.is_file():
            raise InputError(f"--rescore: no cached responses for benchmark {bench.name} in {cache}")
        logger.info("%s: %d of %d items; generating into %s", bench.name, len(chosen), len(items), log_path)
        responses = generate(cfg, requests, log_path, progress=progress)
        strategy = strategy_for(cfg, bench)
        judge_used = cfg.judge.enabled and strategy != "rule"
        samples, extra = score_benchmark(
            cfg, bench, chosen, keys, messages, responses, judge_dir / f"{bench.name}.jsonl", progress=progress
        )
        summary = aggregate(samples, judge_used=judge_used)
        summary.update(
            scoring=strategy,
            judge_note=getattr(bench, "judge_note", None),
            truncated=extra["truncated"],
            seed=cfg.seed,
            sample_size=cfg.effective_sample_size(),
            total_items=len(items),
            prompt_variant=cfg.prompt_variant,
            data=str(data[bench.name])
            if data[bench.name]
            else ("shipped samples" if cfg.samples else getattr(bench, "hub_id", None)),
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
        per_bench[bench.name] = summary
        all_samples[bench.name] = samples
        logger.info(
            "%s: accuracy %s%% (n=%d, rule-only %s%%, judge failed %d, generation errors %d) in %.1f s",
            bench.name,
            summary["accuracy"],
            summary["n_scored"],
            summary["rule_only"]["accuracy"],
            summary["judge_failures"],
            summary["generation_errors"],
            time.monotonic() - b0,
        )

    results = _merge_previous(previous, per_bench)
    results.update(
        schema=RESULTS_SCHEMA,
        model=cfg.model.model,
        label=cfg.label or cfg.model.model,
        endpoint={
            "base_url": cfg.model.base_url,
            "api_mode": cfg.model.api_mode,
            "prompt_format": cfg.model.prompt_format if cfg.model.api_mode == "completions" else None,
        },
        sampling=cfg.sampling.model_dump(mode="json"),
        system_prompt=cfg.system_prompt,
        prompt_variant=cfg.prompt_variant,
        seed=cfg.seed,
        judge=(
            {k: getattr(cfg.judge, k) for k in ("model", "base_url", "temperature", "top_p", "max_tokens", "attempts")}
            | {"custom_prompt": cfg.judge.prompt is not None}
            if cfg.judge.enabled
            else None
        ),
        cache_key=key,
        versions=_versions(),
        config=redact_config(cfg.model_dump(mode="json")),
        started_at=started.isoformat(timespec="seconds"),
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        duration_s=round(time.monotonic() - t0, 1),
    )
    write_outputs(output, results, all_samples)
    return results


def _merge_previous(previous: Mapping[str, Any] | None, per_bench: Mapping[str, Any]) -> dict[str, Any]:
    """Keep earlier benchmarks of the same model configuration in results.json (runs may add benchmarks)."""
    benchmarks = dict((previous or {}).get("benchmarks", {}))
    benchmarks.update(per_bench)
    return {"benchmarks": benchmarks}


def write_outputs(output: Path, results: Mapping[str, Any], samples: Mapping[str, list[EvalSample]]) -> None:
    """Write samples.jsonl (rows of earlier benchmarks kept), results.json, results.md and results.png."""
    output.mkdir(parents=True, exist_ok=True)
    samples_path = output / "samples.jsonl"
    kept: list[str] = []
    if samples_path.is_file():
        for line in samples_path.read_text(encoding="utf-8").splitlines():
            try:
                bench = json.loads(line).get("benchmark")
            except json.JSONDecodeError:
                continue
            if bench in results["benchmarks"] and bench not in samples:
                kept.append(line)
    tmp = samples_path.with_suffix(".jsonl.tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for line in kept:
            handle.write(line + "\n")
        for bench_samples in samples.values():
            for sample in bench_samples:
                handle.write(json.dumps(sample.to_row(), ensure_ascii=False) + "\n")
    tmp.replace(samples_path)
    results_path = output / "results.json"
    tmp = results_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(results_path)
    write_reports([results], output, title=f"finr1-evaluate: {results.get('label')}")
