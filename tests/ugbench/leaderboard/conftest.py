"""Make `import ugbench` / `import ugdata` resolve to the real packages under a plain `pytest` run.

pytest puts tests/ on sys.path (for tests/conftest.py), and tests/ugbench, tests/ugdata, tests/uge are
folders without __init__.py: with the editable install's import hook (consulted after sys.path) they
would be imported as empty namespace packages. `python -m pytest` from the repository root avoids this by
putting the root first; this does the same for `pytest tests/leaderboard`.
"""

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[3])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
