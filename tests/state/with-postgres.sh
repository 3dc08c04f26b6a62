#!/usr/bin/env bash
# with-postgres.sh COMMAND...: runs COMMAND with the state on a real
# PostgreSQL server (tests/harness/postgres.sh), started for it in a private
# directory and stopped after. COMMAND finds the server in libpq's PG*
# environment, and:
#   INFRA_TEST_STATE_BACKEND=postgres   for the state unit tests (state_test.h)
#   INFRA_TEST_BACKEND_YAML             a backend block for scenario topologies
#                                       (its schema changes with INFRA_TEST_STATE_ID)
# Exits 77 (skip) only when no PostgreSQL server is installed; CI has it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { echo "SKIP: no PostgreSQL server"; exit 77; }
dir=$(mktemp -d /tmp/infra-pg-XXXXXX)
trap '"$here/../harness/postgres.sh" stop "$dir"' EXIT
"$here/../harness/postgres.sh" start "$dir"
set -a
# shellcheck disable=SC1091
. "$dir/env"
set +a
export INFRA_TEST_STATE_BACKEND=postgres
export INFRA_TEST_BACKEND_YAML='backend: { type: postgres, schema_name: "t_${env.INFRA_TEST_STATE_ID:-0}" }'
set +e
"$@"
status=$?
set -e
exit $status
