#!/usr/bin/env bash
# Upload throughput (make bench): `nuage` uploading a ~1 GB backup to the
# Microsoft Graph emulator on loopback, against `curl` sending the same
# 10 MiB fragments of the same file to the same emulator: what a person
# would script instead. Peak memory of nuage is measured too.
#
#   UPLOAD_MB=1000 RUNS=3 bash bench/upload.sh
set -euo pipefail
cd "$(dirname "$0")/.."
MB=${UPLOAD_MB:-1000}
RUNS=${RUNS:-3}
OUT=$PWD/bench/out/upload
FRAG=$((32 * 327680)) # 10 MiB, a multiple of 320 KiB, as nuage sends
CLIENT=7c9e6679-7425-40de-944b-e07fc1f90ae7
rm -rf "$OUT" && mkdir -p "$OUT"
cargo build --release -q -p nuage-cli -p nuage-emulator
BIN=$(cd "${CARGO_TARGET_DIR:-target}" && pwd)/release
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time is missing (apt-get install time)" >&2; exit 1; }

# A source whose compressed copy is about MB megabytes: incompressible blobs.
db=$OUT/blobs.db
sqlite3 "$db" "CREATE TABLE b(id INTEGER PRIMARY KEY, data BLOB);
  WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $MB)
  INSERT INTO b(data) SELECT randomblob(1000000) FROM n;"

"$BIN/nuage-emulator" --client-id "$CLIENT" --auto-approve-after 1 --poll-interval-ms 1000 --quota 100000000000 >"$OUT/emulator.out" 2>"$OUT/emulator.log" &
emu=$!
trap 'kill $emu 2>/dev/null || true' EXIT
for _ in $(seq 200); do [ -s "$OUT/emulator.out" ] && break; sleep 0.05; done
URL=$(head -1 "$OUT/emulator.out" | sed 's/^listening on //')
export NUAGE_AUTHORITY_URL=$URL NUAGE_GRAPH_URL=$URL/v1.0 NUAGE_CLIENT_ID=$CLIENT NUAGE_TOKEN_STORE=file

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

nuage_times=() nuage_rss=()
for r in $(seq "$RUNS"); do
  export NUAGE_HOME=$OUT/home-$r
  "$BIN/nuage" source add "$db" --name blobs >/dev/null
  "$BIN/nuage" backup >/dev/null # the local copy, not timed
  "$BIN/nuage" login >/dev/null 2>&1
  "$BIN/nuage" destination onedrive --folder "Bench/run-$r" >/dev/null
  copy=$(ls "$NUAGE_HOME"/backups/blobs/*.json.zst)
  # The source is unchanged: this run only uploads (and verifies) the copy.
  /usr/bin/time -f '%e %M' -o "$OUT/time-$r" "$BIN/nuage" backup --json >"$OUT/backup-$r.json"
  state=$(jq -r '.[0].upload.state' "$OUT/backup-$r.json")
  [ "$state" = verified ] || { echo "bench: upload not verified: $(cat "$OUT/backup-$r.json")" >&2; exit 1; }
  read -r secs rss <"$OUT/time-$r"
  nuage_times+=("$secs") nuage_rss+=("$rss")
done
size=$(stat -c %s "$copy")

# The same fragments with curl: one upload session, one PUT per fragment.
curl_times=()
token=$(curl -s -X POST "$URL/_emulator/tokens" -d '{}' | jq -r .access_token)
for r in $(seq "$RUNS"); do
  start=$(date +%s.%N)
  upload=$(curl -s -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d "{\"item\":{\"@microsoft.graph.conflictBehavior\":\"replace\",\"name\":\"curl-$r.bin\"}}" \
    "$URL/v1.0/me/drive/root:/curl-$r.bin:/createUploadSession" | jq -r .uploadUrl)
  off=0
  while [ "$off" -lt "$size" ]; do
    len=$((size - off < FRAG ? size - off : FRAG))
    dd if="$copy" bs=1M iflag=skip_bytes,count_bytes skip="$off" count="$len" status=none |
      curl -s -o /dev/null -f -X PUT --data-binary @- -H "Content-Range: bytes $off-$((off + len - 1))/$size" "$upload"
    off=$((off + len))
  done
  end=$(date +%s.%N)
  curl_times+=("$(echo "$end - $start" | bc -l)")
done

n=$(printf '%s\n' "${nuage_times[@]}" | median)
c=$(printf '%s\n' "${curl_times[@]}" | median)
rss=$(printf '%s\n' "${nuage_rss[@]}" | median)
mb=$(echo "$size / 1000000" | bc -l)
ratio=$(echo "$n / $c" | bc -l)
within=$(echo "$ratio <= 1.10" | bc -l)
{
  echo "## Upload to the Graph emulator on loopback, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "A ${MB}-blob database; its compressed local copy is $size bytes. Medians of $RUNS runs; 10 MiB fragments both ways."
  echo
  echo "| what | wall s | MB/s | peak RSS MiB |"
  echo "|---|---:|---:|---:|"
  printf '| nuage backup (upload + verify of the copy) | %.2f | %.0f | %.1f |\n' "$n" "$(echo "$mb / $n" | bc -l)" "$(echo "$rss / 1024" | bc -l)"
  printf '| curl, one PUT per fragment | %.2f | %.0f | |\n' "$c" "$(echo "$mb / $c" | bc -l)"
  echo
  printf '| target | measured | |\n|---|---|---|\n'
  printf '| within 10%% of curl | %.2fx curl'"'"'s time | %s |\n' "$ratio" "$([ "$within" = 1 ] && echo PASS || echo FAIL)"
  printf '| peak RSS < 64 MiB | %.1f MiB | %s |\n' "$(echo "$rss / 1024" | bc -l)" "$([ "$rss" -lt 65536 ] && echo PASS || echo FAIL)"
} | tee "$OUT/results.md"
