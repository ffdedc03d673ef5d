"""Measurement-based care: standard questionnaires (PHQ-9, GAD-7) defined as data, scored, with
their safety rules, and exported as FHIR R4. Adding an instrument is a new file in instruments/.

- instruments.py: the instrument file format, read strictly, and the instruments shipped.
- scoring.py: a response's total, band and safety rules met; a patient's trend.
- fhir.py: a stored response as a QuestionnaireResponse and its total as an Observation.
- no routes.py, dependencies.py, service.py, repository.py, schemas.py: the domain core comes
  first; its tables, endpoints and worker are built on it.
"""
