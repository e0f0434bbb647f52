# Nuage: the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
# One package selection everywhere, so dependencies are built once.
WORKSPACE := --workspace --all-targets --locked
# Tests run on a private D-Bus session bus with a real Secret Service (the
# token store's tests, crates/graph/tests/keychain.rs): a gnome-keyring-daemon
# with its keyrings in a temporary folder, unlocked with a throwaway password.
# It waits until the daemon owns its bus name; a client arriving earlier would
# make the bus start a second, locked daemon.
WITH_KEYCHAIN = dbus-run-session -- sh -c 'd=$$(mktemp -d) && trap "rm -rf $$d" EXIT && echo -n nuage-test | XDG_DATA_HOME=$$d XDG_RUNTIME_DIR=$$d gnome-keyring-daemon --unlock --components=secrets >/dev/null && for i in $$(seq 50); do dbus-send --session --print-reply --dest=org.freedesktop.DBus / org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets | grep -q true && break; sleep 0.1; done && "$$@"' with-keychain

.PHONY: demo test lint build bench deps fmt clean

deps:
	@bash scripts/deps.sh

build: deps
	$(CARGO) build $(WORKSPACE)

demo: build
	@bash scripts/demo.sh

lint: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy $(WORKSPACE) -- -D warnings

test: lint
	NUAGE_CORPUS=$${NUAGE_CORPUS:-$(CURDIR)/../shared/corpus} $(WITH_KEYCHAIN) $(CARGO) nextest run $(WORKSPACE) --no-fail-fast

bench: deps
	@bash bench/run.sh
	@bash bench/upload.sh

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
