.PHONY: install test lint check format

install:
	scripts/install-test-deps

test:
	python -m pytest

lint:
	ruff format --check . && ruff check . && mypy

# Run in sequence (not as two prerequisites) so `make -j check` still lints first.
check: lint
	$(MAKE) --no-print-directory test

format:
	ruff format . && ruff check --fix .
