"""Statements and superbills: a patient's statement of a period (its invoices, payments, refunds
and balance) and the superbill a patient sends an insurer for out-of-network reimbursement, each
answered as JSON and as a PDF drawn from that JSON; and the patient's diagnosis codes the
superbill lists.

- pdf.py: the PDF rendering (fpdf2) of the two documents, kept apart from the schemas it draws.
"""
