#!/usr/bin/env bash
# The load run of docs/PERFORMANCE.md: builds rolegate as the Dockerfile
# does (static, CGO off, stripped) and runs scripts/loadtest against it on
# loopback. Bounded: each phase lasts -duration (default 10s, at most 60s);
# the whole run takes about two minutes plus seeding the audit trail.
#
#   scripts/loadtest.sh                      # the full run, 1,000,000 audit events
#   scripts/loadtest.sh -events 100000 -duration 5s
#   scripts/loadtest.sh -ratios              # issue 20: rolegate vs its stack's ceiling, A/B/A/B (about 2 minutes)
#   scripts/loadtest.sh -ratios -duration 5s -approvals 250
#   scripts/loadtest.sh -ratios -postgres    # the same on a throwaway PostgreSQL cluster (durable settings)
#   scripts/loadtest.sh -h                   # every knob
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d "${TMPDIR:-/tmp}/rolegate-load-XXXXXX")
trap 'rm -rf "$work"' EXIT

CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$work/rolegate" ./cmd/rolegate
# The load generator is a module of its own (scripts/loadtest/go.mod).
(cd scripts/loadtest && go build -o "$work/loadtest" .)
# The ceilings of -ratios: a bare Echo hello and raw durable commits. They
# must use the product's Echo and database drivers, or the ratio means nothing.
for m in github.com/labstack/echo/v4 modernc.org/sqlite github.com/jackc/pgx/v5; do
  product=$(go list -m -f '{{.Version}}' "$m")
  ours=$(cd scripts/loadtest && go list -m -f '{{.Version}}' "$m")
  if [ "$product" != "$ours" ]; then
    echo "loadtest.sh: $m is $product in go.mod but $ours in scripts/loadtest/go.mod; align them" >&2
    exit 1
  fi
done
(cd scripts/loadtest && go build -trimpath -ldflags="-s -w" -o "$work/hello" ./ceiling/hello \
  && go build -trimpath -ldflags="-s -w" -o "$work/rawcommit" ./ceiling/rawcommit)
"$work/loadtest" -bin "$work/rolegate" -hello "$work/hello" -rawcommit "$work/rawcommit" -dir "$work" "$@"
