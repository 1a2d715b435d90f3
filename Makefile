# One entry point for contributors. Run inside the virtual environment you installed into.
.PHONY: install test lint format typecheck serve bench bench-scale bench-uploads bench-batches

install:
	pip install -e '.[dev]'

test:
	python -m pytest

lint:
	ruff check src tests bench scripts setup.py
	ruff format --check src tests bench scripts setup.py
	python scripts/gen_sync_client.py --check

format:
	python scripts/gen_sync_client.py
	ruff format src tests bench scripts setup.py
	ruff check --fix src tests bench scripts setup.py

typecheck:
	mypy

serve:
	filedock serve

bench:
	python bench/bench_core.py

bench-scale:
	python bench/bench_scale.py

bench-uploads:
	python bench/bench_uploads.py

bench-batches:
	python bench/bench_batches.py
