# tinydeploy set-up and entry points. Both main targets are idempotent and start from a
# fresh Debian machine: system packages (apt, as root), a private virtualenv, Python deps.
#   make demo   the main job: `tinydeploy run`, end to end on the QEMU Cortex-M4 target
#   make test   the test suite (ruff + pytest)
#   make lint   ruff and clang-format --dry-run over the C kernel library (make format fixes)

VENV      ?= .venv
PYTHON    ?= python3
PY        := $(VENV)/bin/python
PIP       := $(PY) -m pip --disable-pip-version-check -q
STAMP     := $(VENV)/.installed
# Datasets: the shared offline copy when it exists, else whatever TINYDEPLOY_DATA says,
# else tinydeploy downloads them (checksum-verified) into ~/.cache/tinydeploy.
SHARED_DATA := $(abspath ../shared/datasets)
export TINYDEPLOY_DATA ?= $(if $(wildcard $(SHARED_DATA)/mnist),$(SHARED_DATA),)
PYTEST_ARGS ?=
# One pytest worker per core (pytest-xdist); a module's tests share a worker (tests/conftest.py)
PYTEST_WORKERS ?= $(shell nproc 2>/dev/null || echo 1)

.PHONY: demo test setup system lint format clean

demo: setup
	$(VENV)/bin/tinydeploy run --out runs/main

# CI and `make test` run every test: missing firmware tools are a failure, not a skip.
test: setup
	$(VENV)/bin/ruff check .
	TINYDEPLOY_REQUIRE_FIRMWARE=1 $(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile \
	    $(PYTEST_ARGS)

setup: system $(STAMP)
	@$(VENV)/bin/tinydeploy firmware setup >/dev/null

system:
	@bash scripts/setup-system.sh

# torch 2.13.0 (CPU) goes in first and pinned: otherwise pip pulls the CUDA build.
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install torch==2.13.0
	$(PIP) install -c constraints.txt -e '.[dev,ray]'
	touch $@

# C sources under .clang-format (tests/packaging/test_c_format.py checks the same files)
C_FORMATTED := $(shell find tinydeploy/resources/firmware/lib/tdnn tests/kernels/c -name '*.[ch]' | sort)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/clang-format --dry-run --Werror $(C_FORMATTED)

# Rewrite the C sources in the .clang-format style (what `make lint` checks)
format: setup
	$(VENV)/bin/clang-format -i $(C_FORMATTED)

clean:
	rm -rf $(VENV) build runs .pytest_cache .ruff_cache
