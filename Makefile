# Nuage: the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
# One package selection everywhere, so dependencies are built once.
WORKSPACE := --workspace --all-targets --locked
# Tests run on a private D-Bus session bus with a real Secret Service (the
# token store's tests, crates/graph/tests/keychain.rs): a gnome-keyring-daemon
# with its keyrings in a temporary folder, unlocked with a throwaway password,
# started (and started again) by the bus on demand.
WITH_KEYCHAIN = sh scripts/with-keychain.sh

# The end-to-end test drives the real app window: an X server (Xvfb) for it.
WITH_DISPLAY = xvfb-run -a -s "-screen 0 1280x800x24 -nolisten tcp"
UI_SOURCES := $(shell find ui/src ui/index.html ui/package.json ui/package-lock.json ui/vite.config.ts ui/tsconfig.json -type f 2>/dev/null)

.PHONY: demo run test lint build bench deps fmt clean ui-test screenshots deb

deps:
	@bash scripts/deps.sh

# The web UI, built before cargo compiles src-tauri (it embeds ui/dist).
ui/dist/index.html: $(UI_SOURCES)
	cd ui && npm run build

build: deps ui/dist/index.html
	$(CARGO) build $(WORKSPACE)

demo: build
	@bash scripts/demo.sh

# The desktop app, for real use (your Microsoft account, ~/.local/share/nuage).
run: deps ui/dist/index.html
	$(CARGO) run --locked -p nuage-app

ui-test: deps
	cd ui && npm run check && npm test

lint: deps ui/dist/index.html
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy $(WORKSPACE) -- -D warnings

# The fidelity tests' Python (scripts/deps.sh prepares it).
VENV ?= $(HOME)/.cache/nuage/venv

# NUAGE_REQUIRE_SERVERS: a test server (PostgreSQL, PgBouncer, S3) that
# cannot start fails its test instead of letting it say SKIPPED (set it to 0
# where scripts/deps.sh cannot install them, e.g. offline or on arm64).
test: lint ui-test
	NUAGE_REQUIRE_SERVERS=$${NUAGE_REQUIRE_SERVERS-1} NUAGE_PG_BIN2=$${NUAGE_PG_BIN2:-$$(cat $(HOME)/.cache/nuage/pg2-bin 2>/dev/null)} NUAGE_PYTHON=$${NUAGE_PYTHON:-$(VENV)/bin/python} NUAGE_CORPUS=$${NUAGE_CORPUS:-$(CURDIR)/../shared/corpus} $(WITH_KEYCHAIN) $(WITH_DISPLAY) $(CARGO) nextest run $(WORKSPACE) --no-fail-fast

# Re-takes the README's screenshots (docs/screenshots) with the end-to-end run.
screenshots: lint
	NUAGE_SCREENSHOTS=$(CURDIR)/docs/screenshots $(WITH_KEYCHAIN) $(WITH_DISPLAY) $(CARGO) nextest run $(WORKSPACE) -E 'binary(e2e)'

# The Debian package (release build, ~15 minutes): target/release/bundle/deb/.
# It holds the app, the `nuage` command and a systemd user unit running
# `nuage run` (`systemctl --user enable --now nuage`), written by the
# command itself so it never drifts from `nuage service install --user`.
RELEASE_DIR = $${CARGO_TARGET_DIR:-target}/release
deb:
	@bash scripts/deps.sh --deb
	$(CARGO) build --release --locked -p nuage-cli
	mkdir -p src-tauri/packaging
	install -m 0755 "$(RELEASE_DIR)/nuage" src-tauri/packaging/nuage
	h=$$(mktemp -d) && "$(RELEASE_DIR)/nuage" --home "$$h" service unit --user --exe /usr/bin/nuage --default-home > src-tauri/packaging/nuage.service; rc=$$?; rm -rf "$$h"; exit $$rc
	npx --yes @tauri-apps/cli@2.12.5 build --bundles deb

bench: deps
	@bash bench/run.sh
	@bash bench/upload.sh
	@bash bench/pg.sh
	@bash bench/folder.sh
	@bash bench/s3.sh
	@bash bench/app.sh

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
