# netobj: `make demo` and `make test` work on a fresh machine (they create .venv when missing).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint typecheck bench bench-quick proto check-proto clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) examples/coder.py --demo

test: $(STAMP)
	$(PY) -m ruff check netobj tests examples benchmarks transactional_store
	$(PY) -m mypy
	$(PY) -m pytest -q

test-fast: $(STAMP)
	$(PY) -m pytest -q -x -m "not slow"

lint: $(STAMP)
	$(PY) -m ruff check netobj tests examples benchmarks transactional_store

typecheck: $(STAMP)
	$(PY) -m mypy

bench: $(STAMP)
	$(PY) -m benchmarks
	$(PY) -m benchmarks.scale

bench-quick: $(STAMP)
	$(PY) -m benchmarks --quick

.PHONY: bench-scale
bench-scale: $(STAMP)
	$(PY) -m benchmarks.scale

# Regenerate the checked-in protobuf modules from protos/ (tests/unit/test_proto.py checks them).
proto: $(STAMP)
	$(PY) -m grpc_tools.protoc -Iprotos --python_out=netobj/wire --pyi_out=netobj/wire protos/netobj.proto

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
