"""Reading the leaderboard's JSON files (leaderboard, benchmark declaration) with one-line errors.

Both files are edited by hand and restored from git, so every defect (missing, oversized, not JSON, not
the schema) is a UserError naming the file, the first offending location and the fix, never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from ugcore.errors import UserError

M = TypeVar("M", bound=BaseModel)


def first_error(e: ValidationError) -> tuple[str, str]:
    """(dotted location, message) of a validation error's first problem; "(top level)" for the root."""
    first = e.errors()[0]
    return ".".join(str(x) for x in first["loc"]) or "(top level)", first["msg"]


def load_json_model(path: str | Path, model: type[M], *, what: str, missing: str, schema_error: str,
                    fix: str, max_bytes: int | None = None) -> M:
    """Parse `path` as JSON and validate it as `model`.

    what: how the file is named in messages ("leaderboard"); missing: the advice after "<what> <path> not
    found; "; schema_error: the message after "<what> <path> ", formatted with {loc}, {msg} and {count};
    fix: the advice after a JSON error ("restore it from git").
    """
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{what} {p} not found; {missing}")
    if max_bytes is not None:
        size = p.stat().st_size
        if size > max_bytes:
            raise UserError(f"{what} {p} is {size / 1e6:.0f} MB, over the {max_bytes / 1e6:.0f} MB limit; it is "
                            f"not a {what} file")
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{what} {p} is not valid JSON ({e}); {fix}") from e
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        loc, msg = first_error(e)
        raise UserError(f"{what} {p} " + schema_error.format(loc=loc, msg=msg, count=e.error_count())) from e
