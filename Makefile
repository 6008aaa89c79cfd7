# effnn: the two set-up commands are `make demo` and `make test`; both create the environment first.
#
# torch is installed first and pinned (torch==2.13.0 is a local CPU wheel here; any looser request
# pulls a multi-GB CUDA build). torchvision is left out on pip installs: its PyPI wheel is CUDA-only
# and, once installed, breaks `import transformers` on a CPU-only machine. Conda users: environment.yml.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.effnn-installed
export PATH := $(abspath $(BIN)):$(PATH)
export PYTHONPATH := $(CURDIR)
export TORCHINDUCTOR_CACHE_DIR := $(CURDIR)/build/inductor

.PHONY: env demo test test-fast release grade bench bench-fast lab formgrader browser student-bundle baseline book clean hub hub-deps

# matplotlib's headless backend only where nothing is looked at (the tests); kernels of `make lab`,
# `make formgrader` and `make demo` keep Jupyter's inline backend, so plt.show() draws figures.
HEADLESS := MPLBACKEND=Agg
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)
# The student's lab: nbgrader's instructor tools (Create Assignment, Formgrader, Course List) and the
# Assignment List (it needs a hub's exchange) are switched off by this config folder.
STUDENT_CONFIG := $(CURDIR)/course/jupyterhub/student-local


env: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[dev]" torch==2.13.0
	$(BIN)/python -c "import torch, effnn, transformers, torch_pruning, nbgrader; print('effnn environment ready: torch', torch.__version__)"
	touch $(STAMP)

## Main job: release -> lecture 00 -> three simulated A0 submissions -> autograde -> feedback -> CSV.
demo: env
	$(BIN)/python -m autograder.demo

## Whole test suite: unit tests, nbgrader round trips, and nbval over lectures/ and solutions/.
## The per-cell limit catches a hung cell, not a slow one: A1's fast-mode sweep cell (two fine-tunings)
## takes about a minute on a quiet 2-core machine and passed 600 s on a loaded one.
test: env
	$(HEADLESS) EFFNN_FAST=1 EFFNN_QUIET=1 $(BIN)/python -m pytest tests lectures solutions \
		--nbval-lax --nbval-current-env --nbval-cell-timeout=1200 -p no:cacheprovider -q --durations=20

## Unit tests only (seconds).
test-fast: env
	$(HEADLESS) EFFNN_FAST=1 EFFNN_QUIET=1 $(BIN)/python -m pytest tests -m "not slow" -q

## Regenerate assignments/ from solutions/ (commit the result).
release: env
	$(BIN)/python -m autograder.release

## Grade a folder: make grade A=a0_warmup SUBMISSIONS=path/to/submitted [OUT=out/grades/a0_warmup]
grade: env
	$(BIN)/python -m autograder.grade $(A) $(SUBMISSIONS) $(if $(OUT),--out $(OUT),)

bench: env
	$(BIN)/python benchmarks/run.py --json out/benchmarks.json

bench-fast: env
	$(BIN)/python benchmarks/run.py --fast --json out/benchmarks-fast.json

## Rebuild the committed A1 Segformer baseline checkpoint deterministically (a one-time build of
## about 15-25 minutes on 2 cores; its recipe and learning curve are in segformer_portraits.json).
baseline: env
	$(BIN)/python -m autograder.reference.segformer train-baseline --out course/effnn/assets/segformer_portraits.pt

## The course as a book: every lecture executed in default mode (fixed seeds, fast mode off) and the
## assignments' statements, as a static site in out/book/ (copy the folder to any static web host).
book: env
	$(BIN)/python -m tools.book --out out/book

## Archive for students: lectures, the release, and effnn (no solutions, no autograder).
student-bundle: env
	$(BIN)/python -m autograder.bundle --out out/effnn-student.zip

## Students: JupyterLab on the repository, figures inline, no instructor tools.
## JUPYTER_PORT / JUPYTER_TOKEN are honoured; LAB_ARGS adds options (e.g. LAB_ARGS=--no-browser).
lab: env
	env -u MPLBACKEND JUPYTER_CONFIG_PATH=$(STUDENT_CONFIG)$(if $(JUPYTER_CONFIG_PATH),:$(JUPYTER_CONFIG_PATH),) \
		$(abspath $(BIN))/jupyter lab $(ALLOW_ROOT) $(LAB_ARGS)

## Instructors: JupyterLab with nbgrader's Formgrader (menu Nbgrader -> Formgrader). It runs in course/
## (nbgrader reads course/nbgrader_config.py from there) and serves the whole repository, so the
## links to ../solutions and ../assignments open.
formgrader: env
	cd course && env -u MPLBACKEND $(abspath $(BIN))/jupyter lab --ServerApp.root_dir=$(CURDIR) $(ALLOW_ROOT) $(LAB_ARGS)

## The browser test's tools: Debian's chromium (apt, needs root) and Playwright's Python API.
browser: env
	command -v chromium >/dev/null || { $(if $(ALLOW_ROOT),,sudo )apt-get update && $(if $(ALLOW_ROOT),,sudo )apt-get install -y chromium; }
	$(BIN)/python -m pip install --quiet -e ".[dev,browser]" torch==2.13.0

## A real JupyterHub for the course on this machine (DEMO: no passwords, one Unix user for all;
## see course/jupyterhub/demo_hub_config.py). HUB_ARGS passes options, e.g.
## HUB_ARGS="--port 8000 --dir build/hub --users student1,student2 --release a0_warmup".
hub: env hub-deps
	env -u MPLBACKEND $(BIN)/python -m tools.hub $(HUB_ARGS)

## configurable-http-proxy (JupyterHub's proxy) from npm, installed locally under build/node.
HUB_PROXY := build/node/node_modules/.bin/configurable-http-proxy
hub-deps: $(HUB_PROXY)

$(HUB_PROXY):
	command -v npm >/dev/null || { echo "make hub needs node and npm (apt-get install nodejs npm)"; exit 1; }
	npm install --prefix build/node --no-audit --no-fund --loglevel=error configurable-http-proxy@4

clean:
	rm -rf out build course/gradebook.db course/submitted course/autograded course/feedback
