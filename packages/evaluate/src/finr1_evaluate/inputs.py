"""Every input of a run, resolved before the first model request (issue 11 item 6).

A run used to read each benchmark's data just before generating it, so a Hub failure on the last one
(Finance-Instruct-500k has no local layout) came after the others had been paid for. Now
:func:`resolve_sources` settles, for each selected benchmark, where its data comes from and at which
revision, before anything is generated:

- a local file or folder (``--data PATH`` or ``NAME=PATH``): recorded with a content fingerprint;
- a Hub dataset (``NAME=hf://datasets/ORG/NAME[@REV]`` or the benchmark's default Hub id): the revision is
  resolved to a commit sha, recorded, and the read is pinned to that sha;
- the small sample shipped in the package (``--samples``): recorded with its fingerprint.

The same goes for the weights behind the endpoint (``--model-ref``, :func:`resolve_served_model`) and for
``--ids-from`` (another evaluation artifact, read by :func:`finr1_evaluate.artifact.read_evaluation`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finr1_core.errors import ConfigError, InputError
from finr1_core.lineage import InputRecord, redact_text
from finr1_core.refs import Ref, hub_endpoint, parse_ref, sync_hf_endpoint

logger = logging.getLogger(__name__)

#: Split names ``datasets`` accepts (the rule finr1_core.refs applies when it writes them).
_SPLIT_NAME = re.compile(r"\w+(\.\w+)*")
EMBEDDED = "embedded"  # the name serve, train and the pipeline give the embedded SmolLM2 (finr1_core.models)


# --- benchmarks --------------------------------------------------------------------------------------


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
    for bench in out:
        # Each benchmark becomes a split of the output dataset; datasets accepts only these names.
        if not _SPLIT_NAME.fullmatch(bench.name):
            raise ConfigError(
                f"benchmark name {bench.name!r} cannot name a dataset split: use letters, digits and '_' only "
                "(the `name:` key of the YAML benchmark file)"
            )
    return out


def known_benchmark_names(selected: Sequence[Any]) -> set[str]:
    """The registry's names plus the selected benchmarks' (YAML benchmarks are not in the registry)."""
    return set(_benchmarks_module().BENCHMARKS) | {b.name for b in selected}


def select_for_run(
    entries: Mapping[str, Any], selected: Collection[str], known: Collection[str], what: str
) -> dict[str, Any]:
    """Keep the per-benchmark entries of a config key that concern the selected benchmarks.

    A config written for the five headline sets stays usable for a run of one of them: entries for known
    benchmarks that are not selected are ignored (with a debug line); a name no benchmark has is a typo and an
    error naming it.

    Raises:
        ConfigError: an entry names no known benchmark.
    """
    unknown = sorted(set(entries) - set(known))
    if unknown:
        raise ConfigError(
            f"{what}: {', '.join(unknown)} is not a benchmark (see `finr1-evaluate benchmarks`); fix or remove the entry"
        )
    ignored = sorted(set(entries) - set(selected))
    if ignored:
        logger.debug("%s: ignoring entries for benchmarks not selected in this run: %s", what, ", ".join(ignored))
    return {name: value for name, value in entries.items() if name in selected}


def parse_data_option(value: str | None, selected: Sequence[str], known: Collection[str]) -> dict[str, str | None]:
    """``PATH`` (one path for every benchmark) or ``NAME=PATH|hf://datasets/ORG/NAME[@REV],...`` per benchmark.

    Returns the data spec of each selected benchmark (None: its default source). Paths are checked by
    :func:`resolve_sources`.

    Raises:
        ConfigError: a pair names no known benchmark.
    """
    specs: dict[str, str | None] = {name: None for name in selected}
    if not value:
        return specs
    pairs = [p.strip() for p in value.split(",") if p.strip()]
    if all("=" in p for p in pairs):
        entries = {}
        for pair in pairs:
            name, _, spec = pair.partition("=")
            entries[name.strip()] = spec.strip()
        specs.update(select_for_run(entries, selected, known, "--data"))
    else:
        specs = {name: value.strip() for name in selected}
    return specs


@dataclass(frozen=True)
class DataSource:
    """Where one benchmark's data is read from, resolved before any request.

    Attributes:
        path: The local file or folder (local data and shipped samples), else None.
        hub_id: ``ORG/NAME@SHA`` when read from the Hub (pinned to the resolved commit), else None.
        record: The input record for lineage (ref and revision read).
        label: What results and card show as the data (path, Hub ref or "shipped samples").
    """

    path: Path | None
    hub_id: str | None
    record: InputRecord
    label: str

    def load(self, bench: Any, prompt_variant: str) -> list[Any]:
        """Read every item of ``bench`` from this source (one-line errors naming the source)."""
        items = list(bench.load(self.path, prompt_variant=prompt_variant, hub_id=self.hub_id))
        if not items:
            raise InputError(f"benchmark {bench.name}: no items loaded from {self.label}")
        return items


def resolve_sources(
    benches: Sequence[Any], specs: Mapping[str, str | None], *, samples: bool
) -> dict[str, DataSource]:
    """Settle each benchmark's data source and its revision (no item is read yet; Hub shas are resolved).

    Raises:
        InputError: a path that does not exist, a benchmark without a Hub copy and no ``--data``, a Hub
            repo or revision that cannot be resolved.
    """
    from finr1_core.stage import fingerprint_path
    from finr1_evaluate.benchmarks.base import offline_samples, sample_path
    from finr1_evaluate.benchmarks.yaml_spec import YamlBenchmark

    out: dict[str, DataSource] = {}
    for bench in benches:
        spec = specs.get(bench.name)
        if spec is not None and spec.startswith("hf://"):
            out[bench.name] = _hub_source(bench, spec)
            continue
        if spec is not None:
            path = Path(spec).expanduser()
            if not path.exists():
                raise InputError(
                    f"--data: {path} does not exist (benchmark {bench.name}); give an existing file or folder"
                )
            path = bench.resolve_data(path)
            label = str(path)
        elif isinstance(bench, YamlBenchmark) and bench.spec.data and not samples:
            path = bench.resolve_data(bench.base_dir / bench.spec.data)
            label = str(path)
        elif samples or offline_samples():
            path = sample_path(bench.name)
            label = "shipped samples"
        else:
            if not bench.hub_id:
                raise InputError(
                    f"benchmark {bench.name} has no Hub copy: pass --data {bench.name}=PATH ({bench.layout})"
                )
            out[bench.name] = _hub_source(bench, f"hf://datasets/{bench.hub_id}")
            continue
        ref = f"finr1_evaluate/samples/{bench.name}" if label == "shipped samples" else label
        out[bench.name] = DataSource(path, None, InputRecord(ref=ref, revision_sha=fingerprint_path(path)), label)
    return out


def _hub_source(bench: Any, text: str) -> DataSource:
    ref = parse_ref(text, "dataset")
    sha = hub_revision(ref, fix=f"or pass --data {bench.name}=PATH to read local files")
    assert ref.repo_id is not None
    logger.info("%s: %s at %s", bench.name, ref, sha[:12])
    return DataSource(None, f"{ref.repo_id}@{sha}", InputRecord(ref=ref.text, revision_sha=sha), ref.text)


def hub_revision(ref: Ref, *, fix: str = "") -> str:
    """The commit sha a Hub ref's revision (branch, tag, sha; ``main`` when absent) points at, without downloading.

    Raises:
        InputError: one line naming the ref, the Hub endpoint and the fix.
    """
    # finr1_core.refs resolves shas only while downloading (resolve_model_ref fetches the whole snapshot, which
    # for a served 7B model is 15 GB); this asks the Hub API for the sha alone.
    from huggingface_hub import HfApi
    from huggingface_hub import errors as hf_errors

    sync_hf_endpoint()
    endpoint = hub_endpoint()
    revision = ref.revision or "main"
    try:
        info = HfApi(endpoint=endpoint).repo_info(ref.repo_id or "", repo_type=ref.repo_type, revision=revision)
    except hf_errors.RevisionNotFoundError:
        why = f"revision {revision!r} does not exist"
    except hf_errors.RepositoryNotFoundError:
        why = "no such repo (private and gated repos need HF_TOKEN)"
    except Exception as exc:  # offline mode, connection errors, HTTP errors: huggingface_hub raises many types
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        why = f"{type(exc).__name__}: {first[:160]}"
    else:
        if info.sha:
            return str(info.sha)
        why = "the Hub reported no commit sha"
    raise InputError(f"{ref}: cannot resolve its revision on {endpoint} ({why}); check the ref and HF_ENDPOINT {fix}")


# --- the served model ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServedModel:
    """What the endpoint serves: the name requests carry, and (where known) the weights' ref and revision.

    ``revision_source`` says how the revision is known: ``--model-ref`` (resolved to a commit sha or a local
    fingerprint), or ``unknown`` (then ``endpoint_root`` holds what ``GET /v1/models`` reports as the
    model's ``root``, e.g. vLLM's model path or Hub id, which names the weights but not their revision).
    """

    name: str
    endpoint: str
    ref: str | None = None
    revision: str | None = None
    revision_source: str = "unknown"
    endpoint_root: str | None = None

    @property
    def record(self) -> InputRecord | None:
        """The lineage input record of the weights (None when no ref is known)."""
        return InputRecord(ref=self.ref, revision_sha=self.revision) if self.ref else None

    def describe(self) -> str:
        """One line for the card and the log."""
        if self.ref:
            return f"`{self.ref}` at `{self.revision or 'unknown'}` (from --model-ref)"
        root = f"; the endpoint reports root `{self.endpoint_root}`" if self.endpoint_root else ""
        return f"unknown revision{root} (pass --model-ref to record the weights and their revision)"

    def as_dict(self) -> dict[str, Any]:
        """JSON form for the lineage's evaluation record."""
        return {
            "name": self.name,
            "endpoint": self.endpoint,
            "ref": self.ref,
            "revision": self.revision or "unknown",
            "revision_source": self.revision_source,
            "endpoint_root": self.endpoint_root,
        }


