"""docs/bad-input.md cannot drift from the tests: every row cites a test (file::function) that exists, and
the table keeps at least 30 distinct bad-input cases."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "bad-input.md"
CITE = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")


def _rows() -> list[list[str]]:
    rows = []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if not line.startswith("| ") or line.startswith("| input |"):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        rows.append(cells)
    return rows


def _functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}


def test_every_cited_test_exists_and_the_table_is_full():
    rows = _rows()
    inputs = [r[0] for r in rows]
    assert len(rows) >= 30 and len(set(inputs)) == len(inputs), "at least 30 distinct inputs, none twice"
    for cells in rows:
        assert len(cells) == 3 and all(cells), cells
        m = CITE.fullmatch(cells[2])
        assert m, f"{cells[0]}: the test column must be `tests/FILE.py::test_name`, got {cells[2]}"
        path, name = ROOT / m.group(1), m.group(2)
        assert path.is_file(), f"{cells[0]}: {m.group(1)} does not exist"
        assert name.startswith("test_") and name in _functions(path), f"{cells[0]}: no {name} in {m.group(1)}"
