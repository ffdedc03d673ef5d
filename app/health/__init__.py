"""Liveness, readiness and metrics, for operators and their probes: no caller and no audit.

- metrics.py: GET /metrics, guarded by its token or its allowed addresses.
- no dependencies.py, service.py, repository.py, schemas.py: a probe runs one fixed
  check (SELECT 1 on the pool) and answers plain JSON or Prometheus' text.
"""
