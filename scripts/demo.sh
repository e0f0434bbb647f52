#!/usr/bin/env bash
# The whole local flow on a sample business database, a folder of files,
# a PostgreSQL database when a server is installed, and the OneDrive and
# S3 destinations against their local stand-ins, offline:
# create it, keep writing to it, back it up, list restore points, restore
# into a new file and prove it identical, export and re-import as JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=${CARGO_TARGET_DIR:-target}
NUAGE=${NUAGE:-$TARGET/debug/nuage}
demo=$(mktemp -d "${TMPDIR:-/tmp}/nuage-demo.XXXXXX")
export NUAGE_HOME="$demo/home"
db="$demo/garage.db"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "A sample business database: $db"
sqlite3 "$db" >/dev/null <<'SQL'
PRAGMA journal_mode = WAL;
CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT, phone TEXT);
CREATE TABLE vehicles(id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(id), plate TEXT UNIQUE, make TEXT, model TEXT, year INTEGER);
CREATE TABLE invoices(id INTEGER PRIMARY KEY AUTOINCREMENT, vehicle_id INTEGER REFERENCES vehicles(id), issued TEXT, amount REAL, paid INTEGER DEFAULT 0, scan BLOB);
CREATE INDEX invoices_vehicle ON invoices(vehicle_id);
CREATE VIEW unpaid AS SELECT * FROM invoices WHERE paid = 0;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)
INSERT INTO customers SELECT i, 'Customer ' || i, 'c' || i || '@example.com', CASE WHEN i % 7 THEN '+33 6 12 34 ' || printf('%02d', i % 100) END FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 800)
INSERT INTO vehicles SELECT i, 1 + i % 500, 'AB-' || printf('%03d', i) || '-CD', 'Renault', 'Clio', 2005 + i % 18 FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
INSERT INTO invoices(vehicle_id, issued, amount, paid, scan) SELECT 1 + i % 800, date('2024-01-01', '+' || (i % 700) || ' days'), round(50 + (i * 37 % 1000) + 0.99, 2), i % 3 != 0, CASE WHEN i % 10 = 0 THEN randomblob(2000) END FROM n;
PRAGMA user_version = 12;
SQL

say "Register it and back it up (the application keeps writing meanwhile)"
$NUAGE source add "$db" --name garage
( for i in $(seq 1 40); do sqlite3 "$db" "INSERT INTO invoices(vehicle_id, issued, amount) VALUES (1, date('now'), $i.5)" 2>/dev/null; sleep 0.02; done ) &
writer=$!
$NUAGE backup
wait $writer
$NUAGE backup
say "Nothing changed since: the next run is skipped"
$NUAGE backup

say "Restore points"
$NUAGE list
id=$($NUAGE list garage --json | jq -r '.[0].id')

say "Restore $id into a new file and compare with the source"
$NUAGE restore "$id" --to "$demo/restored.db"
for t in customers vehicles invoices; do
  a=$(sqlite3 "$db" ".mode quote" "SELECT * FROM $t ORDER BY rowid" | sha256sum)
  b=$(sqlite3 "$demo/restored.db" ".mode quote" "SELECT * FROM $t ORDER BY rowid" | sha256sum)
  [ "$a" = "$b" ] && echo "  $t: identical" || { echo "  $t: DIFFERENT"; exit 1; }
done
sqlite3 "$demo/restored.db" "PRAGMA integrity_check; PRAGMA user_version;" | sed 's/^/  /'

say "Export it as plain JSON (readable with jq) and import it back"
$NUAGE export "$id" "$demo/garage-backup.json"
jq -c '{format, version, created_at, tables: [.tables[] | {name, row_count}]}' "$demo/garage-backup.json"
$NUAGE import "$demo/garage-backup.json" --to "$demo/imported.db"

