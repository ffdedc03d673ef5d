"""Appointment reminders: the outbox the bookings write, sent by `python -m app worker`."""
