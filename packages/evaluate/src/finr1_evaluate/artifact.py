"""The evaluation artifact: per-benchmark sample splits, a card with the results table, and ``lineage.json``.

Written like every other stage's output (ARCHITECTURE.md, "Artifacts") through :class:`finr1_core.stage.Stage`
to a local folder or ``hf://datasets/ORG/NAME[@BRANCH]``::

    data/<benchmark>-00000-of-00001.parquet   one split per benchmark: finr1_core.schemas.EvalSample rows
    README.md                                 card: YAML front matter, the Fin-R1 results table, provenance
    lineage.json                              tool, effective config, inputs with revisions, counts, and
                                              ``evaluation``: the results with the served model and sampled ids

so ``datasets.load_dataset(DIR_OR_REPO, split="finqa")`` reads one benchmark's samples and
``finr1-evaluate report`` reads the results back from either place. Until the run finishes, the response and
judge caches live in the output's work dir (:func:`finr1_core.refs.work_dir`); a run that fails leaves them
there and writes no lineage.

The ``evaluation`` block holds what ``results.json`` held in finr1-evaluate 0.1 (per-benchmark scores, counts,
``sampled_ids``, data refs and revisions, the served model, the judge). ``results.json``, ``results.md`` and
``results.png`` are no longer files of the output: core's writer publishes exactly the data, the card and the
lineage in one atomic step (one commit on the Hub), the card carries ``results.md``'s tables, and
``finr1-evaluate report ARTIFACT... --output DIR`` draws ``results.png`` (and writes ``results.md``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from finr1_core.errors import ArtifactError, InputError
from finr1_core.lineage import LINEAGE_FILENAME, InputRecord, Lineage, OutputRecord, redact
from finr1_core.refs import Ref, hub_endpoint, parse_ref
from finr1_core.schemas import EvalSample

logger = logging.getLogger(__name__)

TOOL = "finr1-evaluate"

#: Config keys that do not change what an evaluation is (how it runs, not what it computes): a complete output
#: re-run with other values for these is still "the same". The rest of the config, and the inputs' revisions,
#: must match. (finr1_core.stage.OPERATIONAL_KEYS covers endpoints, concurrency and budgets.)
_NOT_COMPARED = frozenset({"output", "force", "rescore", "min_usable"})


class EvalLineage(Lineage):
    """finr1's lineage plus the evaluation record (redacted like the config)."""

    evaluation: dict[str, Any] = Field(default_factory=dict)

    @field_validator("evaluation", mode="before")
    @classmethod
    def _redact_evaluation(cls, value: Any) -> dict[str, Any]:
        return redact_record(value or {})


