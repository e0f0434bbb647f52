#!/usr/bin/env bash
# `make bench`, desktop app part: how light the app is when it sits in the
# tray, and how fast its window appears (see docs/benchmarks.md).
#
#   APP=target/release/nuage-app   the binary to measure (default: the release
#                                  build, what the .deb installs; built if missing)
#   BENCH_RUNS=5                   launches for the launch time (median)
#   BENCH_IDLE_SECS=60             length of the idle measurement
#
# Under its own Xvfb and D-Bus session, on a home with one database and a
# local-folder destination, backed up once (the state a user leaves it in).
# - launch → window: from just before exec to the UI's first render (the UI
#   calls `ui_ready`, which logs the wall clock);
# - idle memory: the sum of the proportional set size (PSS, shared pages
#   split among their users; RSS double-counts WebKit's shared libraries) of
#   the app and its WebKit processes, and their plain RSS sum for reference;
# - idle CPU: CPU time of that process tree over BENCH_IDLE_SECS, as a share
#   of one core.
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C
TARGET=${CARGO_TARGET_DIR:-target}
APP=${APP:-$TARGET/release/nuage-app}
RUNS=${BENCH_RUNS:-5}
IDLE=${BENCH_IDLE_SECS:-60}
if [ ! -x "$APP" ]; then
  (cd ui && npm run build >/dev/null)
  cargo build --release --locked -p nuage-app
fi
if [ "${1:-}" != __inside ]; then
  exec dbus-run-session -- xvfb-run -a -s "-screen 0 1280x800x24 -nolisten tcp" "$0" __inside
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export NUAGE_HOME="$work/home" XDG_CONFIG_HOME="$work/config" XDG_CACHE_HOME="$work/cache" XDG_DATA_HOME="$work/data"
NUAGE=$TARGET/release/nuage
[ -x "$NUAGE" ] || NUAGE=$TARGET/debug/nuage
sqlite3 "$work/shop.db" "CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT);
  WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
  INSERT INTO customers SELECT i, 'Customer ' || i FROM n;"
mkdir -p "$work/nas"
$NUAGE source add "$work/shop.db" --name shop >/dev/null
$NUAGE destination folder "$work/nas" >/dev/null
$NUAGE schedule --every 60 >/dev/null
$NUAGE backup >/dev/null

# The app's process and its descendants (WebKit's web and network processes).
tree() {
  local pids=$1 all=$1 next
  while [ -n "$pids" ]; do
    next=""
    for p in $pids; do next="$next $(cat /proc/"$p"/task/*/children 2>/dev/null)"; done
    pids=$(echo $next)
    all="$all $pids"
  done
  echo $all
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

launch_ms=()
for i in $(seq "$RUNS"); do
  log="$work/launch-$i.log"
  t0=$(date +%s%3N)
  "$APP" 2>"$log" &
  pid=$!
  for _ in $(seq 300); do grep -q 'window ready' "$log" && break; sleep 0.05; done
  ready=$(sed -n 's/.*unix_ms=\([0-9]*\).*/\1/p' "$log" | head -1)
  [ -n "$ready" ] || { echo "the window did not render; log:" >&2; cat "$log" >&2; exit 1; }
  launch_ms+=($((ready - t0)))
  if [ "$i" -lt "$RUNS" ]; then kill "$pid"; wait "$pid" 2>/dev/null || true; fi
done
launch=$(printf '%s\n' "${launch_ms[@]}" | median)

# Idle: let the process settle, then watch its tree for $IDLE seconds.
# Sets cpu, pss, rss, procs.
idle() {
  local pid=$1 c0 c1 s0 s1 hz
  sleep 10
  pids=$(tree "$pid")
  ticks() { local t=0; for p in $pids; do [ -r /proc/"$p"/stat ] && t=$((t + $(awk '{print $14 + $15}' /proc/"$p"/stat))); done; echo $t; }
  c0=$(ticks); s0=$(date +%s%3N)
  sleep "$IDLE"
  c1=$(ticks); s1=$(date +%s%3N)
  hz=$(getconf CLK_TCK)
  cpu=$(awk -v c=$((c1 - c0)) -v hz="$hz" -v ms=$((s1 - s0)) 'BEGIN {printf "%.2f", 100 * c / hz / (ms / 1000)}')
  pss=0 rss=0 procs=0
  for p in $pids; do
    [ -r /proc/"$p"/smaps_rollup ] || continue
    procs=$((procs + 1))
    pss=$((pss + $(awk '/^Pss:/ {print $2}' /proc/"$p"/smaps_rollup)))
    rss=$((rss + $(awk '/^VmRSS:/ {print $2}' /proc/"$p"/status)))
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true
}
# The last launched instance, window open.
idle "$pid"
w_cpu=$cpu w_pss=$pss w_rss=$rss w_procs=$procs
# In the tray (started at login, or after closing the window): no window,
# no web process.
"$APP" --minimized 2>"$work/tray.log" &
idle $!

echo "## Desktop app ($(basename "$APP"), $(date -u '+%Y-%m-%d %H:%M UTC'))"
echo
echo "| measure | result | target |"
echo "|---|---|---|"
echo "| launch → rendered window (median of $RUNS: ${launch_ms[*]} ms) | ${launch} ms | < 1500 ms |"
echo "| idle in the tray, window closed: PSS ($procs process) | $((pss / 1024)) MiB | < 150 MB |"
echo "| idle in the tray: RSS (counts shared pages whole) | $((rss / 1024)) MiB | — |"
echo "| idle in the tray: CPU over ${IDLE} s (share of one core) | ${cpu} % | ≈ 0 % |"
echo "| idle with the window open: PSS of $w_procs processes | $((w_pss / 1024)) MiB | < 150 MB |"
echo "| idle with the window open: RSS sum | $((w_rss / 1024)) MiB | — |"
echo "| idle with the window open: CPU over ${IDLE} s | ${w_cpu} % | ≈ 0 % |"
