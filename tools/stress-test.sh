#!/usr/bin/env bash
# Run the timing-prone tests again and again while CPU hogs keep every core busy; count passes.
#
#   tools/stress-test.sh [RUNS] [BUDGET_S]        (make test-stress RUNS=10 BUDGET_S=5400)
#
# A test that passes only on an idle machine is a broken test: this is how we find them. One
# busy loop per core runs for the whole run (as a learner's laptop or a shared CI runner would
# have), each target is run RUNS times, and the script stops starting new rounds once BUDGET_S
# seconds have passed. TARGETS (space-separated pytest paths) overrides the subset; HOGS the
# number of busy loops; PARALLEL=1 runs a round's targets side by side (each its own pytest
# process: more load still, and a round takes as long as its longest target). The report goes
# to stdout and build/stress-report.md; the exit code is non-zero when any run failed.
set -uo pipefail
cd "$(dirname "$0")/.."

RUNS=${1:-${RUNS:-10}}
BUDGET_S=${2:-${BUDGET_S:-5400}}
HOGS=${HOGS:-$(nproc)}
PY=${PY:-.venv/bin/python}
PARALLEL=${PARALLEL:-0}
DEFAULT_TARGETS="tests/notebooks/test_13_scaling_out.py tests/notebooks/test_08_stampede.py \
tests/notebooks/test_04_write_behind.py tests/test_cluster.py tests/test_stampede.py \
tests/test_stampede_lock.py tests/test_write_behind.py tests/test_invalidation_events.py \
tests/test_http.py tests/test_load.py"
read -r -a targets <<< "${TARGETS:-$DEFAULT_TARGETS}"

[ -x "$PY" ] || { echo "stress: no $PY; run 'make test-quick' (or make test) once first"; exit 2; }
mkdir -p build/stress
hogs=()
stop_hogs() { for p in "${hogs[@]}"; do kill "$p" 2>/dev/null; done; }
trap stop_hogs EXIT INT TERM
for _ in $(seq "$HOGS"); do
  # A pure busy loop that ends by itself after the budget, even if this script is killed.
  "$PY" -c "import time; end = time.monotonic() + $BUDGET_S + 900
while time.monotonic() < end: pass" &
  hogs+=($!)
done
echo "stress: $HOGS busy loops on $(nproc) cores; ${#targets[@]} targets x $RUNS runs; budget ${BUDGET_S}s"

declare -A passed ran secs
start=$(date +%s)
for round in $(seq "$RUNS"); do
  if (( $(date +%s) - start > BUDGET_S )); then
    echo "stress: budget of ${BUDGET_S}s used up after $((round - 1)) rounds"; break
  fi
  pids=()
  t0=$(date +%s)
  for t in "${targets[@]}"; do
    log="build/stress/$(basename "$t" .py).${round}.log"
    run_one=(env CACHELAB_FAST=1 timeout 1200 "$PY" -m pytest -q -p no:cacheprovider "$t")
    if [ "$PARALLEL" = 1 ]; then
      ( "${run_one[@]}" > "$log" 2>&1; echo $? > "$log.rc"; echo $(( $(date +%s) - t0 )) > "$log.s" ) &
      pids+=($!)
    else
      "${run_one[@]}" > "$log" 2>&1; echo $? > "$log.rc"; echo $(( $(date +%s) - t0 )) > "$log.s"
      t0=$(date +%s)
    fi
  done
  for p in "${pids[@]}"; do wait "$p"; done
  for t in "${targets[@]}"; do
    log="build/stress/$(basename "$t" .py).${round}.log"
    if [ "$(cat "$log.rc")" = 0 ]; then
      passed[$t]=$(( ${passed[$t]:-0} + 1 )); verdict=pass
    else
      verdict="FAIL (see $log)"
    fi
    ran[$t]=$(( ${ran[$t]:-0} + 1 ))
    secs[$t]=$(( ${secs[$t]:-0} + $(cat "$log.s") ))
    echo "round $round  $(basename "$t" .py): $verdict  ($(cat "$log.s")s)"
  done
done

{
  echo "# Stress report: $(date -u +%Y-%m-%dT%H:%MZ), $HOGS busy loops on $(nproc) cores"
  echo
  echo "| target | passed / runs | mean s per run |"
  echo "|---|---|---|"
  for t in "${targets[@]}"; do
    r=${ran[$t]:-0}
    echo "| $t | ${passed[$t]:-0} / $r | $(( r > 0 ? ${secs[$t]:-0} / r : 0 )) |"
  done
  echo
  echo "Total $(( $(date +%s) - start )) s. Logs of every run: build/stress/."
} | tee build/stress-report.md

for t in "${targets[@]}"; do
  [ "${passed[$t]:-0}" = "${ran[$t]:-0}" ] || exit 1
done
