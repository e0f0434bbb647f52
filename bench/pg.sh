#!/usr/bin/env bash
# `make bench`, PostgreSQL part: Nuage against pg_dump/pg_restore, side by
# side in one run, on a generated garage database in a private server (see
# docs/benchmarks.md).
#
#   BENCH_PG_MB=1000   size of the generated database in MB (default 1000)
#   BENCH_RUNS=3       runs per measurement; the median is reported
#
# The server (Debian's PostgreSQL, started here as the `postgres` user when
# run as root) lives in bench/out/pg and is stopped at the end; the database
# is generated once and reused while its size setting is the same.
# Results: stdout and bench/out/pg-results.md. Exits non-zero when a command
# fails or a result is wrong; a missed target is reported, not a failure.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=$ROOT/bench/out
MB=${BENCH_PG_MB:-1000}
RUNS=${BENCH_RUNS:-3}
RSS_LIMIT_MIB=64
die() {
  echo "bench-pg: $*" >&2
  exit 1
}
[[ $MB =~ ^[1-9][0-9]*$ ]] || die "BENCH_PG_MB must be a size in MB"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer"

PGBIN=${NUAGE_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
[ -x "$PGBIN/postgres" ] || die "no PostgreSQL server found (make deps installs it)"
for tool in zstd jq cargo /usr/bin/time; do
  command -v "$tool" >/dev/null || die "$tool is missing (make deps installs it)"
done

TMP=$OUT/pg-tmp
DATA=$OUT/pg/data
PORT=${BENCH_PG_PORT:-55433}
SOCK=$OUT/pg/sock
mkdir -p "$OUT/pg" "$SOCK"
rm -rf "$TMP"
mkdir -p "$TMP"
as_pg() {
  if [ "$(id -u)" = 0 ]; then setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; else "$@"; fi
}
if [ "$(id -u)" = 0 ]; then chown -R postgres: "$OUT/pg"; chmod 755 "$OUT" "$OUT/pg"; fi
stop() {
  as_pg "$PGBIN/pg_ctl" -D "$DATA" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap stop EXIT
if [ ! -f "$DATA/PG_VERSION" ]; then
  as_pg "$PGBIN/initdb" -D "$DATA" -U postgres -A trust >/dev/null
fi
as_pg "$PGBIN/pg_ctl" -D "$DATA" -l "$OUT/pg/log" -w \
  -o "-p $PORT -k $SOCK -c listen_addresses='' -c fsync=off -c shared_buffers=256MB -c max_wal_size=4GB" start >/dev/null
PSQL=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U postgres)
url() { echo "postgresql:///$1?host=$SOCK&port=$PORT&user=postgres"; }

# --- The database: a garage's jobs, customers, invoices and photos --------
have=$("${PSQL[@]}" -At -d postgres -c "SELECT coalesce((SELECT description FROM pg_shdescription d JOIN pg_database b ON b.oid = d.objoid WHERE b.datname = 'garage'), '')")
if [ "$have" != "generated $MB MB" ]; then
  echo "bench-pg: generating a $MB MB database" >&2
  "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS garage" -c "CREATE DATABASE garage"
  # About 1 KB per job with its notes; 1 photo (8 KB) per 50 jobs.
  jobs=$((MB * 800))
  "${PSQL[@]}" -d garage <<SQL
CREATE TYPE job_status AS ENUM ('open', 'in progress', 'done');
CREATE TABLE customers (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL,
  email text, phone text, created_at timestamptz NOT NULL DEFAULT now(), prefs jsonb NOT NULL DEFAULT '{}');
CREATE TABLE jobs (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  customer bigint NOT NULL REFERENCES customers(id), plate text NOT NULL, status job_status NOT NULL,
  price numeric(10,2), opened_at timestamptz NOT NULL, notes text, parts text[], tags jsonb);
CREATE TABLE photos (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), job bigint NOT NULL REFERENCES jobs(id), body bytea NOT NULL);
CREATE INDEX jobs_open ON jobs (status) WHERE status <> 'done';
CREATE INDEX jobs_plate ON jobs (plate);
INSERT INTO customers (name, email, phone, prefs)
  SELECT 'Customer ' || i, 'c' || i || '@garage.example', '+351 ' || (910000000 + i),
         jsonb_build_object('lang', 'pt', 'sms', i % 2 = 0)
  FROM generate_series(1, $((jobs / 10))) i;
