#!/usr/bin/env bash
# `make bench`: Nuage against what a user would script, side by side in one
# run, on generated garage databases (see docs/benchmarks.md).
#
#   BENCH_SIZES="100 1000"  database sizes in MB (default: both)
#   BENCH_RUNS=3            runs per measurement; the median is reported
#   BENCH_IDLE_WAIT=600     seconds to wait, before each run, for other work
#                           on the machine to stop (the run is noted if not)
#
# Databases are generated once into bench/out/ and reused; `rm -rf
# bench/out` to start over. Results: stdout and bench/out/results.md.
# Exits 0 whether or not the targets are met (timing noise is not a build
# failure); exits non-zero when a command fails or a result is wrong.
set -euo pipefail
export LC_ALL=C

# --- The do-it-yourself exports, as a user would script them -------------
# `run.sh __diy json DB OUT`: every table as `sqlite3 -json`, each piped to
# `zstd -3 -T1`, the frames concatenated into OUT (blobs come out as raw
# bytes inside JSON strings: not restorable).
# `run.sh __diy hex DB OUT`: the same with hex() of BLOB columns
# (restorable).
if [ "${1:-}" = __diy ]; then
  set -o pipefail
  mode=$2 db=$3 out=$4
  : >"$out"
  sqlite3 "$db" "SELECT name FROM sqlite_schema WHERE type = 'table'
                 AND name NOT LIKE 'sqlite_%' ORDER BY name" |
    while IFS= read -r t; do
      if [ "$mode" = hex ]; then
        cols=$(sqlite3 "$db" "SELECT group_concat(CASE WHEN upper(type) = 'BLOB'
                 THEN 'hex(\"' || name || '\") AS \"' || name || '\"'
                 ELSE '\"' || name || '\"' END, ', ')
               FROM pragma_table_info('$t')")
      else
        cols='*'
      fi
      sqlite3 -json "$db" "SELECT $cols FROM \"$t\"" | zstd -3 -T1 -q >>"$out"
    done
  exit 0
fi

cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=$ROOT/bench/out
TMP=$OUT/tmp
LOG=$OUT/bench.log
SIZES=${BENCH_SIZES:-100 1000}
RUNS=${BENCH_RUNS:-3}
UNCHANGED_RUNS=5
RSS_LIMIT_MIB=64
UNCHANGED_LIMIT_MS=50
IDLE_WAIT=${BENCH_IDLE_WAIT:-600}
IDLE_PCT=90
MIN_IDLE=100
MAX_OTHERS=0

die() {
  echo "bench: $*" >&2
  exit 1
}

# --- Tools -----------------------------------------------------------------
if [ ! -x /usr/bin/time ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "bench: installing GNU time (/usr/bin/time)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
  else
    die "GNU time (/usr/bin/time) is needed to measure peak memory; install it with: sudo apt-get install time"
  fi
fi
/usr/bin/time -f '%M' true 2>&1 >/dev/null | grep -qE '^[0-9]+$' ||
  die "/usr/bin/time is not GNU time (it must understand -f '%M')"
for tool in sqlite3 zstd jq cargo awk; do
  command -v "$tool" >/dev/null || die "$tool is missing (make deps installs it)"
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer"
for n in $SIZES; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || die "BENCH_SIZES must be sizes in MB, e.g. \"100 1000\""
done

mkdir -p "$OUT"
rm -rf "$TMP"
mkdir -p "$TMP"
trap 'rm -rf "$TMP"' EXIT
: >"$LOG"

echo "bench: building release binaries" >&2
cargo build --release -p nuage-cli -p nuage-bench
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
NUAGE=$TARGET_DIR/release/nuage
GEN=$TARGET_DIR/release/nuage-bench
[ -x "$NUAGE" ] && [ -x "$GEN" ] || die "release binaries not found in $TARGET_DIR/release"
# Private copies: a rebuild during the benchmark must not swap the binaries.
mkdir -p "$TMP/bin"
cp "$NUAGE" "$GEN" "$TMP/bin/"
NUAGE=$TMP/bin/nuage
GEN=$TMP/bin/nuage-bench
HZ=$(getconf CLK_TCK)

# --- Helpers ---------------------------------------------------------------
# CPU time spent by the whole machine so far, in clock ticks.
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }

