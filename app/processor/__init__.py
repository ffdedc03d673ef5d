"""The payment processor: the one layer that talks to Stripe, for the payments domain to build on.

Amounts cross it in minor units (money.py), answers come back as typed, frozen results
(results.py), and a decline or a payment that needs the patient's authentication (3-D Secure) is
an answer, not an error. PAYMENTS_PROVIDER=none gives a processor that refuses every call.

- client.py: the Processor protocol, the disabled one, and processor_for(settings) that picks.
- stripe_processor.py: the Stripe implementation (the official SDK's async calls), imported only
  when it is the provider: the SDK costs a worker about 30 MiB.
- errors.py: the typed errors of a processor call, rendered by the one handler.
- money.py: Decimal amounts to and from a currency's minor units.
- results.py: what a processor call answers, and how Stripe's objects are read into it.
- no routes.py, service.py, repository.py, schemas.py: no request reaches the processor but
  through the payments domain's services, and it keeps nothing of its own.
"""
