"""Appointment reminders: the outbox the bookings write, sent by `python -m app worker`.

- worker.py: the polling worker the command line runs, around the service.
- no routes.py, dependencies.py: no endpoint; bookings plan reminders in their own
  work (app.appointments), and the worker sends them.
"""
