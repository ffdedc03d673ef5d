"""Clinical notes: progress notes of appointments, and psychotherapy notes."""
