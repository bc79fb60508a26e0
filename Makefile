# ipsecfleet.routeros — developer entry points. `make demo` and `make test` are all a newcomer needs.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
COLLECTIONS := .collections
COLLECTION_LINK := $(COLLECTIONS)/ansible_collections/ipsecfleet/routeros
SANITY_ROOT := build/sanity/ansible_collections/ipsecfleet/routeros
LAB_STATE := .lab
LAB_TOPOLOGY := inventories/lab/topology.yml
# optional: the lab's first API port (default: roslab's) and clock speed (0: moves only with roslab clock advance)
LAB_BASE_PORT ?=
LAB_SPEED ?=
STAMP := $(VENV)/.setup-stamp
# the newest Ansible on PyPI (requirements-newest.txt) in a second venv; ansible-core 2.20+ needs
# Python 3.12+: python3.12/python3.13 on PATH, else pyenv's, else set PYTHON_NEWEST
NEWEST_VENV := .venv-newest
NEWEST_STAMP := $(NEWEST_VENV)/.setup-stamp
# (a candidate must run: pyenv's python3.12 shim exists on PATH but fails unless 3.12 is selected)
PYTHON_NEWEST ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12 $(HOME)/.pyenv/versions/3.13*/bin/python3.13) \
  $(foreach p,python3.12 python3.13,$(shell $(p) -c 'import sys; print(sys.executable)' 2>/dev/null)))
# what runs on the newest Ansible (about 4 minutes on 2 cores): the unit tests and the playbook
# integration tests (site.yml, status.yml, rollout.yml, the roles, ansible-runner, the observe playbooks and
# their HTML report in Chromium) against in-process labs
NEWEST_TESTS := tests/unit tests/integration/test_suite_change_demo.py tests/integration/test_roles_playbook.py \
  tests/integration/test_site_playbooks.py tests/integration/test_awx_runner.py tests/integration/test_rollout_playbook.py \
  tests/integration/test_observe_playbooks.py tests/integration/test_leftovers_playbooks.py \
  tests/integration/test_client_profiles_playbook.py \
  tests/roslab/tests/test_conformance_api_modify.py tests/roslab/tests/test_api_ssl.py
# ansible-test's pinned pip version (ansible_test/_internal/python_requirements.py)
ANSIBLE_TEST_PIP := 24_2
# e.g. make sanity SANITY_TESTS="--test validate-modules" to run one test while working
SANITY_TESTS ?=

export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/$(COLLECTIONS)
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: help setup setup-chromium demo test test-newest lint sanity unit molecule bench lab-up lab-down lab-status docs docs-lint build ansible-doc clean

help:  ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt tests/roslab/pyproject.toml
	command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is required (the machine default Python 3.11)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check -e tests/roslab
	touch $@

setup: $(STAMP)  ## create .venv, install pinned requirements, link the checkout as a collection
	mkdir -p $(dir $(COLLECTION_LINK))
	ln -sfn ../../.. $(COLLECTION_LINK)
	mkdir -p $(HOME)/.ansible/test/cache
	cp tools/get_pip_offline.py $(HOME)/.ansible/test/cache/get_pip_$(ANSIBLE_TEST_PIP).py

setup-chromium:  ## install Debian's chromium for the HTML report test (.ci/run does this too; needs root)
	@command -v chromium >/dev/null && echo "chromium: $$(command -v chromium)" || \
	  { apt-get update -qq && apt-get install -y -qq chromium; }

demo: setup  ## set up, start the lab (unless running), run playbooks/site.yml, wait for and show the tunnels
	@# re-running the demo reuses a running lab; one without a fabric (an older roslab, --no-fabric)
	@# would never negotiate, so it is refused rather than waited on
	@if lab_status=$$($(BIN)/roslab status --state-dir $(LAB_STATE) 2>/dev/null); then \
	  echo "demo: using the lab already running in $(LAB_STATE)"; \
	  grep -q '^lab clock:' <<<"$$lab_status" || { echo "demo: the lab in $(LAB_STATE) runs without" \
	    "a fabric, so tunnels cannot negotiate: run 'make lab-down' and then 'make demo'" >&2; exit 1; }; \
	else $(MAKE) --no-print-directory lab-up; fi
	$(BIN)/ansible-playbook -i inventories/lab/hosts.yml -i $(LAB_STATE)/inventory.yml playbooks/site.yml
	$(BIN)/ansible-playbook -i inventories/lab/hosts.yml -i $(LAB_STATE)/inventory.yml playbooks/status.yml

test: setup lint sanity unit molecule docs-lint build ansible-doc test-newest  ## set up and run every test
	@echo "make test: all gates passed"

