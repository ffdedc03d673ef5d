"""Clinical notes: progress notes of appointments, and psychotherapy notes.

- no dependencies.py: its routes take the path parameters of appointments and patients.
"""