say "OneDrive, offline: the Microsoft identity + Graph emulator stands in for the cloud"
EMULATOR=${EMULATOR:-$TARGET/debug/nuage-emulator}
client=7c9e6679-7425-40de-944b-e07fc1f90ae7
"$EMULATOR" --client-id "$client" --auto-approve-after 2 --poll-interval-ms 1000 > "$demo/emulator.out" 2> "$demo/emulator.log" &
emulator=$!
trap 'kill $emulator 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$demo/emulator.out" ] && break; sleep 0.05; done
url=$(head -1 "$demo/emulator.out" | sed 's/^listening on //')
export NUAGE_AUTHORITY_URL=$url NUAGE_GRAPH_URL=$url/v1.0 NUAGE_CLIENT_ID=$client
# A fresh or headless machine may have no keychain: the demo keeps its
# tokens in its own temporary home (Nuage prints a warning about it).
export NUAGE_TOKEN_STORE=file
echo "emulator at $url (the device code is approved automatically after two polls)"
$NUAGE login
$NUAGE whoami
$NUAGE destination onedrive --folder "Backups/Nuage"
sqlite3 "$db" "UPDATE customers SET phone = '+33 6 00 00 00 00' WHERE id = 1"
$NUAGE backup
$NUAGE list garage
curl -s "$url/_emulator/state" | jq -r '.drives[0].files[] | "  in OneDrive: \(.path) (\(.size) bytes, quickXorHash \(.quickXorHash))"'

say "A folder of files too (the garage's job sheets and a dashcam clip), kept as themselves"
docs="$demo/documents"
mkdir -p "$docs/jobs/2026" "$docs/clips"
for i in $(seq 1 25); do printf '{"job":%d,"car":"Clio","km":%d}\n' "$i" $((100000 + i * 731)) > "$docs/jobs/2026/job-$i.json"; done
echo '{"note":"a name OneDrive refuses"}' > "$docs/jobs/what? a:b.json"
head -c $((6 << 20)) /dev/urandom > "$docs/clips/front door.mp4"
# Files changed in the last seconds wait for a later run (still being
# written); the demo's are finished.
export NUAGE_SETTLE_MS=500
sleep 1
$NUAGE source add --folder "$docs" --name documents --exclude '*.tmp'
$NUAGE backup documents
mv "$docs/clips/front door.mp4" "$docs/clips/2026-12-06 front door.mp4"
echo '{"job":1,"car":"Clio","km":101500}' > "$docs/jobs/2026/job-1.json"
sleep 1
$NUAGE backup documents
$NUAGE list documents
curl -s "$url/_emulator/state" | jq -r '.drives[0].files[] | select(.path | contains("/documents/")) | "  in OneDrive: \(.path) (\(.size) bytes)"' | head -12
first=$($NUAGE list documents --json | jq -r '.[-1].id')
$NUAGE restore "$first" --to "$demo/documents-restored"
$NUAGE restore "$first" --to "$demo/one-file" --path "jobs/2026/job-1.json"
cat "$demo/one-file/jobs/2026/job-1.json" | sed 's/^/  the first version: /'

