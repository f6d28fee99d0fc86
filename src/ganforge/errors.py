"""User-facing errors.

Anything a user can cause (bad flag, missing data, corrupt file) raises a
``GanforgeError`` with a one-line message that says what is wrong and what to
do. The CLI prints that line and exits non-zero without a traceback.
"""

from __future__ import annotations

import difflib


class GanforgeError(Exception):
    """A problem with the user's input or environment, reported in one line."""

    exit_code = 2


class ConfigError(GanforgeError):
    """Unknown preset, unknown or ill-typed config key, out-of-range value."""


class DataError(GanforgeError):
    """Missing, corrupt or unreadable data."""


class CheckpointError(GanforgeError):
    """Missing, truncated or foreign checkpoint."""


def did_you_mean(name: str, choices) -> str:
    """Return ' (did you mean 'x'?)' for the closest choice, or a list of valid ones."""
    choices = sorted(choices)
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    if close:
        return f" (did you mean '{close[0]}'?)"
    if len(choices) <= 12:
        return f" (valid: {', '.join(choices)})"
    return ""
