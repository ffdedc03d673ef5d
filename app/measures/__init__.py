"""Measurement-based care: requests mailed before appointments, and safety alerts that cannot be
lost.

- worker.py: the measures' cycle of `python -m app worker` (plan, cancel, send and expire the
  requests; send the alerts' mails; escalate), run beside the reminders.
- outbox_repository.py: the SQL of the requests' and the alerts' outboxes, as the worker runs it.
- alerts.py: raising a safety alert in the response's own transaction.
- no routes.py, dependencies.py, service.py, repository.py, schemas.py: the endpoints are built
  beside the worker (the lead merges them); the worker's rows are declared with its SQL.
"""
