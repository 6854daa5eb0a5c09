# The two commands of the README: `make demo` and `make test` (each runs the setup it needs).
.PHONY: setup setup-test demo test bench

# What the demo and the benchmarks need (no torch).
setup:
	bash scripts/setup.sh

# The same plus .venv-yolo (torch + ultralytics, about 5.5 GB) for the ultralytics backend tests.
setup-test:
	bash scripts/setup.sh --with-yolo

demo: setup
	.venv/bin/skynet demo $(ARGS)

test: setup-test
	.venv/bin/ruff check .
	.venv/bin/mypy .
	.venv/bin/pytest

bench: setup
	.venv/bin/python -m bench.models
