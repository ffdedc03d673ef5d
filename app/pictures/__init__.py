"""Profile pictures: checked and re-encoded, kept in a folder or S3, named by the patient's record.

- images.py, slots.py: Pillow's decode and re-encode, and the worker's shared decode slots.
- stores.py, s3.py: where pictures are kept: a folder, or S3-compatible object storage.
- no repository.py, schemas.py: a picture is a column of the patient, written and read
  through the patients' repository, and answered as the patient (PatientRead).
"""
