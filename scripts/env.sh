# Sourced by scripts/*.sh: creates or reuses .venv with everything installed, and sets an offline-safe env.
# Re-installs only when pyproject.toml or the constraints change (a stamp file holds their hash).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${UGE_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"
TORCH_SPEC="${UGE_TORCH_SPEC:-torch==2.13.0}"

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating virtual environment in $VENV"
  "$PY" -m venv "$VENV"
fi
stamp="$VENV/.ug-install-stamp"
want="$(cat "$ROOT/pyproject.toml" "$ROOT/scripts/constraints.txt" | sha256sum | cut -c1-16)-$TORCH_SPEC"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[setup] installing $TORCH_SPEC first (CPU build where one is on disk), then the project"
  "$VENV/bin/python" -m pip install -q --upgrade pip 2>&1 | grep -v "is ignored" || true
  "$VENV/bin/python" -m pip install -q "$TORCH_SPEC" 2>&1 | grep -v "is ignored" || true
  "$VENV/bin/python" -m pip install -q -c "$ROOT/scripts/constraints.txt" -e "$ROOT[test]" 2>&1 | grep -v "is ignored" || true
  "$VENV/bin/python" -c "import torch, ugdata, uge, ugbench" 
  echo "$want" > "$stamp"
fi
export PATH="$VENV/bin:$PATH"
export HF_HOME="${HF_HOME:-$ROOT/.cache/huggingface}"
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
export TRANSFORMERS_OFFLINE="${TRANSFORMERS_OFFLINE:-1}"
export HF_DATASETS_OFFLINE="${HF_DATASETS_OFFLINE:-1}"
export WANDB_MODE="${WANDB_MODE:-offline}"
export TOKENIZERS_PARALLELISM=false
export PYTHONHASHSEED=0
