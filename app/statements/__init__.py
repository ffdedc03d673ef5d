"""Statements and superbills: a patient's statement of a period (its invoices, payments, refunds
and balance) and the superbill a patient sends an insurer for out-of-network reimbursement, each
answered as JSON and as a PDF drawn from that JSON.

- pdf.py: the PDF rendering (fpdf2) of the two documents, kept apart from the schemas it draws.
- no routes.py, dependencies.py, service.py, repository.py: the endpoints and the queries over
  the invoices and the ledger come with them (issue 25); for now only the documents' shapes.
"""
