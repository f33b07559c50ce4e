"""Two rules that keep a failed run from reading as a result (issue 14, "False success").

- An authentication or permission error (HTTP 401, 402, 403) stops the run at once with one line naming the
  endpoint and the variable that holds its key: every further request would fail the same way and, on a
  paid API, a revoked key is not fixed by retrying. What finished is in the work dir.
- A benchmark whose share of usable generations (or, where the judge ran, of usable verdicts) is below
  ``min_usable`` fails the run before anything is written: no lineage, so the output is not complete, and
  the pipeline does not skip it next time; the caches stay, so a fixed re-run pays only for what is missing.

The auth stop is a runner ``on_result`` callback; the endpoints work in core (issue 12, "One judge loop")
brings the same two helpers to every stage, and these are meant to be swapped for them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from finr1_core.errors import EndpointError, Finr1Error
from finr1_core.lineage import redact_text

AUTH_STATUSES = (401, 402, 403)
_STATUS = re.compile(r"^HTTP (\d{3})\b")


class UnusableRunError(Finr1Error):
    """A benchmark produced too few usable results; nothing was written and the caches are kept."""


def auth_status(error: str | None) -> int | None:
    """The status of a runner error line when it is an authentication or permission error."""
    match = _STATUS.match(error or "")
    status = int(match.group(1)) if match else None
    return status if status in AUTH_STATUSES else None


def stop_on_auth_error(base_url: str, api_key_env: str | None, flag: str) -> Callable[[Any], None]:
    """An ``on_result`` callback that stops the run at the first 401/402/403 with one line.

    Args:
        base_url: The endpoint (redacted in the message).
        api_key_env: The variable holding its key, or None when no key is sent.
        flag: The option that names the variable (``--api-key-env`` or ``--judge-api-key-env``).
    """

    def check(result: Any) -> None:
        status = auth_status(result.error)
        if status is None:
            return
        url = redact_text(base_url)
        if api_key_env:
            fix = f"the key in ${api_key_env} ({flag}) is wrong, revoked or out of credit: export a valid one"
        else:
            fix = f"it needs a key: export it and name the variable with {flag}"
        raise EndpointError(
            f"{url} refused a request with HTTP {status}; stopped at once: {fix}, then run the same command "
            "again (finished calls are kept)"
        )

    return check


def check_share(benchmark: str, what: str, usable: int, total: int, minimum: float, details: str, resume: str) -> None:
    """Fail (one line) when ``usable / total`` is below ``minimum``; nothing usable fails unless ``minimum`` is 0.

    Raises:
        UnusableRunError: the share is too low.
    """
    if total == 0:
        return
    share = usable / total
    if share >= minimum and (usable > 0 or minimum == 0):
        return
    raise UnusableRunError(
        f"{benchmark}: only {usable} of {total} {what} are usable ({share:.0%}, below min_usable.{what} "
        f"{minimum:.0%}){details}; nothing was written. {resume}"
    )
