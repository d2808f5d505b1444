#!/usr/bin/env bash
# A rolling upgrade and its rollback, tried for real: builds FROM (an earlier commit or tag) in a git
# worktree beside this one (.build/upgrade/FROM) and this tree, both with the Dockerfile's command,
# then runs the chaos soak's system (2 receivers, 2 actions workers, 2 warehouse workers, Redis,
# PostgreSQL, a Track API stand-in) on FROM's binary under load, replaces each process by this
# tree's binary one at a time, then rolls each back. Every event answered 200 must end as exactly
# one warehouse row with the state its events give, nothing pending, dead letters only of the
# reasons explained (IntegrationTests/chaos.py). Not part of the test command: it builds twice.
#   scripts/upgrade-test.sh FROM [FIXTURE]
#     FIXTURE  where to write raw Redis entries of FROM's layout (Tests/EventQueueTests/Fixtures)
#   UPGRADE_SECONDS  seconds of load (default 60); CHAOS_RATE events per second (default 150)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
from=${1:?usage: scripts/upgrade-test.sh FROM_COMMIT [FIXTURE]}
fixture=${2:-}
ensure_packages git

commit=$(git rev-parse --verify "$from^{commit}")
tree=".build/upgrade/$from"
if [ ! -d "$tree" ]; then
  git worktree add --detach "$tree" "$commit" >&2
fi
echo "==> building $from ($commit) in $tree" >&2
old=$(cd "$tree" && build_release)
echo "==> building this tree" >&2
new=$(build_release)
echo "upgrade: from $("$old" --version) to $("$new" --version)"

CHAOS_SECONDS=${UPGRADE_SECONDS:-60} IntegrationTests/chaos.sh "$old" --upgrade-to "$new" ${fixture:+--capture-layout "$(realpath -m "$fixture")"}
