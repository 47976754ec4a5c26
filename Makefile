# The two commands of the README: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# What running needs, and what the tests need on top (a browser driver, checkers, linters).
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/keystead
# Debian packages running needs: headers python-ldap builds against, and xmlsec1, which
# pysaml2 calls to sign, verify and encrypt SAML messages.
RUN_DEBS := libldap2-dev libsasl2-dev xmlsec1
# Debian packages the test suite drives as real components: a browser, an independent TOTP
# generator, OpenLDAP, Samba's Active Directory domain controller, an independent SAML
# implementation (lasso), PAM's test driver and headers, and the local password-quality library.
TEST_DEBS := chromium oathtool slapd ldap-utils samba samba-ad-dc samba-ad-provision \
	winbind krb5-user python3-lasso pamtester libpam0g-dev python3-pwquality dbus \
	python3-dbusmock
# Services those packages start on installation; the tests start their own on loopback.
STOP_SERVICES := slapd samba samba-ad-dc smbd nmbd winbind
# Install Debian packages that are missing (idempotent: nothing runs when all are there).
define apt_install
	@missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  for s in $(STOP_SERVICES); do service $$s stop >/dev/null 2>&1 || true; done; \
	fi
endef
# axe-core, the accessibility checker the browser tests inject into every page.
AXE_VERSION := 4.14.1
AXE := var/axe/node_modules/axe-core/axe.min.js

.PHONY: run test install test-deps lint bench-deps bench bench-tokens bench-provision clean

$(STAMP): pyproject.toml
	$(call apt_install,$(RUN_DEBS))
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(DEV_STAMP)

install: $(DEV_STAMP)

run: $(STAMP)
	$(BIN)/keystead migrate
	$(BIN)/keystead createadmin --if-none
	$(BIN)/keystead serve --bind 127.0.0.1:8000

test-deps: $(DEV_STAMP)
	$(call apt_install,$(TEST_DEBS))
	@grep -qs '"version": "$(AXE_VERSION)"' var/axe/node_modules/axe-core/package.json || \
	  npm install --silent --no-audit --no-fund --no-save --prefix var/axe axe-core@$(AXE_VERSION)
	$(MAKE) -C agent/pam  # the endpoint agent's PAM module, which tests/agent drives

test: test-deps
	$(BIN)/ruff check src tests $(wildcard bench)
	KEYSTEAD_DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/pytest -n 2 --dist loadgroup --durations=15
	KEYSTEAD_DATABASE_URL=sqlite:///$(CURDIR)/var/test-smoke.sqlite3 $(BIN)/pytest -m smoke -p no:xdist

# Password sign-ins/s through the web servers (granian, which keystead serve runs, and
# gunicorn's gthread worker, in the same run) on PostgreSQL against raw argon2id/s on the same
# cores (docs/performance.md). Not part of `make test`: it recreates the keystead_bench database
# and wants a quiet machine. Options through BENCH_ARGS, e.g.
# BENCH_ARGS="--seconds 60 --workers 3 --servers granian --database keystead_bench_2".
BENCH_ARGS ?=
# wrk (Debian) drives both benchmarks: a C load generator takes little of the shared cores.
# gunicorn is not a dependency of Keystead; the benchmarks start it to compare.
bench-deps: $(DEV_STAMP)
	@dpkg-query -W -f='$${Status}\n' wrk 2>/dev/null | grep -q 'install ok installed' || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk; }
	@test -x $(BIN)/gunicorn || $(BIN)/pip install --quiet 'gunicorn>=25.1'

bench: bench-deps
	$(BIN)/python bench/login.py $(BENCH_ARGS)

# Refresh-token and client-credentials grants/s against raw RS256 signing/s on the same cores
# (docs/performance.md). Same servers, database and options as `bench`.
bench-tokens: bench-deps
	$(BIN)/python bench/tokens.py $(BENCH_ARGS)

# Accounts with passwords to slapd through the queue (2 workers) against the same adds and
# RFC 3062 password sets done directly with python-ldap (docs/performance.md).
bench-provision: $(DEV_STAMP)
	$(call apt_install,slapd)
	$(BIN)/python bench/provision.py $(BENCH_ARGS)

lint: $(DEV_STAMP)
	$(BIN)/ruff check src tests $(wildcard bench)

clean:
	rm -rf $(VENV) var .pytest_cache
