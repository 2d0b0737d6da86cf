# Shortcuts for developers; the README's two commands work without make.
.PHONY: demo test fast lint bench lab-up lab-down
demo:
	bash scripts/demo.sh
test:
	bash scripts/test.sh
fast:
	bash scripts/test.sh --fast
lint:
	.venv/bin/ruff check . && .venv/bin/mypy
bench:
	.venv/bin/python -m bench
lab-up:
	.venv/bin/switchboard lab up
lab-down:
	.venv/bin/switchboard lab down
