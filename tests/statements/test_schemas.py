"""The statement's and the superbill's shapes: their examples are what they answer, money as
strings with 2 places; the practice comes from the settings."""

from decimal import Decimal

from app.core.config import Settings
from app.statements.schemas import STATEMENT, SUPERBILL, Practice, StatementRead, SuperbillRead


def test_the_examples_are_what_the_schemas_answer():
    assert StatementRead.model_validate(STATEMENT).model_dump(mode="json") == STATEMENT
    assert SuperbillRead.model_validate(SUPERBILL).model_dump(mode="json") == SUPERBILL


def test_money_is_answered_with_two_places():
    statement = StatementRead.model_validate({**STATEMENT, "opening_balance": Decimal("-5")})
    assert statement.model_dump(mode="json")["opening_balance"] == "-5.00"


def test_the_statement_example_adds_up():
    statement = StatementRead.model_validate(STATEMENT)
    totals = statement.totals
    assert statement.closing_balance == (
        statement.opening_balance + totals.invoiced - totals.paid + totals.refunded
    )
    assert totals.invoiced == sum(invoice.total for invoice in statement.invoices)
    assert totals.paid == sum(payment.amount for payment in statement.payments)
    assert totals.refunded == sum(refund.amount for refund in statement.refunds)


def test_the_practice_is_the_settings():
    settings = Settings(
        _env_file=None,
        practice_name="Lakeside",
        practice_address="1 Main St",
        practice_tax_id="123456789",
        practice_npi="1234567893",
    )
    assert Practice.of(settings) == Practice(
        name="Lakeside", address="1 Main St", tax_id="12-3456789", npi="1234567893"
    )
