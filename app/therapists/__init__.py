"""Therapists: their profile, weekly hours, time off, and the free slots left for booking.

- hours.py: weekly wall-clock hours turned into instants across DST, pure, for service and schemas.
"""