def redact_record(value: Any) -> Any:
    """Remove credentials from an evaluation record: secret-named keys, and secrets inside strings.

    Unlike :func:`finr1_core.lineage.redact` (for configs) a whole string is never replaced because it looks
    random: item ids (a dataset's 32-hex ids, say) are data that ``--ids-from`` must read back unchanged. URL
    passwords, secret environment values and known token shapes are still removed wherever they occur.
    """
    from finr1_core.lineage import is_secret_key, redact_text

    if isinstance(value, Mapping):
        return {str(k): redact_record(v) for k, v in value.items() if not is_secret_key(str(k))}
    if isinstance(value, list | tuple):
        return [redact_record(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


# --- reading --------------------------------------------------------------------------------------------


def read_evaluation(text: str | Path) -> tuple[EvalLineage, InputRecord] | None:
    """The lineage of a complete evaluation artifact and the revision read; None when absent or unfinished.

    Raises:
        ConfigError: a malformed ref. ArtifactError: a lineage that is not finr1-evaluate's. InputError: a Hub
            ref that cannot be resolved.
    """
    ref = parse_ref(str(text), "dataset")
    if ref.is_local:
        assert ref.path is not None
        path = ref.path / LINEAGE_FILENAME
        if not path.is_file():
            return None
        data = path.read_bytes()
        # The fingerprint finr1_core.refs records for a folder finr1 wrote: the sha1 of its lineage.json.
        record = InputRecord(ref=ref.text, revision_sha=hashlib.sha1(data).hexdigest())
    else:
        fetched = _hub_lineage(ref)
        if fetched is None:
            return None
        data, record = fetched
    try:
        lineage = EvalLineage.model_validate_json(data)
    except ValueError:
        raise ArtifactError(f"{ref}: {LINEAGE_FILENAME} is not a finr1 lineage") from None
    if lineage.tool != TOOL or not lineage.evaluation:
        raise ArtifactError(f"{ref}: written by {lineage.tool}, not an evaluation artifact of {TOOL}")
    return lineage, record


def _hub_lineage(ref: Ref) -> tuple[bytes, InputRecord] | None:
    from huggingface_hub import errors as hf_errors
    from huggingface_hub import hf_hub_download

    from finr1_evaluate.inputs import hub_revision

    try:
        sha = hub_revision(ref)
    except InputError:
        if _repo_or_branch_missing(ref):
            return None  # nothing written there yet
        raise
    try:
        local = hf_hub_download(
            ref.repo_id or "", LINEAGE_FILENAME, repo_type="dataset", revision=sha, endpoint=hub_endpoint()
        )
    except hf_errors.EntryNotFoundError:
        return None  # the branch exists but holds no finished evaluation
    except Exception as exc:  # connection and HTTP errors: one line
        raise ArtifactError(f"{ref}: cannot read {LINEAGE_FILENAME} ({type(exc).__name__})") from None
    return Path(local).read_bytes(), InputRecord(ref=ref.text, revision_sha=sha)


def _repo_or_branch_missing(ref: Ref) -> bool:
    from huggingface_hub import HfApi
    from huggingface_hub import errors as hf_errors

    try:
        HfApi(endpoint=hub_endpoint()).repo_info(ref.repo_id or "", repo_type="dataset", revision=ref.revision)
    except (hf_errors.RepositoryNotFoundError, hf_errors.RevisionNotFoundError):
        return True
    except Exception:  # unreachable Hub: not "missing"; the caller re-raises its one-line error
        return False
    return False


def read_samples(ref: str, benchmark: str) -> list[EvalSample]:
    """The sample rows of one benchmark split of an evaluation artifact.

    Raises:
        ArtifactError: the split does not exist or cannot be read.
    """
    from finr1_core.refs import load_dataset_ref

    data, _ = load_dataset_ref(ref, split=benchmark)
    return [EvalSample.from_row(dict(row)) for row in data]  # type: ignore[arg-type]  (a split yields row dicts)


# --- is the output already complete? ---------------------------------------------------------------------


def _comparable(value: Any) -> Any:
    from finr1_core.stage import OPERATIONAL_KEYS

    if isinstance(value, Mapping):
        return {k: _comparable(v) for k, v in value.items() if k not in OPERATIONAL_KEYS and k not in _NOT_COMPARED}
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    return value


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping) and value:
        out: dict[str, Any] = {}
        for key, child in value.items():
            out.update(_flatten(child, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): value}


def differences(lineage: Lineage, config: Any, inputs: Sequence[InputRecord]) -> list[str]:
    """What differs between a complete output and this run: config keys (dotted) and input revisions."""
    before = _flatten(_comparable(lineage.config))
    now = _flatten(_comparable(redact(config)))
    keys = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
    old = {r.ref: r.revision_sha for r in lineage.inputs}
    for record in inputs:
        if record.ref in old and old[record.ref] != record.revision_sha:
            keys.append(f"input {record.ref} (revision {str(old[record.ref])[:12]} → {str(record.revision_sha)[:12]})")
        elif record.ref not in old:
            keys.append(f"input {record.ref} (not an input of the complete output)")
    return keys


# --- writing ------------------------------------------------------------------------------------------


def samples_dataset(samples: Sequence[EvalSample]) -> Any:
    """One benchmark's samples as a ``datasets.Dataset`` with the EvalSample features."""
    from datasets import Dataset

    return Dataset.from_list([s.to_row() for s in samples], features=EvalSample.features())


def write_artifact(
    stage: Any, samples: Mapping[str, Sequence[EvalSample]], evaluation: Mapping[str, Any], card_body: str
) -> OutputRecord:
    """Write the splits, the card and the lineage (with ``evaluation``) through ``stage``; the run is complete."""
    stage.lineage.evaluation = dict(evaluation)
    splits = {name: samples_dataset(rows) for name, rows in samples.items()}
    return stage.write(splits, card_body=card_body)


def lineage_json(lineage: Lineage) -> dict[str, Any]:
    """The lineage as the JSON object written to ``lineage.json`` (for tests and ``report``)."""
    return json.loads(lineage.to_json())
