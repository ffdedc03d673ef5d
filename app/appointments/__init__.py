"""Appointments: bookings of a therapist's time for a patient, which PostgreSQL keeps from
overlapping, and recurring series of them."""
