"""Idempotency-Key on POST: a retried write answered with its first response, stored in the
write's own transaction.

- no routes.py, service.py: it has no endpoint; a write endpoint takes its
  dependency (`Idempotent`), which does the whole job around the endpoint.
"""
