"""The typed errors of a processor call. None of them carries a key, a signature or Stripe's
raw answer: their messages are safe to show and to log."""

from app.core.errors import NON_FIELD_ERRORS, AppError, ValidationFailed


class ProcessorError(AppError):
    """The processor did not do what was asked, for a reason other than a declined card (those are
    answers: an Intent whose status is `failed`). `code` is Stripe's error code when it gave one
    (`resource_missing`, `rate_limit`, …), `retryable` whether sending the same call again, with
    the same idempotency key, may succeed (the network, a rate limit, Stripe's own 5xx)."""

    status_code = 502
    default_detail = "The payment processor did not complete the request."

    def __init__(
        self, detail: str | None = None, *, code: str | None = None, retryable: bool = False
    ) -> None:
        super().__init__(detail)
        self.code = code
        self.retryable = retryable


class BadSignature(ValidationFailed):
    """A webhook refused: its Stripe-Signature is missing, does not match the raw body, or is
    older than STRIPE_WEBHOOK_TOLERANCE_SECONDS; or the signed body is not a Stripe event."""

    def __init__(self, reason: str) -> None:
        super().__init__({NON_FIELD_ERRORS: [f"Webhook refused: {reason}"]})
        self.reason = reason


class PaymentsDisabled(ValidationFailed):
    """A card payment, a card on file or a webhook while PAYMENTS_PROVIDER is none."""

    MESSAGE = (
        "Card payments are not enabled on this service (PAYMENTS_PROVIDER=none): record a cash, "
        "cheque or bank transfer payment instead."
    )

    def __init__(self) -> None:
        super().__init__({NON_FIELD_ERRORS: [self.MESSAGE]})
