# readerstudy: the two commands a fresh machine needs are `make run` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed
TSTAMP := $(VENV)/.installed-test
DB     ?= $(HOME)/.local/share/readerstudy/demo.sqlite

BUSI_TRAIN ?= ../shared/data/busi-train

.PHONY: run test bench model lint clean system-deps

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "python3.11 not found: install Python 3.11 (PYTHON=... to override)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PIP) install --quiet -e .
	@touch $@

$(TSTAMP): pyproject.toml | $(PY)
	$(PIP) install --quiet -e '.[test,text,onnx]'
	@touch $@ $(STAMP)

# Debian libraries Qt needs to open a real window (xcb) and a virtual screen for headless runs.
system-deps:
	@bash .ci/system-deps.sh

## Build the demo study if absent and open the app on it (under Xvfb when there is no display).
run: $(STAMP) system-deps
	@if [ -n "$$DISPLAY" ] || [ -n "$$WAYLAND_DISPLAY" ]; then \
		$(VENV)/bin/readerstudy demo --db "$(DB)"; \
	else \
		echo "No display: running under Xvfb"; \
		xvfb-run -a -s "-screen 0 1600x1000x24" $(VENV)/bin/readerstudy demo --db "$(DB)"; \
	fi

## The whole suite, as CI runs it.
test: $(TSTAMP) system-deps
	QT_QPA_PLATFORM=offscreen $(VENV)/bin/ruff check readerstudy engine tests benchmarks migrations
	$(VENV)/bin/lint-imports
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -p no:cacheprovider

## Benchmarks; R's pROC (Debian r-cran-proc) is installed when possible, for the DeLong comparison.
bench: $(TSTAMP) system-deps
	-@Rscript -e 'library(pROC)' >/dev/null 2>&1 || WITH_R=1 bash .ci/system-deps.sh
	QT_QPA_PLATFORM=offscreen $(PY) benchmarks/run.py

## Retrain the shipped AI reader (resources/models/diffkd-student-busi) on busi-train with the CLI,
## rewrite its provenance and its external test on the demo cases (CPU; see engine/README.md).
model: $(TSTAMP)
	$(PY) benchmarks/shipped_model.py --data "$(BUSI_TRAIN)"

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
