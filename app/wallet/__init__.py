"""The wallet: a patient's balance, changed only with its ledger row, by the API and the admin.

- no dependencies.py: its routes take the patients' path parameter.
"""
