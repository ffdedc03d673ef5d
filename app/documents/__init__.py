"""Clinical documents: files kept for a patient (referrals, consent forms, letters), checked
from their bytes and stored encrypted.

- sniffing.py: what an upload really is, from its bytes (CPU-bound, run in a worker thread).
- no dependencies.py: its routes take the patients' path parameter and the upload, nothing of
  their own.
"""
