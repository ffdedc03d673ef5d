"""Invoices, as Stripe models them (draft, open, paid, void, uncollectible): manual ones written
by staff and issued by admins, and those an appointment brings, issued in the transaction that
fulfils it or charges its fee. Numbers run per year with no gap; amounts due are sums over the
ledger (app.ledger)."""
