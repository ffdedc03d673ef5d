"""Measurement-based care: standard questionnaires (PHQ-9, GAD-7) defined as data, assigned to
patients, answered (or administered in session), scored, charted over time and exported as FHIR
R4; a response that meets a safety rule raises an alert in its own transaction. Adding an
instrument is a new file in instruments/.

- instruments.py: the instrument file format, read strictly, and the instruments shipped.
- scoring.py: a response's total, band and safety rules met; a patient's trend.
- chart.py: a patient's totals on an instrument as an SVG chart drawn by the server (the admin's).
- fhir.py: a stored response as a QuestionnaireResponse and its total as an Observation.
"""
