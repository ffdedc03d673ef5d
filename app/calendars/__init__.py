"""Therapists' calendar feeds: an iCalendar (.ics) URL behind a revocable secret."""
