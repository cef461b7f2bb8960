"""The one exception type users see.

Anything raised as `RaytrainError` is a problem with the user's input or environment (a bad YAML
key, a missing file, an unknown model). The CLI prints its message on one line and exits with
code 2, without a traceback. Everything else is a bug in raytrain and keeps its traceback.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable


class RaytrainError(Exception):
    """A user-facing error: the message must name the file, key or row that is wrong."""

    exit_code = 2


class PluginError(RaytrainError):
    """A problem with a plugin: its plugins.yaml entry, its config, the model it names, or a
    call the model cannot answer (`detect_edges` on a classifier). A `RaytrainError`, so the
    CLI prints it on one line; a plugin host catches this type alone."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest choice, or '' when nothing is close."""
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{matches[0]}'?)" if matches else ""


def failure_reason(error: BaseException) -> str:
    """The one line that says why a Ray Train run failed: the first failing worker's own
    exception message, without the traceback Ray puts into the error's text (for
    `WorkerGroupError`, `ControllerError`, or a `RayTaskError` wrapping the cause)."""
    failures = getattr(error, "worker_failures", None) or {}
    cause: BaseException = (
        failures[min(failures)] if failures else getattr(error, "controller_failure", None) or error
    )
    cause = getattr(cause, "cause", None) or cause  # RayTaskError -> the user's exception
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    last = lines[-1] if lines else type(cause).__name__
    return re.sub(r"^[A-Za-z_][\w.]*(Error|Exception): ", "", last)