INSERT INTO jobs (customer, plate, status, price, opened_at, notes, parts, tags)
  SELECT 1 + i % $((jobs / 10)), upper(substr(md5(i::text), 1, 2)) || '-' || (i % 100) || '-' || upper(substr(md5(i::text), 3, 2)),
         (ARRAY['open','in progress','done'])[1 + i % 3]::job_status, (i % 100000) / 100.0,
         '2026-01-01'::timestamptz + i * interval '37 seconds',
         repeat('Brake pads, oil and filter; customer waits. ', 18) || i,
         ARRAY['pads', 'oil', 'filter ' || i], jsonb_build_object('bay', i % 7, 'km', i * 13)
  FROM generate_series(1, $jobs) i;
INSERT INTO photos (job, body)
  SELECT i * 50, decode(repeat(md5(i::text), 512), 'hex') FROM generate_series(1, $((jobs / 50))) i;
VACUUM ANALYZE;
SQL
  "${PSQL[@]}" -d postgres -c "COMMENT ON DATABASE garage IS 'generated $MB MB'"
fi
SIZE=$("${PSQL[@]}" -At -d postgres -c "SELECT pg_database_size('garage')")

echo "bench-pg: building the release binary" >&2
cargo build --release --locked -p nuage-cli >&2
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
cp "$TARGET_DIR/release/nuage" "$TMP/nuage"
NUAGE=$TMP/nuage

# measure LABEL CMD...: one timed run; appends "label wall user sys rss_kib".
measure() {
  local label=$1
  shift
  sync
  /usr/bin/time -f "%e %U %S %M" -o "$TMP/time" "$@" >"$TMP/stdout" 2>"$TMP/stderr" ||
    { cat "$TMP/stderr" >&2; die "$label failed"; }
  echo "$label $(cat "$TMP/time")" >>"$TMP/results"
}
# pipeline CMD: a shell pipeline under time (RSS: its largest process).
pipeline() { bash -o pipefail -c "$1"; }
export -f pipeline

: >"$TMP/results"
for run in $(seq "$RUNS"); do
  echo "bench-pg: run $run of $RUNS" >&2
  home=$TMP/home-$run
  NUAGE_TOKEN_STORE=file measure nuage_backup "$NUAGE" --home "$home" source add "$(url garage)" --name garage
  sed -i '$d' "$TMP/results" # adding the source is not the backup
  NUAGE_TOKEN_STORE=file measure nuage_backup "$NUAGE" --home "$home" backup --json
  jq -e '.[0].status == "backed_up"' "$TMP/stdout" >/dev/null || die "the backup did not back up"
  id=$(jq -r '.[0].id' "$TMP/stdout")
  jq -r '.[0].size_bytes' "$TMP/stdout" >"$TMP/nuage-size"
  measure pg_dump_fc "$PGBIN/pg_dump" -h "$SOCK" -p "$PORT" -U postgres -Fc -Z 6 -f "$TMP/dump.fc" garage
  stat -c %s "$TMP/dump.fc" >"$TMP/fc-size"
  measure pg_dump_zstd bash -c "pipeline '$PGBIN/pg_dump -h $SOCK -p $PORT -U postgres garage | zstd -3 -T1 -q > $TMP/dump.sql.zst'"
  stat -c %s "$TMP/dump.sql.zst" >"$TMP/zstd-size"
  "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS r_nuage" -c "CREATE DATABASE r_nuage" \
    -c "DROP DATABASE IF EXISTS r_pgrestore" -c "CREATE DATABASE r_pgrestore"
  NUAGE_TOKEN_STORE=file measure nuage_restore "$NUAGE" --home "$home" restore "$id" --to "$(url r_nuage)" --json
  measure pg_restore "$PGBIN/pg_restore" -h "$SOCK" -p "$PORT" -U postgres -d r_pgrestore "$TMP/dump.fc"
  # The restored database holds every row.
  for t in customers jobs photos; do
    a=$("${PSQL[@]}" -At -d garage -c "SELECT count(*) FROM $t")
    b=$("${PSQL[@]}" -At -d r_nuage -c "SELECT count(*) FROM $t")
    [ "$a" = "$b" ] || die "restored $t has $b rows, not $a"
  done
  NUAGE_TOKEN_STORE=file measure nuage_unchanged "$NUAGE" --home "$home" backup --json
  jq -e '.[0].status == "unchanged"' "$TMP/stdout" >/dev/null || die "an idle database was not recognised as unchanged"
  rm -rf "$home" "$TMP/dump.fc" "$TMP/dump.sql.zst"
