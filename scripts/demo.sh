#!/usr/bin/env bash
# The main job: set up (or reuse) the environment, then run the whole pipeline on the embedded city, offline.
# Extra args go to scripts/demo.py (e.g. --profile quick, --out DIR, --fresh; --help lists them).
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
export UG_CACHE="${UG_CACHE:-$ROOT/.cache/urban-graph-embeddings}"
exec python scripts/demo.py "$@"
