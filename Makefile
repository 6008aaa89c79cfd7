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
export MPLBACKEND := Agg
export TORCHINDUCTOR_CACHE_DIR := $(CURDIR)/build/inductor

.PHONY: env demo test test-fast release grade bench bench-fast lab student-bundle baseline clean

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
test: env
	EFFNN_FAST=1 EFFNN_QUIET=1 $(BIN)/python -m pytest tests lectures solutions \
		--nbval-lax --nbval-current-env --nbval-cell-timeout=600 -p no:cacheprovider -q --durations=20

## Unit tests only (seconds).
test-fast: env
	EFFNN_FAST=1 EFFNN_QUIET=1 $(BIN)/python -m pytest tests -m "not slow" -q

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

## Archive for students: lectures, the release, and effnn (no solutions, no autograder).
student-bundle: env
	$(BIN)/python -m autograder.bundle --out out/effnn-student.zip

lab: env
	$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root,)

clean:
	rm -rf out build course/gradebook.db course/submitted course/autograded course/feedback
