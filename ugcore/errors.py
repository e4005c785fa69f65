"""User-facing errors: a CLI prints these as one line (no traceback) and exits non-zero."""

from __future__ import annotations


class UserError(Exception):
    """A mistake in the user's input (a path, a flag, a row). The message names the thing and the fix."""

    exit_code = 2


class DataError(UserError):
    """Input data that cannot be used as given (corrupt file, missing columns, no usable rows)."""