say "A PostgreSQL database too (a Supabase-shaped one, on a private local server)"
PGBIN=${NUAGE_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
if [ -x "${PGBIN:-}/postgres" ]; then
  pgdir="$demo/pg"
  mkdir -p "$pgdir/sock"
  as_pg() { if [ "$(id -u)" = 0 ]; then setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; else "$@"; fi; }
  if [ "$(id -u)" = 0 ]; then chmod 755 "$demo"; chown -R postgres: "$pgdir"; fi
  as_pg "$PGBIN/initdb" -D "$pgdir/data" -U postgres -A trust >/dev/null
  pgport=$((20000 + RANDOM % 20000))
  as_pg "$PGBIN/pg_ctl" -D "$pgdir/data" -l "$pgdir/log" -w -o "-p $pgport -k $pgdir/sock -c listen_addresses=''" start >/dev/null
  trap 'kill $emulator 2>/dev/null || true; as_pg "$PGBIN/pg_ctl" -D "$pgdir/data" -m fast stop >/dev/null 2>&1 || true' EXIT
  psql_() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$pgdir/sock" -p "$pgport" -U postgres "$@"; }
  pgurl() { echo "postgresql:///$1?host=$pgdir/sock&port=$pgport&user=postgres"; }
  psql_ -d postgres -c "CREATE DATABASE shop" -c "CREATE DATABASE shop_restored"
  psql_ -d shop -f crates/engine/tests/fixtures/supabase-shaped.sql >/dev/null
  $NUAGE source add "$(pgurl shop)" --name shop
  $NUAGE backup shop
  pid=$($NUAGE list shop --json | jq -r '.[0].id')
  # The restore target has the platform's auth schema and users, as a
  # Supabase project has.
  psql_ -d shop_restored -c "CREATE SCHEMA auth; CREATE TABLE auth.users (id uuid PRIMARY KEY, email text);
    INSERT INTO auth.users SELECT id, email FROM (VALUES ('11111111-1111-1111-1111-111111111111'::uuid, 'ana'), ('22222222-2222-2222-2222-222222222222'::uuid, 'rui')) v(id, email);
    CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS \$\$ SELECT NULL::uuid \$\$;"
  $NUAGE restore "$pid" --to "$(pgurl shop_restored)"
  for t in profiles jobs notes; do
    a=$(psql_ -At -d shop -c "SELECT string_agg(x::text, ',' ORDER BY x::text) FROM public.$t x" | sha256sum)
    b=$(psql_ -At -d shop_restored -c "SELECT string_agg(x::text, ',' ORDER BY x::text) FROM public.$t x" | sha256sum)
    [ "$a" = "$b" ] && echo "  public.$t: identical" || { echo "  public.$t: DIFFERENT"; exit 1; }
  done
else
  echo "No PostgreSQL server installed here (make deps installs one): skipped."
fi

say "An S3-compatible bucket instead (a local S3 server that demands what Cloudflare R2 does)"
S3PY=${NUAGE_S3_VENV:-$HOME/.cache/nuage/s3-venv}/bin/python
if [ -x "$S3PY" ]; then
  coproc S3 { exec "$S3PY" tests/s3/server.py --port 0 --access-key demo-key --secret demo-secret-key --bucket garage-backups; }
  s3pid=$S3_PID
  read -r _ s3port <&"${S3[0]}"
  echo demo-secret-key | $NUAGE destination s3 --endpoint "http://127.0.0.1:$s3port" --bucket garage-backups \
    --prefix nuage --access-key-id demo-key --secret-stdin
  $NUAGE backup
  curl -s "http://127.0.0.1:$s3port/_nuage/objects" | jq -r '.[] | "  in the bucket: \(.key) (\(.size) bytes, ETag \(.etag))"' | head -8
  say "Restore drills: every copy restored into a temporary target and compared with what was backed up"
  $NUAGE verify
  # Back to OneDrive (the emulator) for the rest of the tour.
  $NUAGE destination onedrive --folder "Backups/Nuage"
  kill "$s3pid" 2>/dev/null || true
else
  echo "The S3 server's Python is not installed here (make deps installs it): skipped."
fi

say "Status"
$NUAGE status
echo
echo "Everything is in $demo (home: $NUAGE_HOME)."

say "The desktop app, on a fresh home, against a second emulator"
APP=${APP:-$TARGET/debug/nuage-app}
app_home="$demo/app-home"
NUAGE_HOME="$app_home" $NUAGE source add "$db" --name garage >/dev/null
NUAGE_HOME="$app_home" $NUAGE schedule --every 15 >/dev/null
"$EMULATOR" --client-id "$client" --poll-interval-ms 1000 > "$demo/emulator2.out" 2> "$demo/emulator2.log" &
emulator2=$!
trap 'kill $emulator $emulator2 2>/dev/null || true; [ -n "${pgdir:-}" ] && as_pg "$PGBIN/pg_ctl" -D "$pgdir/data" -m fast stop >/dev/null 2>&1 || true' EXIT
for _ in $(seq 100); do [ -s "$demo/emulator2.out" ] && break; sleep 0.05; done
url2=$(head -1 "$demo/emulator2.out" | sed 's/^listening on //')
if [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  echo "No display here: the app needs a desktop session. Run 'make demo' from a"
  echo "terminal of your desktop to see it (the steps above ran without it)."
  exit 0
fi
cat <<EOF
Nuage opens with the database 'garage' already added. To see the whole flow:
  1. Overview → "Sign in": the app shows a code. "Open the Microsoft sign-in
     page" opens the emulator's page ($url2/_emulator/devicelogin): approve it there.
  2. Destination → "Browse OneDrive" → create a folder → "Use this folder".
  3. Overview → "Back up now": the badge and the tray turn to "up to date".
  4. Restore points → the new point → "Export" to a JSON file, or "Restore".
Close the window to keep Nuage in the tray; "Quit" in the tray menu ends the demo.
EOF
NUAGE_HOME="$app_home" NUAGE_AUTHORITY_URL=$url2 NUAGE_GRAPH_URL=$url2/v1.0 "$APP"