# run_timed STDOUT CMD...: runs CMD under GNU time; sets WALL (seconds,
# from bash's clock), CPU (user+sys seconds) and RSS_KB (peak resident set
# of the largest process). Also notes in MAX_OTHERS how many cores other
# programs kept busy meanwhile. Dirty pages are flushed first (untimed).
# Any failure ends the benchmark.
run_timed() {
  local out=$1
  shift
  local tf=$TMP/time.out t0 t1 j0 j1
  echo "+ $*" >>"$LOG"
  sync # the previous run's writeback must not land in this one's timing
  j0=$(busy_ticks)
  t0=$EPOCHREALTIME
  if ! /usr/bin/time -f '%e %U %S %M' -o "$tf" "$@" >"$out" 2>>"$LOG"; then
    tail -n 20 "$LOG" >&2
    die "command failed: $*"
  fi
  t1=$EPOCHREALTIME
  j1=$(busy_ticks)
  WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  local user sys
  read -r _ user sys RSS_KB <"$tf"
  CPU=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
  MAX_OTHERS=$(awk -v m="$MAX_OTHERS" -v j="$((j1 - j0))" -v hz="$HZ" -v c="$CPU" -v w="$WALL" \
    'BEGIN { o = (j / hz - c) / w; if (o < 0) o = 0; printf "%.2f", (o > m ? o : m) }')
}

median() {
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
    END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

calc() { awk "BEGIN { printf \"$1\", ($2) }"; }

mib() { calc '%.1f' "$1 / 1048576"; }

label() {
  if [ "$1" -ge 1000 ] && [ $(($1 % 1000)) -eq 0 ]; then echo "$(($1 / 1000)) GB"; else echo "$1 MB"; fi
}

# row_counts DB: "table=rows" for every table, by name.
row_counts() {
  sqlite3 "$1" "SELECT name FROM sqlite_schema WHERE type = 'table'
                AND name NOT LIKE 'sqlite_%' ORDER BY name" |
    while IFS= read -r t; do
      printf '%s=%s\n' "$t" "$(sqlite3 "$1" "SELECT count(*) FROM \"$t\"")"
    done
}

# Percentage of CPU time idle over one second, all cores (from /proc/stat).
idle_pct() {
  local a b
  a=$(awk '/^cpu / { print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat)
  sleep 1
  b=$(awk '/^cpu / { print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat)
  awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " ");
    t = y[2] - x[2]; printf "%d", (t > 0 ? 100 * (y[1] - x[1]) / t : 100) }'
}

# wait_idle: other work on this 2-core machine (a build, tests) skews every
# number, so wait up to BENCH_IDLE_WAIT seconds for the CPUs to be idle.
# Records the idle percentage seen in MIN_IDLE.
wait_idle() {
  local waited=0 idle
  idle=$(idle_pct)
  while [ "$idle" -lt "$IDLE_PCT" ] && [ "$waited" -lt "$IDLE_WAIT" ]; do
    [ "$waited" = 0 ] && echo "  waiting for the machine to be idle (${idle}% idle)..." >&2
    sleep 4
    waited=$((waited + 5))
    idle=$(idle_pct)
  done
  if [ "$idle" -lt "$IDLE_PCT" ]; then
    echo "  machine still busy (${idle}% idle) after ${IDLE_WAIT}s; measuring anyway" >&2
  fi
  [ "$idle" -lt "$MIN_IDLE" ] && MIN_IDLE=$idle
  return 0
}

verdict() { if [ "$1" = 1 ]; then echo PASS; else echo FAIL; fi; }

