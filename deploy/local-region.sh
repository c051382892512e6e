#!/bin/sh
# Start a local region on loopback: a federation node and several neighbourhood nodes, each
# with its web and worker processes, on embedded defaults (SQLite, no Redis). Ctrl-C stops all.
#
#   deploy/local-region.sh                                  # 3 neighbourhoods, ports 5000-5003
#   deploy/local-region.sh --neighbourhoods 6 --dir ./region --base-port 6000
#
# Options are those of `mutualaid demo` (see `mutualaid demo --help`).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
if [ -x "$here/.venv/bin/mutualaid" ]; then
    exec "$here/.venv/bin/mutualaid" demo "$@"
fi
exec mutualaid demo "$@"
