"""Appointments: bookings of a therapist's time for a patient, which PostgreSQL keeps from
overlapping, and recurring series of them.

- series.py: a series' RRULE expanded into occurrences in wall time, pure and apart from the SQL.
"""
