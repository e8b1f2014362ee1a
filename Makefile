# Two commands from a clean clone, on a stock Debian/Ubuntu Python (3.11+: the pinned NumPy and SciPy need it):
#
#   make demo   makes the environment, then separates synthetic mixtures with
#               the shipped model: scores and a listening page (under a
#               minute once the environment is installed)
#   make test   makes the environment, then runs the whole test suite
#               (15-20 min on 2 cores; .ci/run calls it)
#
# The environment is a virtualenv in $(VENV) with the CI's exact versions
# ($(CONSTRAINTS)) and every extra the demo and the tests use; it is made
# once and remade when setup.cfg or the constraints change.

PYTHON ?= python3
VENV ?= .venv
CONSTRAINTS ?= requirements/ci-tf2.21.txt
EXTRAS ?= cpu,test,plot,litert
DEMO_DIR ?= sound_separation_demo

.PHONY: demo test env

env: $(VENV)/.installed

$(VENV)/.installed: setup.cfg setup.py $(CONSTRAINTS)
	@$(PYTHON) -m venv $(VENV) || { echo "Could not make a virtualenv with $(PYTHON): on Debian/Ubuntu install python3-venv first (apt-get install python3-venv)."; exit 1; }
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -c $(CONSTRAINTS) -e '.[$(EXTRAS)]'
	@touch $@

demo: env
	$(VENV)/bin/sound-separation demo --pretrained --out_dir=$(DEMO_DIR)
	@echo "Open $(DEMO_DIR)/evaluation/index.html to listen; 'sound-separation demo' (about 10 min) trains a model from nothing."

# Two worker processes, each taking whole test files (their module fixtures built
# once); the slowest tests listed at the end.
test: env
	$(VENV)/bin/python -m pytest -q -n 2 --dist loadfile --durations=15 tests
