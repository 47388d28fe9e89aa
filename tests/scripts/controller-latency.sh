#!/usr/bin/env bash
# Measures the controller in its embedded mode against a git daemon on loopback:
#   - time from a ShopSet change (a file write) to its commit pushed, read with ls-remote;
#   - the work of a no-op resync (reconcile duration from /metrics).
# Usage: tests/scripts/controller-latency.sh N   (N ShopSets over three tiers; default 10)
# Uses target/debug binaries (cargo build -p shopctl -p shopset-controller first; BIN=target/release
# for release ones). DEBOUNCE_MS and DIR_POLL_MS set the controller's flags (default: its
# defaults); ROUNDS changes are measured (default 5), GAP s apart (default 3), then the median and
# p95; then a restart is timed.
set -euo pipefail
N=${1:-10}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BIN:-$ROOT/target/debug}
W=$(mktemp -d /tmp/shopset-latency.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; cp "$W/log" /tmp/shopset-latency.log 2>/dev/null; rm -rf "$W"' EXIT
"$BIN/shopctl" quickstart --dir "$W/qs" >/dev/null
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
git daemon --reuseaddr --base-path="$W/qs" --export-all --enable=receive-pack \
  --listen=127.0.0.1 --port="$PORT" "$W/qs" >/dev/null 2>&1 &
sleep 0.5
RES="$W/qs/resources"
sed -i "s#file://$W/qs/system.git#git://127.0.0.1:$PORT/system.git#" "$RES/tiers.yaml"
sed -i "s/capacity: 50/capacity: 100000/" "$RES/failure-domains.yaml"
# QUIET=1: without the example's shop that waits for room in its pool (a problem, which keeps
# every plan whole and every tier unsettled).
if [ -n "${QUIET:-}" ]; then
  python3 - "$RES/shops.yaml" <<'PY'
import sys
p = sys.argv[1]
docs = open(p).read().split("\n---\n")
open(p, "w").write("\n---\n".join(d for d in docs if "name: zenith-furniture\n" not in d))
PY
fi
python3 - "$RES/many.yaml" "$N" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    for i in range(n):
        f.write(f"---\napiVersion: shopset.dev/v1alpha1\nkind: ShopSet\nmetadata:\n  name: s{i:06d}\n"
                f"spec:\n  tier: tier-{i % 3}\n  configuration: standard\n")
PY
HTTP=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
RUST_LOG=${RUST_LOG:-info} "$BIN/shopset-controller" --resources-dir "$RES" --cache-dir "$W/cache" --listen "127.0.0.1:$HTTP" \
  ${DEBOUNCE_MS:+--debounce-ms $DEBOUNCE_MS} ${DIR_POLL_MS:+--dir-poll-ms $DIR_POLL_MS} --poll-seconds 2 2>"$W/log" &
CONTROLLER=$!
remote_tip() { git ls-remote "git://127.0.0.1:$PORT/system.git" refs/heads/tier-0 | cut -f1; }
start=$(date +%s.%N)
until curl -fs "127.0.0.1:$HTTP/readyz" >/dev/null 2>&1; do sleep 0.05; done
echo "N=$N: first batch (cold, 3 tiers) done after $(echo "$(date +%s.%N) - $start" | bc) s"
sleep 3
# One ShopSet of tier-0 changes (a value override), ROUNDS times.
for round in $(seq 1 "${ROUNDS:-5}"); do
  before=$(remote_tip)
  python3 - "$RES/many.yaml" "$round" <<'PY'
import sys
p, r = sys.argv[1], int(sys.argv[2]); s = open(p).read()
if r == 1:
    head = "name: s000000\nspec:\n"
    s = s.replace(head, head + '  overrides:\n    values:\n      CHANGED: "1"\n', 1)
else:
    s = s.replace('CHANGED: "%d"' % (r - 1), 'CHANGED: "%d"' % r, 1)
open(p, "w").write(s)
PY
  t0=$(date +%s.%N)
  while [ "$(remote_tip)" = "$before" ]; do sleep 0.01; done
  t1=$(date +%s.%N)
  took=$(echo "$t1 - $t0" | bc)
  echo "$took" >> "$W/took"
  echo "N=$N: one ShopSet changed -> commit pushed: $took s (debounce ${DEBOUNCE_MS:-default} ms, directory poll ${DIR_POLL_MS:-default} ms)"
  sleep "${GAP:-3}"
done
sort -n "$W/took" | awk '{a[NR]=$1} END {i=int(NR*0.95+0.999); if (i>NR) i=NR; printf "N=%d: change -> push over %d changes: median %.3f s, p95 %.3f s, max %.3f s\n", '"$N"', NR, a[int((NR+1)/2)], a[i], a[NR]}'
# No-op resyncs: every 2 s, all three tiers.
m() { curl -fs "127.0.0.1:$HTTP/metrics" | awk -v k="$1" '$1==k {print $2}'; }
sleep 1
s0=$(m shopset_reconcile_duration_seconds_sum); c0=$(m shopset_reconcile_duration_seconds_count)
n0=$(m shopset_noop_syncs_total)
sleep 10
s1=$(m shopset_reconcile_duration_seconds_sum); c1=$(m shopset_reconcile_duration_seconds_count)
n1=$(m shopset_noop_syncs_total)
echo "N=$N: no-op resyncs: $((c1 - c0)) batches, $(echo "$n1 - $n0" | bc) tier syncs, mean $(echo "scale=3; ($s1 - $s0) / ($c1 - $c0)" | bc) s of work per batch (3 tiers)"
echo "commits on tier-0 after the change: $(git --git-dir="$W/qs/system.git" rev-list --count tier-0)"
# A restart: the branches are rendered, the cache is kept; start -> first batch done.
kill "$CONTROLLER"
wait "$CONTROLLER" 2>/dev/null || true
start=$(date +%s.%N)
RUST_LOG=${RUST_LOG:-info} "$BIN/shopset-controller" --resources-dir "$RES" --cache-dir "$W/cache" --listen "127.0.0.1:$HTTP" \
  --poll-seconds 2 2>>"$W/log" &
until curl -fs "127.0.0.1:$HTTP/readyz" >/dev/null 2>&1; do sleep 0.05; done
echo "N=$N: restart -> first batch done (branches rendered, nothing to write) after $(echo "$(date +%s.%N) - $start" | bc) s"
