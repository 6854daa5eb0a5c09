# The two commands of the README: `make demo` and `make test` (each runs the setup first).
.PHONY: setup demo test lint bench

setup:
	bash scripts/setup.sh

demo: setup
	.venv/bin/skynet demo $(ARGS)

test: setup
	.venv/bin/ruff check .
	.venv/bin/mypy .
	.venv/bin/pytest

bench: setup
	.venv/bin/python -m bench.models