done

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
col() { awk -v l="$1" -v c="$2" '$1 == l {print $c}' "$TMP/results" | median; }
mib() { awk -v k="$1" 'BEGIN {printf "%.0f", k / 1024}'; }
{
  echo "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}'), database of $((SIZE / 1048576)) MiB (pg_database_size), median of $RUNS runs, $(nproc) cores"
  echo
  echo "| measurement | wall s | CPU s | peak RSS MiB | output MiB |"
  echo "|---|---|---|---|---|"
  for l in nuage_backup pg_dump_fc pg_dump_zstd nuage_restore pg_restore nuage_unchanged; do
    w=$(col $l 2) u=$(col $l 3) s=$(col $l 4) r=$(col $l 5)
    size=""
    case $l in
      nuage_backup) size=$(awk '{printf "%.1f", $1 / 1048576}' "$TMP/nuage-size") ;;
      pg_dump_fc) size=$(awk '{printf "%.1f", $1 / 1048576}' "$TMP/fc-size") ;;
      pg_dump_zstd) size=$(awk '{printf "%.1f", $1 / 1048576}' "$TMP/zstd-size") ;;
    esac
    echo "| $l | $w | $(awk -v u="$u" -v s="$s" 'BEGIN {printf "%.2f", u + s}') | $(mib "$r") | $size |"
  done
  echo
  verdict() { if [ "$1" = 1 ]; then echo "met"; else echo "MISSED"; fi; }
  b=$(col nuage_backup 2) z=$(col pg_dump_zstd 2) rn=$(col nuage_restore 2) rp=$(col pg_restore 2)
  echo "- backup at least as fast as pg_dump | zstd -3: $(verdict "$(awk -v a="$b" -v b="$z" 'BEGIN {print (a <= b) ? 1 : 0}')") ($b s vs $z s)"
  echo "- backup no larger than pg_dump -Fc: $(verdict "$(awk -v a="$(cat "$TMP/nuage-size")" -v b="$(cat "$TMP/fc-size")" 'BEGIN {print (a <= b) ? 1 : 0}')")"
  echo "- restore no slower than pg_restore: $(verdict "$(awk -v a="$rn" -v b="$rp" 'BEGIN {print (a <= b) ? 1 : 0}')") ($rn s vs $rp s)"
  peak=$(for l in nuage_backup nuage_restore nuage_unchanged; do col $l 5; done | sort -n | tail -1)
  echo "- peak memory under $RSS_LIMIT_MIB MiB: $(verdict "$(awk -v a="$peak" -v l=$RSS_LIMIT_MIB 'BEGIN {print (a / 1024 < l) ? 1 : 0}')") ($(mib "$peak") MiB)"
} | tee "$OUT/pg-results.md"
