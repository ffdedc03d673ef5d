# Two commands for a newcomer: `make run` and `make test`. Only Python >= 3.11 is needed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test schemathesis chaos lint docs docs-serve client format lock migrate clean

$(STAMP): requirements/dev.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

## Start the service on http://127.0.0.1:8000 (embedded PostgreSQL unless DATABASE_URL is set).
run: $(STAMP)
	$(BIN)/python -m app serve

## Run the whole test suite (embedded PostgreSQL unless TEST_DATABASE_URL is set) on
## TEST_WORKERS processes, a database each: make test [PYTEST_ARGS="tests/x.py -x"] [TEST_WORKERS=0].
## Tests that share a module-scoped server run on one worker (--dist loadgroup, tests/conftest.py).
TEST_WORKERS ?= 3
XDIST := $(if $(findstring no:xdist,$(PYTEST_ARGS)),,-n $(TEST_WORKERS) --dist loadgroup)
# Bytecode is cached (whatever the shell says): each worker, and each `python -m app` or uvicorn
# a test starts, would otherwise compile and assertion-rewrite every module again (a third of the
# CPU of a run's collection).
test: $(STAMP)
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)

## Schemathesis against live servers with more examples than CI: make schemathesis EXAMPLES=500 [SEED=…]
## Its shards run side by side on TEST_WORKERS workers; one with PYTEST_ARGS="-k patients".
EXAMPLES ?= 200
schemathesis: $(STAMP)
	SCHEMATHESIS_EXAMPLES=$(EXAMPLES) $(if $(SEED),SCHEMATHESIS_SEED=$(SEED)) env -u PYTHONDONTWRITEBYTECODE \
		$(BIN)/python -m pytest $(XDIST) tests/core/test_schemathesis.py $(PYTEST_ARGS)

## The last step builds the app (no database): an endpoint that breaks a rule of
## app/requests/rules.py (no caller first, no audited route class, an action used twice) fails it.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy app tests alembic bench scripts
	$(BIN)/lint-imports
	$(BIN)/python -m app openapi > /dev/null

## The docs site (docs/, mkdocs.yml) into site/. --strict: a broken link, a missing page or anchor,
## or a page left out of the nav fails the build, as in CI.
docs docs-serve: export NO_MKDOCS_2_WARNING := 1
docs: $(STAMP)
	$(BIN)/mkdocs build --strict

## Preview the docs site, rebuilt on every save (port 8001: make run keeps 8000).
DOCS_ADDR ?= 127.0.0.1:8001
docs-serve: $(STAMP)
	$(BIN)/mkdocs serve --dev-addr $(DOCS_ADDR)

## The typed TypeScript client (needs node and npm): dump the OpenAPI document without a server,
## lint it with Spectral (errors fail), generate its types and compile a client calling every
## operation against them. A document that breaks the client fails here.
CLIENT := clients/typescript
client: $(STAMP)
	cd $(CLIENT) && npm ci --no-audit --no-fund
	$(BIN)/python -m app openapi --output $(CLIENT)/openapi.json
	cd $(CLIENT) && npm run --silent lint:spec
	cd $(CLIENT) && npm run --silent generate
	cd $(CLIENT) && npm run --silent typecheck

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

migrate: $(STAMP)
	$(BIN)/python -m app migrate

## Stop a throwaway PostgreSQL under a write load, then SIGTERM the server: no acknowledged write
## may be lost, failures must be quick 503s, in-flight requests must finish (CHAOS_ARGS: --help).
chaos: $(STAMP)
	$(BIN)/python -m scripts.chaos $(CHAOS_ARGS)

## Two instances on one PostgreSQL and one Redis under a concurrent write load: no lost update,
## one rate limit for both (MULTI_INSTANCE_SERVER_URL, MULTI_INSTANCE_REDIS_URL; MULTI_ARGS: --help).
.PHONY: multi-instance
multi-instance: $(STAMP)
	$(BIN)/python -m scripts.multi_instance $(MULTI_ARGS)

## A streaming replica (pg_basebackup -R) of a throwaway primary on this machine: its lag under
## the service's write load, reads from it, WAL and audit bytes per request (~2 min; docs/operations/scaling.md).
## make replica-lag [REPLICA_ARGS="--seconds 60 --ops update_wallet get"]
.PHONY: replica-lag
replica-lag: $(STAMP)
	$(BIN)/python -m scripts.replica_lag $(REPLICA_ARGS)

## Load benchmark against the database's floor (needs wrk and pgbench; bench/README.md):
## make bench [SIZES="10000 1000000"] [BENCH_ARGS="--duration 20 --reuse"]; BENCH_DATABASE_URL.
SIZES ?= 10000 1000000
.PHONY: bench
bench: $(STAMP)
	$(BIN)/python -m bench --sizes "$(SIZES)" $(BENCH_ARGS)

## The same on one core (issue 12; bench/README.md "One core"): one uvicorn worker on CPU 0, wrk and
## PostgreSQL on CPU 1, beside the ceiling and the asyncpg floor served alike, and the targets
## against the baseline: make bench-one-core [ONE_CORE_SIZES=100000] [BENCH_ARGS="--reuse"].
ONE_CORE_SIZES ?= 100000
.PHONY: bench-one-core
bench-one-core: $(STAMP)
	$(BIN)/python -m bench --one-core --sizes "$(ONE_CORE_SIZES)" $(BENCH_ARGS)

## Instructions per request through the app, counted by valgrind's callgrind (repeatable to about
## 0.1% on a noisy machine, unlike CPU time); needs the database make bench-one-core seeded:
## make bench-instructions [BENCH_ARGS="--service-root ../baseline --ops get"]; the ceiling and the
## service without a part: BENCH_ARGS="--ops get --app ceiling", "--ops get --without middleware".
.PHONY: bench-instructions
bench-instructions: $(STAMP)
	$(BIN)/python -m bench.instructions $(BENCH_ARGS)

## Re-pin the lock files after changing pyproject.toml (needs uv: pip install uv).
lock:
	uv pip compile pyproject.toml --universal --python-version 3.11 -o requirements/base.lock
	uv pip compile pyproject.toml --universal --python-version 3.11 --extra embedded --extra dev -o requirements/dev.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache site
