# Nuage: the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
# One package selection everywhere, so dependencies are built once.
WORKSPACE := --workspace --all-targets --locked

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
	NUAGE_CORPUS=$${NUAGE_CORPUS:-$(CURDIR)/../shared/corpus} $(CARGO) nextest run $(WORKSPACE) --no-fail-fast

bench: deps
	@bash bench/run.sh

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
