#!/usr/bin/env bash
# Every benchmark, then the tables of RESULTS.md rewritten from their results.
# The scripts one by one took 8.2 minutes on 2 cores with the phantom cache
# ($TMPDIR/seganypet-bench-series) in place; writing the cache comes on top.
# Needs the test set-up (dcmtk, orthanc, .venv with the [test,bench] extras).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
started=$(date +%s)
step() { echo "== $* ($(( $(date +%s) - started )) s)" >&2; "$PY" "$@"; }
step benchmarks/model_bench.py --rounds 3 --repeats 2 --threads 2 --device cpu
step benchmarks/pipeline_bench.py --runs 3 --threads 2
step benchmarks/ingest.py --rounds 3
step benchmarks/e2e.py --runs 3 --studies 10
step benchmarks/scaling.py --runs 1
step benchmarks/update_results.py
echo "== all benchmarks done in $(( $(date +%s) - started )) s" >&2
