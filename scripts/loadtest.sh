#!/usr/bin/env bash
# The load run of docs/PERFORMANCE.md: builds rolegate as the Dockerfile
# does (static, CGO off, stripped) and runs scripts/loadtest against it on
# loopback. Bounded: each phase lasts -duration (default 10s, at most 60s);
# the whole run takes about two minutes plus seeding the audit trail.
#
#   scripts/loadtest.sh                      # the full run, 1,000,000 audit events
#   scripts/loadtest.sh -events 100000 -duration 5s
#   scripts/loadtest.sh -h                   # every knob
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d "${TMPDIR:-/tmp}/rolegate-load-XXXXXX")
trap 'rm -rf "$work"' EXIT

CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$work/rolegate" ./cmd/rolegate
# The load generator is a module of its own (scripts/loadtest/go.mod).
(cd scripts/loadtest && go build -o "$work/loadtest" .)
"$work/loadtest" -bin "$work/rolegate" -dir "$work" "$@"
