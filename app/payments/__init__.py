"""Payments: the billable services the practice bills (a code such as CPT 90834, a name, a
duration and a price in the settings' CURRENCY), kept by admins over the generic repository and
audited service (app.db.repository, app.requests.resources); and each patient's sliding scale,
the percent of a price they pay, set by staff (its statements written by hand). And payments:
chosen invoices paid by a card on file, the wallet or by hand, wallet top-ups, refunds.

- payment_repository.py: the SQL of payments, refunds and processor events, apart from the
  billable services' repository.
- payment_service.py: paying and refunding, whose locks and processor calls the billable
  services' generic service has nothing of.
- webhooks.py: Stripe's events, each applied once with its record.
- autopay.py: the worker's charges of the invoices of patients on autopay.
"""
