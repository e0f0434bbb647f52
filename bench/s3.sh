#!/usr/bin/env bash
# S3 upload throughput (make bench): `nuage` uploading a ~1 GB backup to the
# local S3 server (tests/s3/server.py: moto behind R2's rules) on loopback,
# against `rclone copyto` of the same file to the same server: what a
# person would run instead. Peak memory of nuage is measured too.
#
#   S3_MB=1000 RUNS=3 bash bench/s3.sh
set -euo pipefail
cd "$(dirname "$0")/.."
MB=${S3_MB:-1000}
RUNS=${RUNS:-3}
OUT=$PWD/bench/out/s3
PY=${NUAGE_S3_VENV:-$HOME/.cache/nuage/s3-venv}/bin/python
[ -x "$PY" ] || { echo "bench: the S3 server's Python is missing (make deps)" >&2; exit 1; }
command -v rclone >/dev/null || { echo "bench: rclone is missing (make deps)" >&2; exit 1; }
rm -rf "$OUT" && mkdir -p "$OUT"
cargo build --release -q -p nuage-cli
BIN=$(cd "${CARGO_TARGET_DIR:-target}" && pwd)/release

# A source whose compressed copy is about MB megabytes: incompressible blobs.
db=$OUT/blobs.db
sqlite3 "$db" "CREATE TABLE b(id INTEGER PRIMARY KEY, data BLOB);
  WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $MB)
  INSERT INTO b(data) SELECT randomblob(1000000) FROM n;"

AK=benchkey SK=bench-secret-key
# The server keeps objects in RAM (/dev/shm): about 2 GB per run here.
coproc S3 { exec "$PY" tests/s3/server.py --port 0 --access-key $AK --secret $SK --bucket bench; }
trap 'kill $S3_PID 2>/dev/null || true' EXIT
read -r _ port <&"${S3[0]}"
ENDPOINT=http://127.0.0.1:$port
export NUAGE_TOKEN_STORE=file

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

nuage_times=() nuage_rss=()
for r in $(seq "$RUNS"); do
  export NUAGE_HOME=$OUT/home-$r
  "$BIN/nuage" source add "$db" --name blobs >/dev/null
  "$BIN/nuage" backup >/dev/null # the local copy, not timed
  echo "$SK" | "$BIN/nuage" destination s3 --endpoint "$ENDPOINT" --bucket bench --prefix "run-$r" \
    --access-key-id $AK --secret-stdin >/dev/null
  copy=$(ls "$NUAGE_HOME"/backups/blobs/*.json.zst)
  # The source is unchanged: this run only uploads (and verifies) the copy.
  /usr/bin/time -f '%e %M' -o "$OUT/time-$r" "$BIN/nuage" backup --json >"$OUT/backup-$r.json"
  state=$(jq -r '.[0].upload.state' "$OUT/backup-$r.json")
  [ "$state" = verified ] || { echo "bench: upload not verified: $(cat "$OUT/backup-$r.json")" >&2; exit 1; }
  read -r secs rss <"$OUT/time-$r"
  nuage_times+=("$secs") nuage_rss+=("$rss")
  "$BIN/nuage" destination remove >/dev/null
done
size=$(stat -c %s "$copy")

# The same file with rclone (its defaults: 5 MiB parts, 4 at a time).
rclone_times=()
for r in $(seq "$RUNS"); do
  start=$(date +%s.%N)
  env -u AWS_CA_BUNDLE RCLONE_CONFIG_S3_TYPE=s3 RCLONE_CONFIG_S3_PROVIDER=Other \
    RCLONE_CONFIG_S3_ENDPOINT="$ENDPOINT" RCLONE_CONFIG_S3_REGION=us-east-1 \
    RCLONE_CONFIG_S3_ACCESS_KEY_ID=$AK RCLONE_CONFIG_S3_SECRET_ACCESS_KEY=$SK \
    RCLONE_CONFIG_S3_FORCE_PATH_STYLE=true \
    rclone copyto --config /dev/null --s3-no-check-bucket "$copy" "s3:bench/rclone-$r.bin"
  end=$(date +%s.%N)
  rclone_times+=("$(echo "$end - $start" | bc -l)")
done

n=$(printf '%s\n' "${nuage_times[@]}" | median)
c=$(printf '%s\n' "${rclone_times[@]}" | median)
rss=$(printf '%s\n' "${nuage_rss[@]}" | median)
mb=$(echo "$size / 1000000" | bc -l)
ratio=$(echo "$c / $n" | bc -l)
ok=$(echo "$ratio >= 0.9" | bc -l)
{
  echo "## Upload to an S3 server on loopback, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "A ${MB}-blob database; its compressed local copy is $size bytes; the server is tests/s3/server.py (moto behind R2's rules). Medians of $RUNS runs."
  echo
  echo "| what | wall s | MB/s | peak RSS MiB |"
  echo "|---|---:|---:|---:|"
  printf '| nuage backup (hash, upload in 16 MiB parts, ETag verify) | %.2f | %.0f | %.1f |\n' "$n" "$(echo "$mb / $n" | bc -l)" "$(echo "$rss / 1024" | bc -l)"
  printf '| rclone copyto (5 MiB parts, 4 at a time) | %.2f | %.0f | |\n' "$c" "$(echo "$mb / $c" | bc -l)"
  echo
  printf '| target | measured | |\n|---|---|---|\n'
  printf '| >= 0.9x rclone'"'"'s throughput | %.2fx | %s |\n' "$ratio" "$([ "$ok" = 1 ] && echo PASS || echo FAIL)"
  printf '| peak RSS < 64 MiB | %.1f MiB | %s |\n' "$(echo "$rss / 1024" | bc -l)" "$([ "$rss" -lt 65536 ] && echo PASS || echo FAIL)"
} | tee "$OUT/results.md"
