# gaming-box: every command a user or CI needs.  `make help` lists them.
SHELL := /bin/bash
export PATH := $(CURDIR)/.venv/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
N ?= 1
PY := $(CURDIR)/.venv/bin/python

.PHONY: help deps demo test lint sanity unit integration lab-up lab-down lab-status build bench

help:  ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

deps:  ## install Debian packages and the pinned Python tools (.venv)
	@./scripts/install-deps.sh

demo: deps  ## boot a lab desktop, run playbooks/gaming-box.yml on it, show the result
	@./scripts/demo.sh

test: deps  ## lint, sanity, unit, then lab integration and molecule tests
	@./scripts/test.sh

lint: deps  ## ansible-lint (production profile) and Python compile checks
	@./scripts/test.sh lint

sanity: deps  ## ansible-test sanity on the collection
	@./scripts/test.sh sanity

unit: deps  ## unit tests of the pure logic
	@./scripts/test.sh unit

integration: deps  ## the lab tests of `make test` alone
	@./scripts/test.sh integration


lab-up: deps  ## boot N lab guests (make lab-up N=3) and write lab/state/inventory.yml
	@$(PY) -m lab up -n $(N)

lab-down:  ## stop every lab guest and remove overlays, ports and keys
	@$(PY) -m lab down

lab-status:  ## show the lab guests and their state
	@$(PY) -m lab status

build: deps  ## build the collection artifact into .cache/dist
	@mkdir -p .cache/dist && ansible-galaxy collection build --force --output-path .cache/dist .

bench: deps  ## run the benchmarks against lab guests of their own; table in bench/results
	@$(PY) -m pip install -q --disable-pip-version-check -r requirements/bench.txt
	@$(PY) -m bench
