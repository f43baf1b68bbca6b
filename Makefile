# podnet.calico: developer and CI entry points. Run as root on Debian 12.
SHELL := /bin/bash
ROOT := $(CURDIR)
VENV := $(ROOT)/.venv
BUILD := $(ROOT)/.build
COLL_LINK := $(BUILD)/collections/ansible_collections/podnet/calico

export ANSIBLE_COLLECTIONS_PATH := $(BUILD)/collections
export ANSIBLE_HOME := $(BUILD)/ansible-home
export ANSIBLE_NOCOLOR := 1
export PATH := $(VENV)/bin:$(PATH)
export PODNET_LAB_DIR ?= /tmp/podnet-lab
# Filter and test plugins loaded once before Ansible forks its workers (plugins/callback/preload.py).
export ANSIBLE_CALLBACKS_ENABLED ?= podnet.calico.preload
export PYTHONDONTWRITEBYTECODE := 1
export NO_COLOR := 1
export PY_COLORS := 0

PYTEST := $(VENV)/bin/python -m pytest -p no:cacheprovider
PLAYBOOK := $(VENV)/bin/ansible-playbook -i localhost,

.PHONY: help prep deps venv collection collections lab lab-down test sanity units integration integration-targets build docs changelog molecule bench clean

help:
	@echo "make lab         bring the lab up, deploy and verify, print what it built"
	@echo "make lab-down    remove the lab"
	@echo "make test        every test: sanity, build, docs, units, integration, molecule"
	@echo "make docs        the HTML documentation site (.build/docs/html)"
	@echo "make changelog   release: the fragments become galaxy.yml's version in CHANGELOG.rst"
	@echo "make build       build the collection tarball, install it, run sanity and the lab from it"
	@echo "make sanity | units | integration | integration-targets [T=name] | molecule | bench"

$(BUILD)/deps.stamp: scripts/install-deps.sh
	@mkdir -p $(BUILD)
	bash scripts/install-deps.sh
	@touch $@

$(VENV)/.stamp: requirements/controller.txt requirements/tests.txt requirements/docs.txt scripts/make-venv.sh scripts/get_pip_standin.py
	bash scripts/make-venv.sh
	@touch $@

$(BUILD)/collections.stamp: requirements/collections.txt galaxy.yml scripts/get-collections.py $(VENV)/.stamp
	$(VENV)/bin/python scripts/get-collections.py $(BUILD)/collections
	@touch $@

$(COLL_LINK):
	@mkdir -p $(dir $(COLL_LINK))
	ln -sfn $(ROOT) $(COLL_LINK)

deps: $(BUILD)/deps.stamp
venv: $(VENV)/.stamp
collection: $(COLL_LINK)
collections: $(BUILD)/collections.stamp
prep: deps venv collection collections

lab: prep
	$(PLAYBOOK) playbooks/lab.yml

lab-down: prep
	$(PLAYBOOK) playbooks/lab_down.yml

sanity: prep
	bash scripts/sanity.sh

# The build, docs and changelog tests that take minutes run in their own targets (build, docs).
units: prep
	$(PYTEST) tests/unit -q --ignore=tests/unit/test_build_artifact.py --ignore=tests/unit/test_build_docs.py \
		--ignore=tests/unit/test_build_changelog.py

# The documentation site: antsibull-docs + Sphinx, warnings are errors (.build/docs/html).
docs: prep
	bash scripts/docs.sh
	PODNET_DOCS_BUILT=$(BUILD)/docs $(PYTEST) -q tests/unit/test_build_docs.py

integration: prep
	$(PYTEST) tests/integration -q -rs
	bash scripts/integration-targets.sh

# ansible-test integration targets only (tests/integration/targets/<name>/); T=<name> for one.
integration-targets: prep
	bash scripts/integration-targets.sh $(T)

# The artifact a user installs: build, check its file list, install it into a clean path, run
# ansible-test sanity and the lab's main job from the installed copy (scripts/build.sh).
build: prep
	bash scripts/build.sh

# Deprecation warnings are on everywhere; those that come from the collection fail the layer.
DEPRECATIONS := $(VENV)/bin/python tests/integration/podnet_testlib.py deprecations

molecule: prep
	set -o pipefail; cd $(ROOT) && molecule test --all 2>&1 | tee $(BUILD)/molecule.log
	$(DEPRECATIONS) $(BUILD)/molecule.log

test: prep
	$(MAKE) sanity
	$(MAKE) build
	$(MAKE) docs
	$(MAKE) units
	$(MAKE) integration
	$(MAKE) molecule
	@echo "make test: all layers passed"

# Release: turn changelogs/fragments/ into the section of galaxy.yml's version in
# changelogs/changelog.yaml and CHANGELOG.rst (consumes the fragments; run once per release).
changelog: prep
	antsibull-changelog lint
	antsibull-changelog release
	@echo "changelog: release $$($(VENV)/bin/python -c 'import yaml; print(yaml.safe_load(open("galaxy.yml"))["version"])') written to CHANGELOG.rst"

bench: prep
	bash bench/run.sh

clean:
	rm -rf $(BUILD) tests/output
