#!/usr/bin/env bash
# Set up (or reuse) the environment and run the whole test suite. Extra args go to pytest.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  # The leaderboard page is tested in a real headless browser (Debian's chromium + chromedriver).
  (apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null) || echo "[setup] could not install chromium"
fi
exec python -m pytest -q "$@"
