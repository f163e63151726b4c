# Agora — the README's two commands, plus benchmarks.
#   make demo    set everything up, run `agora demo` on the embedded chain
#   make test    set everything up, run every check (scripts/check.py: ruff, import rules and
#                __all__, mypy, then the whole suite; PYTEST_ARGS go to the suite's pytest)
#   make bench   set everything up, run every benchmark in bench/ (JSON in bench/results/)
# Set-up needs only Python 3.11+, pip, Node.js and npm (and root for apt-get, only when a Debian
# package such as bubblewrap is missing); each part is repeated only when its inputs change.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY_STAMP   := $(VENV)/.agora-installed
NODE_STAMP := node_modules/.agora-installed
SYS_STAMP  := $(VENV)/.agora-system
FLOWER_VENV  := .venv-flower
FLOWER_STAMP := $(FLOWER_VENV)/.agora-installed
ZK_VENV  := .venv-zk
ZK_STAMP := $(ZK_VENV)/.agora-installed
PYTEST_ARGS ?=

.PHONY: setup demo test bench lint clean

setup: $(PY_STAMP) $(NODE_STAMP) $(SYS_STAMP) $(FLOWER_STAMP) $(ZK_STAMP)

$(PY_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $@

# Debian packages (bubblewrap), only when missing
$(SYS_STAMP): scripts/setup_system.sh | $(PY_STAMP)
	bash scripts/setup_system.sh
	@touch $@

# Flower in its own environment: its pins fight the project's (see flower/requirements.txt)
$(FLOWER_STAMP): flower/requirements.txt
	@test -x $(FLOWER_VENV)/bin/python || $(PYTHON) -m venv $(FLOWER_VENV)
	$(FLOWER_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(FLOWER_VENV)/bin/python -m pip install --quiet -r flower/requirements.txt
	@touch $@

# ezkl (zero-knowledge proofs) in its own environment, driven as a process by
# agora.workloads.zk (see zk/requirements.txt); its verifiers compile with npm's solc-js
$(ZK_STAMP): zk/requirements.txt
	@test -x $(ZK_VENV)/bin/python || $(PYTHON) -m venv $(ZK_VENV)
	$(ZK_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(ZK_VENV)/bin/python -m pip install --quiet -r zk/requirements.txt
	@touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

demo: setup
	$(BIN)/agora demo

test: setup
	$(BIN)/python scripts/check.py all -- $(PYTEST_ARGS)

bench: setup
	@mkdir -p bench/results
	@set -e; for f in bench/[!_]*.py; do \
		echo "== $$f"; timeout -s INT 900 $(BIN)/python $$f; \
	done

lint: setup
	$(BIN)/python scripts/check.py lint

clean:
	rm -rf $(VENV) $(FLOWER_VENV) $(ZK_VENV) node_modules .pytest_cache .ruff_cache .mypy_cache