def resolve_model_ref(text: str) -> InputRecord:
    """``--model-ref``: ``hf://ORG/NAME[@REV]`` (sha from the Hub), a local folder or ``embedded`` (fingerprint).

    Raises:
        ConfigError: a malformed ref. ArtifactError: a missing folder. InputError: a Hub ref that cannot be resolved.
    """
    from finr1_core import refs

    if text == EMBEDDED:
        from finr1_core.models import embedded_model_path

        # Only a lookup once finr1-serve has converted it (the usual order); the first call converts it.
        _, record = refs.resolve_model_ref(embedded_model_path())
        return InputRecord(ref=EMBEDDED, revision_sha=record.revision_sha)
    ref = parse_ref(text, "model")
    if ref.is_hub:
        return InputRecord(ref=ref.text, revision_sha=hub_revision(ref, fix="(--model-ref)"))
    return refs.resolve_model_ref(ref)[1]


def served_root(base_url: str, model: str, headers: Mapping[str, str]) -> str | None:
    """What ``GET {base_url}/models`` reports as ``root`` for ``model`` (vLLM: the path or Hub id it loaded)."""
    import httpx

    try:
        response = httpx.get(base_url.rstrip("/") + "/models", headers=dict(headers), timeout=15.0)
        entries = response.json().get("data") or []
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        logger.debug("GET %s/models: %s; the served root stays unknown", redact_text(base_url), type(exc).__name__)
        return None
    for entry in entries:
        if isinstance(entry, dict) and entry.get("id") == model and isinstance(entry.get("root"), str):
            return entry["root"]
    return None


def resolve_served_model(
    name: str, base_url: str | None, model_ref: str | None, headers: Mapping[str, str] | None
) -> ServedModel:
    """The served model's record: from ``--model-ref`` when given, else what the endpoint tells (or unknown)."""
    endpoint = redact_text(base_url or "")
    if model_ref:
        record = resolve_model_ref(model_ref)
        logger.info("model %s: weights %s at %s", name, record.ref, (record.revision_sha or "unknown")[:12])
        return ServedModel(name, endpoint, record.ref, record.revision_sha, "--model-ref")
    root = served_root(base_url, name, headers) if base_url and headers is not None else None
    logger.info("model %s: revision unknown%s (pass --model-ref to record it)", name, f", root {root}" if root else "")
    return ServedModel(name, endpoint, endpoint_root=root)
