# The two commands a newcomer needs. Both set everything up first (idempotent).
.PHONY: demo test lint bench
demo:
	bash scripts/setup.sh
	.venv/bin/streamrag serve --host $${HOST:-127.0.0.1} --port $${PORT:-8765}

test:
	bash scripts/setup.sh --test
	.venv/bin/ruff check .
	.venv/bin/python -m pytest -q

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

bench:
	bash scripts/setup.sh
	.venv/bin/python benchmarks/latency.py
