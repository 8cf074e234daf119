# insitu developer entry points. `make demo` and `make test` work on a fresh clone:
# they create the virtualenv, install the npm side and the compiler, then run.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# anvil (node_modules/.bin) must be on PATH for brownie's development network.
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(BIN):$(PATH)

.PHONY: setup lock demo test lint artifacts check-artifacts slither brownie-test pytest bench clean

setup: $(VENV)/.installed node_modules/.installed $(VENV)/.solc

# Installs the locked versions without resolving (see requirements/dev.lock), then checks
# that they satisfy pyproject.toml.
$(VENV)/.installed: pyproject.toml requirements/dev.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-deps -r requirements/dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip check
	touch $@

# After changing dependencies in pyproject.toml: resolve once, then freeze the result.
lock:
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	{ sed -n '/^#/p' requirements/dev.lock; $(BIN)/python -m pip freeze --exclude-editable; \
	  $(BIN)/python -m pip freeze --all | grep '^wheel=='; } > requirements/dev.lock.new
	mv requirements/dev.lock.new requirements/dev.lock

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# py-solc-x's native solc where it can be downloaded, the solc-js bridge where it cannot.
$(VENV)/.solc: $(VENV)/.installed node_modules/.installed toolchain/solc-bridge.js
	$(BIN)/python -m insitu.toolchain.solc
	touch $@

tests/ipfs-node/node_modules/.installed: tests/ipfs-node/package.json tests/ipfs-node/package-lock.json
	cd tests/ipfs-node && npm install --no-audit --no-fund --loglevel=error
	touch $@

demo: setup
	$(BIN)/insitu demo

test: setup tests/ipfs-node/node_modules/.installed
	$(MAKE) --no-print-directory lint check-artifacts slither pytest brownie-test

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

artifacts: setup
	$(BIN)/python -m insitu.toolchain.build

check-artifacts:
	$(BIN)/python -m insitu.toolchain.build --check

# slither compiles through py-solc-x's compiler (native or the solc-js bridge); high-severity
# findings fail the build, the rest are printed.
slither:
	for f in contracts/*.sol; do \
		$(BIN)/slither $$f --solc $$($(BIN)/python -c "from insitu.toolchain.solc import ensure_solc; print(ensure_solc())") \
			--solc-remaps "@openzeppelin/=node_modules/@openzeppelin/" \
			--solc-args "--optimize --evm-version paris" \
			--exclude-dependencies --filter-paths node_modules --fail-high \
			--exclude-informational --exclude-low || exit 1; \
	done

pytest:
	$(BIN)/python -m pytest -n 2 -q

brownie-test:
	$(BIN)/brownie test tests/brownie

bench: setup
	$(BIN)/python bench/gas.py

clean:
	rm -rf $(VENV) node_modules tests/ipfs-node/node_modules build reports
