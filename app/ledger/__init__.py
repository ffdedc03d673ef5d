"""The ledger: every movement of money as a balanced set of entries, posted by the domains that
move it (invoices, payments, the wallet), and the sums that answer what is owed and held.

- no routes.py: its figures are read through the invoices, payments and wallet endpoints.
- no dependencies.py: it has no routes.
- no service.py: posting is part of the services that move money, in their transactions.
"""
