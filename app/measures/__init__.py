"""Measurement-based care: standard questionnaires (PHQ-9, GAD-7) defined as data, assigned to
patients, answered (or administered in session), scored, charted over time and exported as FHIR
R4; requests mailed before appointments, and safety alerts that cannot be lost. Adding an
instrument is a new file in instruments/.

- instruments.py: the instrument file format, read strictly, and the instruments shipped.
- scoring.py: a response's total, band and safety rules met; a patient's trend.
- chart.py: a patient's totals on an instrument as an SVG chart drawn by the server (the admin's).
- fhir.py: a stored response as a QuestionnaireResponse and its total as an Observation.
- worker.py: the measures' cycle of `python -m app worker` (plan, cancel, send and expire the
  requests; send the alerts' mails; escalate), run beside the reminders.
- outbox_repository.py: the SQL of the requests' and the alerts' outboxes, as the worker runs it.
- alerts.py: raising a safety alert in the response's own transaction.
"""
