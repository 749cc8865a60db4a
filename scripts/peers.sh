#!/usr/bin/env bash
# Installs the peers that benchmarks compare against into a Python venv under
# target/ (nothing outside the repository): DuckDB's command-line shell
# (pip package duckdb-cli) for ttlog-bench's fleet benchmark.
#
#   scripts/peers.sh          # creates target/venv and installs duckdb-cli
#
# Prints one line and exits 0 when Python or the package index is not
# reachable: the benchmarks then skip their peer columns.
set -u
cd "$(dirname "$0")/.."
venv=target/venv
if ! command -v python3 >/dev/null 2>&1; then
    echo "peers: skipped, no python3 on PATH"
    exit 0
fi
if [ ! -x "$venv/bin/pip" ]; then
    python3 -m venv "$venv" >/dev/null 2>&1 || { echo "peers: skipped, cannot create $venv"; exit 0; }
fi
if "$venv/bin/pip" install --quiet --disable-pip-version-check duckdb-cli >/dev/null 2>&1; then
    echo "peers: $("$venv/bin/duckdb" --version) at $venv/bin/duckdb"
else
    echo "peers: skipped, pip could not install duckdb-cli"
fi