# --- Machine ---------------------------------------------------------------
CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
MEM_TOTAL=$(free -h | awk '/^Mem:/ { print $2 }')
REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain -- crates 2>/dev/null)" ]; then REV="$REV (engine/CLI with uncommitted changes)"; fi
DATE=$(date -u '+%Y-%m-%d %H:%M UTC')

RESULTS=()  # markdown rows of the results table
TARGETS=()  # markdown rows of the targets table
DBINFO=()   # one line per database
LOADS=()    # load average before each size, to spot a busy machine

for size in $SIZES; do
  name=$(label "$size")
  db=$OUT/garage-${size}mb.db
  info=$OUT/garage-${size}mb.txt
  dump=$OUT/garage-${size}mb.dump.sql

  # --- The database, generated once ---------------------------------------
  # (A -wal next to it only means something has it open: still reusable.)
  if [ ! -f "$db" ] || [ ! -f "$info" ]; then
    avail_mb=$(df -Pm "$OUT" | awk 'NR == 2 { print $4 }')
    [ "$avail_mb" -gt $((size * 6)) ] ||
      die "not enough disk space in $OUT for a $name benchmark (need ~$((size * 6)) MB, have $avail_mb MB)"
    echo "bench: generating the $name database" >&2
    rm -f "$db" "$db-wal" "$db-shm" "$info" "$dump"
    "$GEN" generate --size-mb "$size" --out "$db.tmp" --force >"$info.tmp"
    mv "$db.tmp" "$db"
    mv "$info.tmp" "$info"
  fi
  if [ ! -f "$dump" ] || [ "$dump" -ot "$db" ]; then
    echo "bench: writing $name .dump (untimed)" >&2
    sqlite3 "$db" .dump >"$dump.tmp"
    mv "$dump.tmp" "$dump"
  fi
  db_bytes=$(stat -c %s "$db")
  db_mb=$(calc '%.1f' "$db_bytes / 1e6")
  DBINFO+=("- $name: $(head -n 1 "$info" | sed "s|^[^:]*: ||")")
  cat "$db" "$dump" >/dev/null # warm the page cache for every contender
  LOADS+=("$name: $(cut -d' ' -f1-3 /proc/loadavg)")
  echo "bench: $name database ($db_mb MB), $RUNS runs, load average $(cut -d' ' -f1 /proc/loadavg)" >&2

  # --- Backups, side by side ----------------------------------------------
  b_wall=() b_cpu=() b_rss=() b_size=()
  j_wall=() j_cpu=() j_rss=() j_size=()
  h_wall=() h_cpu=() h_size=()
  u_ms=()
  home=
  for run in $(seq 1 "$RUNS"); do
    wait_idle
    # This VM reclaims idle page cache (DAMON), so re-warm before each run.
    cat "$db" >/dev/null
    [ -n "$home" ] && rm -rf "$home"
    home=$TMP/home-$run
    "$NUAGE" --home "$home" source add "$db" --name garage >>"$LOG"
    run_timed "$TMP/backup.json" "$NUAGE" --home "$home" backup --json
    status=$(jq -r '.[0].status' "$TMP/backup.json")
    [ "$status" = backed_up ] || die "backup run $run: status '$status' (see $TMP/backup.json)"
    b_wall+=("$WALL") b_cpu+=("$CPU") b_rss+=("$RSS_KB")
    b_size+=("$("$NUAGE" --home "$home" list --json | jq -r '.[0].size_bytes')")
    echo "  backup run $run: ${WALL}s, cpu ${CPU}s, rss $((RSS_KB / 1024)) MiB" >&2

    if [ "$run" = "$RUNS" ]; then
      # The "unchanged" check, on the home just backed up. Its few fsyncs
      # would otherwise wait behind the writeback of the copy just made.
      sync
      for _ in $(seq 1 "$UNCHANGED_RUNS"); do
        t0=$EPOCHREALTIME
        "$NUAGE" --home "$home" backup --json >"$TMP/unchanged.json" 2>>"$LOG"
        t1=$EPOCHREALTIME
        status=$(jq -r '.[0].status' "$TMP/unchanged.json")
        [ "$status" = unchanged ] ||
          die "second backup of an unchanged $name database reported '$status', not 'unchanged'"
        u_ms+=("$(calc '%.1f' "($t1 - $t0) * 1000")")
      done
      echo "  unchanged checks: ${u_ms[*]} ms" >&2
    fi

    run_timed /dev/null bash "$0" __diy json "$db" "$TMP/diy.json.zst"
    j_wall+=("$WALL") j_cpu+=("$CPU") j_rss+=("$RSS_KB")
    j_size+=("$(stat -c %s "$TMP/diy.json.zst")")
    rm -f "$TMP/diy.json.zst"
    echo "  sqlite3 -json | zstd run $run: ${WALL}s" >&2

    run_timed /dev/null bash "$0" __diy hex "$db" "$TMP/diy.hex.zst"
    h_wall+=("$WALL") h_cpu+=("$CPU")
    h_size+=("$(stat -c %s "$TMP/diy.hex.zst")")
    rm -f "$TMP/diy.hex.zst"
    echo "  sqlite3 -json hex() | zstd run $run: ${WALL}s" >&2
  done

  # --- Restores, side by side ---------------------------------------------
  point=$("$NUAGE" --home "$home" list --json | jq -r '.[0].id')
  r_wall=() r_cpu=() r_rss=()
  s_wall=() s_cpu=() s_rss=()
  copy=$(find "$home" -name "$point.json.zst" | head -n 1)
  [ -f "$copy" ] || die "cannot find the copy of restore point $point under $home"
  for run in $(seq 1 "$RUNS"); do
    wait_idle
    cat "$copy" "$dump" >/dev/null
    restored=$TMP/restored.db
    rm -f "$restored"*
    run_timed /dev/null "$NUAGE" --home "$home" restore "$point" --to "$restored" --json
    r_wall+=("$WALL") r_cpu+=("$CPU") r_rss+=("$RSS_KB")
    if [ "$run" = 1 ]; then
      # Cheap sanity check of the restored copy: the source's row counts.
      cmp -s <(row_counts "$db") <(row_counts "$restored") ||
        die "the restored $name database does not have the source's row counts"
    fi
    rm -f "$restored"*
    echo "  nuage restore run $run: ${WALL}s, rss $((RSS_KB / 1024)) MiB" >&2

    loaded=$TMP/loaded.db
    rm -f "$loaded"*
    run_timed /dev/null sqlite3 "$loaded" <"$dump"
    s_wall+=("$WALL") s_cpu+=("$CPU") s_rss+=("$RSS_KB")
    rm -f "$loaded"*
    echo "  sqlite3 < dump.sql run $run: ${WALL}s" >&2
  done
  rm -rf "$home"

  # --- Medians, rows, verdicts --------------------------------------------
  bw=$(median "${b_wall[@]}") bc=$(median "${b_cpu[@]}") br=$(median "${b_rss[@]}") bs=$(median "${b_size[@]}")
  jw=$(median "${j_wall[@]}") jc=$(median "${j_cpu[@]}") jr=$(median "${j_rss[@]}") js=$(median "${j_size[@]}")
  hw=$(median "${h_wall[@]}") hc=$(median "${h_cpu[@]}") hs=$(median "${h_size[@]}")
  rw=$(median "${r_wall[@]}") rc=$(median "${r_cpu[@]}") rr=$(median "${r_rss[@]}")
  sw=$(median "${s_wall[@]}") sc=$(median "${s_cpu[@]}") sr=$(median "${s_rss[@]}")
  um=$(median "${u_ms[@]}")

  row() { # db what wall cpu rss_kb out_bytes
    local speed cpu_pct rss out
    speed=$(calc '%.0f' "$db_bytes / 1e6 / $3")
    cpu_pct=$(calc '%.0f' "100 * $4 / $3")
    rss=$([ -n "$5" ] && mib "$(($5 * 1024))" || echo "")
    out=$([ -n "$6" ] && mib "$6" || echo "")
    RESULTS+=("| $1 | $2 | $(calc '%.2f' "$3") | $speed | $cpu_pct% | $rss | $out |")
  }
  row "$name" "nuage backup (zstd -3 local copy)" "$bw" "$bc" "$br" "$bs"
  row "$name" "\`sqlite3 -json\` \\| \`zstd -3 -T1\` (lossy blobs)" "$jw" "$jc" "$jr" "$js"
  row "$name" "\`sqlite3 -json\` with \`hex(blob)\` \\| \`zstd -3 -T1\`" "$hw" "$hc" "" "$hs"
  row "$name" "nuage restore --to" "$rw" "$rc" "$rr" ""
  row "$name" "\`sqlite3 new.db < dump.sql\`" "$sw" "$sc" "$sr" ""
  RESULTS+=("| $name | nuage backup, unchanged (median of $UNCHANGED_RUNS) | ${um} ms | | | | |")

  speedup=$(calc '%.2f' "$jw / $bw")
  TARGETS+=("| $name | backup ≥ 2× faster than \`sqlite3 -json \\| zstd -3\` | ${speedup}× (${bw} s vs ${jw} s) | $(verdict "$(calc '%d' "$speedup >= 2")") |")
  TARGETS+=("| $name | compressed size ≤ the pipeline's | $(mib "$bs") MiB vs $(mib "$js") MiB | $(verdict "$(calc '%d' "$bs <= $js")") |")
  TARGETS+=("| $name | restore no slower than \`sqlite3 < dump.sql\` | ${rw} s vs ${sw} s | $(verdict "$(calc '%d' "$rw <= $sw")") |")
  TARGETS+=("| $name | backup peak RSS < $RSS_LIMIT_MIB MiB | $(mib "$((br * 1024))") MiB | $(verdict "$(calc '%d' "$br < $RSS_LIMIT_MIB * 1024")") |")
  TARGETS+=("| $name | restore peak RSS < $RSS_LIMIT_MIB MiB | $(mib "$((rr * 1024))") MiB | $(verdict "$(calc '%d' "$rr < $RSS_LIMIT_MIB * 1024")") |")
  if [ "$size" -ge 1000 ]; then
    TARGETS+=("| $name | unchanged check < $UNCHANGED_LIMIT_MS ms | ${um} ms | $(verdict "$(calc '%d' "$um < $UNCHANGED_LIMIT_MS")") |")
  fi