$(NEWEST_STAMP): requirements-newest.txt requirements.txt tests/roslab/pyproject.toml
	@test -n "$(PYTHON_NEWEST)" || { echo "test-newest: the newest ansible-core needs Python >= 3.12:" \
	  "install python3.12 or python3.13, or set PYTHON_NEWEST=/path/to/python3.12"; exit 1; }
	test -x $(NEWEST_VENV)/bin/python || $(PYTHON_NEWEST) -m venv $(NEWEST_VENV)
	$(NEWEST_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-newest.txt
	$(NEWEST_VENV)/bin/pip install --quiet --disable-pip-version-check -e tests/roslab
	touch $@

test-newest: setup $(NEWEST_STAMP)  ## unit + playbook integration tests on the newest ansible-core (.venv-newest)
	@$(NEWEST_VENV)/bin/python -c 'from ansible.release import __version__ as v; from ansible_collections.ansible_release import ansible_version as a; print("test-newest: ansible", a, "ansible-core", v)'
	PATH=$(CURDIR)/$(NEWEST_VENV)/bin:$$PATH $(NEWEST_VENV)/bin/python -m pytest -q -n 2 $(NEWEST_TESTS)

lint: setup  ## ansible-lint (production profile) and the changelog fragments
	$(BIN)/ansible-lint --profile production --offline
	$(BIN)/antsibull-changelog lint

sanity: setup  ## ansible-test sanity on a copy of the collection (empty ignore files)
	rm -rf build/sanity && mkdir -p $(SANITY_ROOT)
	# the lab, tools and benchmarks are Python 3.11 test tooling, not collection content
	git ls-files -co --exclude-standard | grep -Ev '^(\.collections|tests/roslab|tools|benchmarks)/' \
	  | tar -cf - -T - | tar -xf - -C $(SANITY_ROOT)
	# collections our plugins import or take doc fragments from sit beside the copy, as on Galaxy
	for c in community/routeros ansible/utils; do mkdir -p build/sanity/ansible_collections/$$(dirname $$c); \
	  ln -sfn $$($(BIN)/python -c 'import ansible_collections as a; print(list(a.__path__)[-1])')/$$c \
	    build/sanity/ansible_collections/$$c; done
	# ansible-test lists files with git; the copy gets a repository of its own
	cd $(SANITY_ROOT) && git init -q && git add -A
	cd $(SANITY_ROOT) && $(CURDIR)/$(BIN)/ansible-test sanity --color no --python 3.11 --venv --requirements $(SANITY_TESTS)

unit: setup  ## pytest: collection unit tests and the lab's own tests
	$(BIN)/python -m pytest -q -n 2

molecule: setup  ## every Molecule scenario in extensions/molecule (delegated driver, lab routers)
	@scenarios=$$(ls extensions/molecule 2>/dev/null | grep -v '^\.' || true); \
	if [ -z "$$scenarios" ]; then echo "molecule: no scenarios yet"; exit 0; fi; \
	cd extensions && for s in $$scenarios; do \
	  [ -f molecule/$$s/molecule.yml ] || continue; \
	  $(CURDIR)/$(BIN)/molecule test -s $$s; done

bench: setup  ## benchmarks: ratios measured side by side in one run
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b; done

lab-up: setup  ## start the lab routers of inventories/lab/topology.yml in the background
	$(BIN)/roslab up --topology $(LAB_TOPOLOGY) --state-dir $(LAB_STATE) \
	  $(if $(LAB_BASE_PORT),--base-port $(LAB_BASE_PORT)) $(if $(LAB_SPEED),--speed $(LAB_SPEED))

lab-down:  ## stop the lab
	$(BIN)/roslab down --state-dir $(LAB_STATE)

lab-status:  ## list lab routers
	$(BIN)/roslab status --state-dir $(LAB_STATE)

docs: setup  ## generate reference docs from the schemas (intent, modules, role READMEs); fails when a generator fails
	@for g in tools/gen_*_docs.py; do $(BIN)/python $$g || { echo "docs: $$g failed" >&2; exit 1; }; done

docs-lint: setup  ## antsibull-docs checks the collection's documentation; generated docs are current
	$(BIN)/python tools/gen_intent_docs.py --check
	$(BIN)/python tools/gen_role_docs.py --check
	$(BIN)/python tools/gen_observe_docs.py --check
	$(BIN)/antsibull-docs lint-collection-docs --plugin-docs --skip-rstcheck --validate-collection-refs all $(COLLECTION_LINK)

build: setup  ## ansible-galaxy collection build into build/
	mkdir -p build && $(BIN)/ansible-galaxy collection build --force --output-path build .

ansible-doc: setup  ## every module renders with ansible-doc
	@mods=$$($(BIN)/ansible-doc -t module -l ipsecfleet.routeros 2>/dev/null | awk '{print $$1}'); \
	for m in $$mods; do $(BIN)/ansible-doc -t module $$m >/dev/null; echo "ansible-doc ok: $$m"; done

clean:  ## remove the venv, build output and lab state
	-$(BIN)/roslab down --state-dir $(LAB_STATE) 2>/dev/null
	rm -rf $(VENV) $(NEWEST_VENV) $(COLLECTIONS) build $(LAB_STATE)
