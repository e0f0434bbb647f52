#!/usr/bin/env bash
# Folder sources (make bench): `nuage backup` of a folder of many small
# JSON documents and a few large clips to a folder destination, against
# `rclone copy` of the same folder to another folder on the same disk:
# what a person would run instead. The first run, an incremental one (a
# few documents changed, one added, one clip renamed) and an unchanged
# one; peak memory of nuage too.
#
#   SMALL=10000 LARGE=3 LARGE_MB=200 RUNS=3 bash bench/folder.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SMALL=${SMALL:-10000}
LARGE=${LARGE:-3}
LARGE_MB=${LARGE_MB:-200}
RUNS=${RUNS:-3}
OUT=$PWD/bench/out/folder
rm -rf "$OUT" && mkdir -p "$OUT" && touch "$OUT/rclone.conf"
cargo build --release -q -p nuage-cli
BIN=$(cd "${CARGO_TARGET_DIR:-target}" && pwd)/release
command -v rclone >/dev/null || { echo "bench: rclone is missing (make deps installs it)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time is missing (apt-get install time)" >&2; exit 1; }
# The bench's files are finished as soon as written.
export NUAGE_SETTLE_MS=0
export RCLONE_CONFIG=$OUT/rclone.conf

src=$OUT/documents
mkdir -p "$src/clips"
python3 - "$src" "$SMALL" <<'PY'
import json, os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(7)
for i in range(n):
    d = os.path.join(root, "jobs", f"{i // 100:03d}")
    os.makedirs(d, exist_ok=True)
    doc = {"job": i, "customer": f"customer-{rnd.randrange(5000)}", "car": rnd.choice(["Clio", "Golf", "208", "Yaris"]),
           "km": rnd.randrange(1000, 250000), "lines": [{"part": f"P{rnd.randrange(9999)}", "price": round(rnd.random() * 300, 2)} for _ in range(rnd.randrange(1, 12))]}
    with open(os.path.join(d, f"job-{i}.json"), "w") as f:
        json.dump(doc, f)
PY
for i in $(seq "$LARGE"); do head -c $((LARGE_MB << 20)) /dev/urandom >"$src/clips/clip-$i.mp4"; done
bytes=$(du -sb "$src" | cut -f1)

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
timed() { local out=$1; shift; /usr/bin/time -f '%e %M' -o "$out" "$@" >/dev/null; }
change() {
  for j in 3 1500 7777; do [ -f "$src/jobs/$(printf %03d $((j / 100)))/job-$j.json" ] && echo '{"changed":true}' >"$src/jobs/$(printf %03d $((j / 100)))/job-$j.json"; done
  echo '{"new":true}' >"$src/jobs/000/new-$1.json"
  mv "$src/clips/clip-1.mp4" "$src/clips/clip-1-$1.mp4" 2>/dev/null || mv "$src/clips"/clip-1-*.mp4 "$src/clips/clip-1-$1.mp4"
}

declare -A T
for r in $(seq "$RUNS"); do
  export NUAGE_HOME=$OUT/home-$r
  dn=$OUT/dest-nuage-$r dr=$OUT/dest-rclone-$r
  mkdir -p "$dn" "$dr"
  "$BIN/nuage" source add --folder "$src" --name documents >/dev/null
  "$BIN/nuage" destination folder "$dn" >/dev/null
  sync
  timed "$OUT/r-first-$r" rclone copy "$src" "$dr"
  # rclone leaves its copies in the page cache; nuage makes them durable
  # (one syncfs) before the manifest: the same durability costs this.
  timed "$OUT/s-first-$r" sync -f "$dr"
  timed "$OUT/n-first-$r" "$BIN/nuage" backup
  change "$r"
  sync
  timed "$OUT/r-incr-$r" rclone copy "$src" "$dr"
  timed "$OUT/n-incr-$r" "$BIN/nuage" backup
  timed "$OUT/r-same-$r" rclone copy "$src" "$dr"
  timed "$OUT/n-same-$r" "$BIN/nuage" backup
  # The mirror is the folder, file for file.
  diff -r -q "$src" "$dn/documents" | grep -v 'Only in .*documents: .nuage-versions\|Only in .*documents: [0-9a-f-]*\.json\.zst' && { echo "bench: the mirror differs" >&2; exit 1; }
  rm -rf "$dn" "$dr"
done
col() { for r in $(seq "$RUNS"); do cut -d' ' -f"$2" "$OUT/$1-$r"; done | median; }
for k in first incr same; do
  T[n-$k]=$(col "n-$k" 1) T[r-$k]=$(col "r-$k" 1) T[m-$k]=$(col "n-$k" 2)
done
T[s-first]=$(col s-first 1)
rss=$(printf '%s\n' "${T[m-first]}" "${T[m-incr]}" "${T[m-same]}" | sort -n | tail -1)
mb=$(echo "$bytes / 1000000" | bc -l)
speed=$(echo "(${T[r-first]} + ${T[s-first]}) / ${T[n-first]}" | bc -l)
bare=$(echo "${T[r-first]} / ${T[n-first]}" | bc -l)
{
  echo "## Folder source to a folder destination, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "$SMALL JSON documents and $LARGE clips of $LARGE_MB MiB ($(printf '%.0f' "$mb") MB). Medians of $RUNS runs; rclone $(rclone version | head -1 | cut -d' ' -f2)."
  echo
  echo "| run | nuage backup s | rclone copy s | nuage peak RSS MiB |"
  echo "|---|---:|---:|---:|"
  printf '| first (everything sent, verified, durable) | %.2f | %.2f + %.2f sync | %.1f |\n' "${T[n-first]}" "${T[r-first]}" "${T[s-first]}" "$(echo "${T[m-first]} / 1024" | bc -l)"
  printf '| incremental (3 changed, 1 added, a clip renamed) | %.2f | %.2f | %.1f |\n' "${T[n-incr]}" "${T[r-incr]}" "$(echo "${T[m-incr]} / 1024" | bc -l)"
  printf '| unchanged | %.2f | %.2f | %.1f |\n' "${T[n-same]}" "${T[r-same]}" "$(echo "${T[m-same]} / 1024" | bc -l)"
  echo
  printf '| target | measured | |\n|---|---|---|\n'
  printf '| first run ≥ 1× rclone'"'"'s speed (both durable) | %.2f× (%.2f× rclone without its sync) | %s |\n' "$speed" "$bare" "$([ "$(echo "$speed >= 1" | bc -l)" = 1 ] && echo PASS || echo FAIL)"
  printf '| unchanged folder checked in < 1 s | %.2f s | %s |\n' "${T[n-same]}" "$([ "$(echo "${T[n-same]} < 1" | bc -l)" = 1 ] && echo PASS || echo FAIL)"
  printf '| peak RSS < 64 MiB | %.1f MiB | %s |\n' "$(echo "$rss / 1024" | bc -l)" "$([ "$rss" -lt 65536 ] && echo PASS || echo FAIL)"
} | tee "$OUT/results.md"
