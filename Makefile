# Two commands: `make install` (fresh machine -> .venv with the whole stack) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install test bench-data clean

install:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch 2.9.1 is the newest release with a matching torchaudio; these install offline-friendly from PyPI.
	$(PY) -m pip install --quiet torch==2.9.1 torchvision==0.24.1 'torchaudio==2.9.*'
	$(PY) -m pip install --quiet -e '.[dev]'
	$(VENV)/bin/fer --help > /dev/null && echo "installed: activate with 'source $(VENV)/bin/activate', then run 'fer --help'"

test:
	$(PY) -m pytest -q

bench-data:
	$(PY) bench/data_cache.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
