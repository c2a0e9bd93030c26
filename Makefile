# The two commands a newcomer needs. Both set everything up first (idempotent).
.PHONY: demo test lint bench eval
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

# The spoken demo set through the three strategies, with a report in runs/demo/eval/ (~45 min).
eval:
	bash scripts/setup.sh
	.venv/bin/streamrag audiocrag build --questions tools/data/qa --out runs/demo --attempts 3 --max-wer 0.2
	.venv/bin/streamrag eval runs/demo --no-evidence
