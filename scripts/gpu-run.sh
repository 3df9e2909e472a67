#!/usr/bin/env bash
# On a lent GPU machine (Python 3.12 with torch, no package registry), from the checkout's root:
#
#   bash scripts/gpu-run.sh stage                  install the carried wheels, keep the carried data
#   bash scripts/gpu-run.sh run CHAPTER            stage, check, run CHAPTER at short scale, pack to $OUT
#   bash scripts/gpu-run.sh run CHAPTER --dry-run  say what it would do, do nothing
#
# What to carry in each call comes from `reprobook gpu plan CHAPTER` (here); CONTRIBUTING.md has
# the whole sequence. Everything staged lives in $REPROBOOK_STAGE (default /root/reprobook-stage),
# outside the checkout, so it survives between back-to-back calls on a warm machine.
set -euo pipefail
cd "$(dirname "$0")/.."

STAGE="${REPROBOOK_STAGE:-/root/reprobook-stage}"
SEED="${SEED:-0}"
DRY=""

usage() {
  echo "usage: bash scripts/gpu-run.sh stage | run CHAPTER [--dry-run]" >&2
  exit 2
}

say() { echo "gpu-run: $*"; }

act() {  # run a command, or print it under --dry-run
  if [ -n "$DRY" ]; then echo "  would run: $*"; else "$@"; fi
}

stage() {
  act mkdir -p "$STAGE/data" "$STAGE/site"
  if compgen -G ".gpu/wheels/*.whl" >/dev/null; then
    say "installing $(ls .gpu/wheels/*.whl | wc -l) wheels into $STAGE/site"
    act python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target "$STAGE/site" .gpu/wheels/*.whl
  fi
  if [ -d .gpu/data ]; then
    say "keeping $(find .gpu/data -type f | wc -l) data files in $STAGE/data"
    act cp -r .gpu/data/. "$STAGE/data/"
  fi
}

[ $# -ge 1 ] || usage
command="$1"; shift
case "$command" in
  stage)
    [ $# -eq 0 ] || { [ "$1" = "--dry-run" ] && DRY=1; } || usage
    stage
    ;;
  run)
    [ $# -ge 1 ] || usage
    chapter="$1"; shift
    [ $# -eq 0 ] || { [ "$1" = "--dry-run" ] && DRY=1; } || usage
    [ -n "$DRY" ] || [ -n "${OUT:-}" ] || { echo "gpu-run: \$OUT is not set (the device tool sets it)" >&2; exit 2; }
    [ -d "book/$chapter" ] || { echo "gpu-run: no chapter book/$chapter; chapters: $(ls book | grep -E '^[0-9]{2}-' | tr '\n' ' ')" >&2; exit 2; }
    stage
    export PYTHONPATH="$STAGE/site:$PWD/lib" PATH="$STAGE/site/bin:$PATH" PYTHONUNBUFFERED=1
    export REPROBOOK_DATA="$STAGE/data" REPROBOOK_DOWNLOAD=0
    act python3 -m reprobook.cli gpu check "$chapter" --data "$STAGE/data"
    act python3 -m ipykernel install --user --name python3
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | sed 's/^/gpu-run: device: /' || true
    start=$(date +%s)
    status=0
    act python3 -m reprobook.cli run "$chapter" --scale short --seed "$SEED" --device cuda || status=$?
    say "reprobook run took $(( $(date +%s) - start )) s (exit $status)"
    # records, figures and executed notebooks in one archive ($OUT returns at most 8 files)
    act tar czf "${OUT:-/tmp}/results-$chapter.tar.gz" --ignore-failed-read "results/$chapter" "runs/$chapter"
    exit $status
    ;;
  *)
    usage
    ;;
esac
