"""Expected runtime failures, shown to users as one line (exit 1).

Bugs keep their traceback; everything a user can fix by changing input, configuration or
environment raises one of these with a message that names the file, field or value and the fix.
"""

from __future__ import annotations


class Finr1Error(Exception):
    """Base class: an expected failure with a one-line, user-facing message."""

    exit_code = 1


class ConfigError(Finr1Error):
    """A configuration file, key or value is wrong (names the file, the key and the expected type)."""


class InputError(Finr1Error):
    """An input file, row or column is missing or malformed (names the location)."""


class ArtifactError(Finr1Error):
    """A dataset or model reference cannot be read or written."""


class EndpointError(Finr1Error):
    """An OpenAI-compatible endpoint is unreachable, refuses the key, or answers nonsense at start."""


class MissingDependencyError(Finr1Error):
    """An optional dependency (extra) is not installed; the message names the pip command."""


class AuthError(EndpointError):
    """The endpoint refused the credentials (HTTP 401, 402 or 403): the run stops at once.

    Every further request would be refused the same way (a revoked key, an empty balance, a key
    without access to the model), so retrying or recording one failure per item only burns time.
    The message names the endpoint (URL without credentials) and the variable holding the key.
    """


class TooFewUsableError(Finr1Error):
    """A stage's share of usable results fell below its ``min_usable`` threshold: the run failed.

    Raised before the stage writes its output, so no complete lineage exists; the resume state
    (every result already paid for) stays in the work dir, and a fixed re-run continues from it.
    """
