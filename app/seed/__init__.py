"""Made-up data, loaded fast for load tests and demos: `python -m app seed` (patients.py: patients,
their wallets and sessions) and `python -m app seed --audit-rows N` (audit.py: the audit trail).

- patients.py, audit.py: what each loads (the command line's `seed` calls them), by COPY.
- words.py: the made-up names, places and notes they draw from.
- no routes.py, dependencies.py, service.py, repository.py, schemas.py: no API and no
  request; it writes with COPY on asyncpg connections of its own, not through Query statements.
"""
