#!/usr/bin/env bash
# Build the example dbt mesh in dependency order: shop -> finance -> exec_reporting.
#
# Each project is built from its own directory with its project-local
# profiles.yml, because dbt-loom resolves dbt_loom.config.yml and the manifest
# paths in it against the working directory. All three projects write to one
# DuckDB file (MESHDIFF_EXAMPLES_DB, default /tmp/meshdiff_examples.duckdb).
#
# Usage: bash examples/build.sh [extra dbt args, e.g. --full-refresh]
# Set DBT to choose the dbt executable (default: dbt on PATH, else the repo .venv).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [[ -z "${DBT:-}" ]]; then
    if command -v dbt >/dev/null 2>&1; then
        DBT=dbt
    elif [[ -x "$here/../.venv/bin/dbt" ]]; then
        DBT="$here/../.venv/bin/dbt"
    else
        echo "build.sh: dbt not found; activate the meshdiff venv or set DBT=/path/to/dbt" >&2
        exit 127
    fi
fi

export MESHDIFF_EXAMPLES_DB="${MESHDIFF_EXAMPLES_DB:-/tmp/meshdiff_examples.duckdb}"
export DBT_SEND_ANONYMOUS_USAGE_STATS=false
# Use each project's own dbt_loom.config.yml (relative to the project dir).
unset DBT_LOOM_CONFIG

for project in shop finance exec_reporting; do
    echo "==> dbt build ${project}"
    start=$(date +%s)
    (
        cd "$here/$project"
        "$DBT" build --profiles-dir . --project-dir . "$@"
    )
    echo "==> ${project} built in $(( $(date +%s) - start ))s"
done
