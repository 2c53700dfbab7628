# Developer entry points. `make run` for a local portal, `make test` for the whole suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PORTAL_ADDR ?= 127.0.0.1:8000
SIMULATOR_PORT ?= 8001
# The portal and the reconciler talk to the simulator this target starts, on whatever port it was given.
NSML_API_URL ?= http://127.0.0.1:$(SIMULATOR_PORT)/nsml/v1
# The links in the emails (expiry reminders, sent by the reconciler) point at the address the portal is served on.
PORTAL_URL ?= http://$(PORTAL_ADDR)

.PHONY: install run test lint messages clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

RECONCILE_EVERY ?= 30
# The portal and the reconciler count into one metrics directory, so /metrics (with METRICS_TOKEN set) shows
# the reconciler's NSML calls too; emptied at each start.
METRICS_DIR ?= $(CURDIR)/var/metrics

# The simulator and the reconciler run in the background; the trap stops them when the portal stops
# (one Ctrl-C stops all three).
run: install
	$(PY) manage.py migrate --noinput
	@$(PY) manage.py ensure_admin
	@mkdir -p $(METRICS_DIR) && rm -f $(METRICS_DIR)/*.db
	@echo "Portal: http://$(PORTAL_ADDR)/  (admin console: http://$(PORTAL_ADDR)/admin/). Ctrl-C stops all three."
	@trap 'kill $$sim $$sync 2>/dev/null; wait $$sim $$sync 2>/dev/null' EXIT INT TERM; \
	export PROMETHEUS_MULTIPROC_DIR=$(METRICS_DIR); \
	$(PY) manage.py nsml_simulator --port $(SIMULATOR_PORT) --state-file var/nsml-simulator.json $(SIMULATOR_ARGS) & sim=$$!; \
	NSML_API_URL=$(NSML_API_URL) PORTAL_URL=$(PORTAL_URL) $(PY) manage.py nsml_sync --apply --every $(RECONCILE_EVERY) & sync=$$!; \
	NSML_API_URL=$(NSML_API_URL) PORTAL_URL=$(PORTAL_URL) $(PY) manage.py runserver $(PORTAL_ADDR)

test: install
	@test -x /usr/bin/chromium || echo "NOTE: Debian chromium is not installed, so the browser tests (tests/browser) will be SKIPPED. Install it with: apt-get install chromium"
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

messages: install
	$(PY) manage.py makemessages -l ko --ignore=.venv --no-obsolete
	$(PY) manage.py compilemessages --ignore=.venv

clean:
	rm -rf $(VENV) staticfiles var db.sqlite3

# Benchmarks: the portal under gunicorn with production settings, PostgreSQL database `bench` (dropped
# and loaded again), the NSML simulator and locust, all on loopback; about 10 minutes. bench/README.md.
.PHONY: bench
bench: install
	$(PY) bench/run.py