done

# --- Report ------------------------------------------------------------------
{
  echo "## Nuage benchmark, $DATE"
  echo
  echo "Machine: $(nproc) cores ($CPU_MODEL), $MEM_TOTAL RAM; $(sqlite3 --version | cut -d' ' -f1), zstd $(zstd --version | grep -oE 'v[0-9.]+'); nuage at $REV."
  echo "Medians of $RUNS runs (unchanged check: $UNCHANGED_RUNS runs), warm page cache. Load average before each size: ${LOADS[*]}; lowest CPU idle seen before a run: ${MIN_IDLE}% (runs wait for ≥ ${IDLE_PCT}%); other programs used up to $MAX_OTHERS cores during a measured run."
  echo
  echo "Databases:"
  printf '%s\n' "${DBINFO[@]}"
  echo
  echo "| db | what | wall s | MB/s of db | CPU | peak RSS MiB | output MiB |"
  echo "|---|---|---:|---:|---:|---:|---:|"
  printf '%s\n' "${RESULTS[@]}"
  echo
  echo "| db | target | measured | |"
  echo "|---|---|---|---|"
  printf '%s\n' "${TARGETS[@]}"
  if [[ " $SIZES " != *" 1000 "* ]]; then
    echo
    echo "(The unchanged-check target applies to the 1 GB database, not run here.)"
  fi
} | tee "$OUT/results.md"
