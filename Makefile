# One entry point for every role. `make run` and `make test` are the README's quick start.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
STAMP  := $(VENV)/.installed-stamp
# Every install goes through constraints.txt: torch==2.13.0 (the CPU wheel), the probed edge stack.
INSTALL := $(PIP) install -c constraints.txt

.PHONY: setup setup-edge setup-demo setup-browser test test-slow run demo clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Full developer install: every extra, MediaPipe for landmarks, the test tools.
$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(INSTALL) -e '.[edge,train,demo,dev]'
	# MediaPipe 0.10.21 is the last release that ships Face Mesh; it declares numpy<2 but runs on
	# numpy 2, so it goes in without its declared deps (its runtime deps are in the `train` extra).
	$(INSTALL) --no-deps mediapipe==0.10.21
	touch $@

setup: $(STAMP)

# Role-specific installs into the same .venv (what a phone-app developer or a Space needs).
setup-edge: | $(BIN)/python
	$(INSTALL) -e '.[edge]'

setup-demo: | $(BIN)/python
	$(INSTALL) -e '.[demo]'

# Debian's chromium + chromedriver for the Space's browser test (tests/test_space_browser.py); without
# root or apt the test is skipped with its reason and the rest of the suite runs.
setup-browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  (apt-get install -y --no-install-recommends chromium chromium-driver >/dev/null 2>&1 || \
	   (apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends chromium chromium-driver >/dev/null 2>&1)) || \
	  echo "setup-browser: could not install chromium (needs root and apt); the browser test will be skipped"

test: setup setup-browser
	$(BIN)/python -m pytest -q

test-slow: setup
	$(BIN)/python -m pytest -q -m slow

# The main job: from the shipped checkpoints, export every variant, verify it in its runtime, benchmark,
# write the report (build/report) and regenerate android_assets/ and ios_assets/.
run: setup
	$(BIN)/portrait-edge report --all --out build/report

demo: setup
	$(BIN)/portrait-edge demo

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
