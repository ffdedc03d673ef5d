"""Money in the admin: invoices by status; an invoice with its lines, payments and figures, where
staff record a cash, cheque or bank transfer payment and admins void it, write it off or refund
a payment; the payments a dispute was opened on (admins); and a patient's balance and cards.
Everything goes through the API's InvoiceService, PaymentService and CardService in the audited
unit of work, so their rules, messages and roles (docs/roles.md) are the admin's too."""

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqladmin import BaseView, expose
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.admin.services import AdminServices, flash, path_id, signed_in
from app.admin.views import admins_only, services_of
from app.audit.actions import Action
from app.auth.permissions import Principal
from app.cards.service import CardService
from app.core.conditional import Versions
from app.core.errors import (
    AppError,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    ValidationFailed,
    validation_errors,
)
from app.core.ids import BIGINT_MAX, INTEGER_MAX, parse_id
from app.invoices.schemas import InvoiceQuery, Reason
from app.invoices.service import Invoice, InvoiceService
from app.models.invoices import INVOICE_STATUSES
from app.models.ledger import MEMO_MAX_LENGTH
from app.models.patient import is_patient_id
from app.models.payments import REFERENCE_MAX_LENGTH
from app.patients.service import PatientService
from app.payments.payment_service import Paid, PaymentService
from app.payments.schemas import PaymentCreate, RefundCreate

PAGE_SIZE = 50
OPEN_INVOICES_SHOWN = 100  # on a patient's balance page; the sum owed counts them all
MANUAL_METHODS = {"cash": "Cash", "cheque": "Cheque", "bank_transfer": "Bank transfer"}
STALE = "The invoice changed since this page was read: check it, then try again."
MANUAL_ONLY = "Choose cash, cheque or bank transfer."
M = TypeVar("M", bound=BaseModel)


@dataclass
class Refused:
    """A form of the invoice page whose submission a service refused: what was typed, and the
    messages next to its fields (`fields`) or above them."""

    form: str  # pay, void, write_off, or refund-<payment id>
    values: Mapping[str, str]
    fields: dict[str, list[str]] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)


def _page(request: Request) -> int:
    value = request.query_params.get("page", "1")
    return int(value) if value.isascii() and value.isdigit() and 0 < int(value) < 10**6 else 1


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _validated(schema: type[M], data: Mapping[str, Any]) -> M:
    try:
        return schema.model_validate(data)
    except ValidationError as error:
        raise ValidationFailed(validation_errors(error.errors())) from None


def _versions(value: str) -> Versions:
    """The invoice's version the page was read at: a change since is refused (the API's
    If-Match); none when the form sent none."""
    version = parse_id(value, INTEGER_MAX)
    return None if version is None else {version}


def _local(moment: datetime | None, services: AdminServices) -> str:
    if moment is None:
        return "—"
    return f"{moment.astimezone(services.settings.clinic_zone):%Y-%m-%d %H:%M}"


def _invoice_label(row: Mapping[str, Any]) -> str:
    return str(row["number"] or f"draft #{row['id']}")


class InvoicesView(BaseView):
    """Every staff member reads invoices and records manual payments (as in the API); voids,
    write-offs and refunds are admins' (a therapist's 403, audited)."""

    name = "Invoices"
    icon = "fa-solid fa-file-invoice-dollar"

    # The menu links to the first page exposed here.
    @expose("/invoices", methods=["GET"], identity="invoices")
    async def invoices(self, request: Request) -> Response:
        services = services_of(self)
        try:
            query = InvoiceQuery.model_validate(
                {
                    "status": request.query_params.get("status", ""),
                    "patient": request.query_params.get("patient", ""),
                }
            )
        except ValidationError:
            query = InvoiceQuery()  # a filter the API could not take: every invoice
        page = _page(request)
        exact_up_to = services.settings.list_exact_count_limit or None
        async with services.work(request, Action.ADMIN_LIST_INVOICES, None) as work:
            invoices = InvoiceService(work, services.settings)
            filters = invoices.scope(query, signed_in(request))
            counted = await invoices.count(filters, exact_up_to=exact_up_to)
            found = await invoices.page(filters, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE + 1)
        context = {
            "statuses": INVOICE_STATUSES,
            "status": query.status,
            "patient": query.patient,
            "count": counted,
            "invoices": [
                {
                    **invoice.row,
                    "label": _invoice_label(invoice.row),
                    "issued": _local(invoice.row["issued_at"], services),
                }
                for invoice in found[:PAGE_SIZE]
            ],
            "page": page,
            "has_next": len(found) > PAGE_SIZE,
        }
        response: Response = await self.templates.TemplateResponse(
            request, "invoice_list.html", context
        )
        return response

    @expose("/invoices/{pk}", methods=["GET"], identity="invoice")
    async def invoice(self, request: Request) -> Response:
        return await self._invoice_page(request, path_id(request, "pk"))

    @expose("/invoices/{pk}/pay", methods=["POST"], identity="invoice-pay")
    async def pay(self, request: Request) -> Response:
        """A cash, cheque or bank transfer payment of the invoice's whole amount due."""
        invoice_id = path_id(request, "pk")
        services = services_of(self)
        form = await request.form()
        values = {"method": _text(form, "method"), "reference": _text(form, "reference")}
        try:
            async with services.work(request, Action.ADMIN_PAY_INVOICE, None) as work:
                if values["method"] not in MANUAL_METHODS:
                    raise ValidationFailed.on("method", MANUAL_ONLY)
                payload = _validated(
                    PaymentCreate,
                    {
                        "invoices": [invoice_id],
                        "method": values["method"],
                        "reference": values["reference"] or None,
                    },
                )
                payments = PaymentService(work, services.settings, services.processor)
                paid = await payments.pay(payload, signed_in(request))
        except AppError as error:
            return await self._refused(request, invoice_id, "pay", values, error)
        payment = paid.payment
        flash(
            request,
            f"Payment {payment['id']} of {payment['amount']:.2f} {payment['currency']} "
            f"recorded ({MANUAL_METHODS[payment['method']].lower()}).",
        )
        return self._to_invoice(request, invoice_id)

    @expose("/invoices/{pk}/void", methods=["POST"], identity="invoice-void")
    async def void(self, request: Request) -> Response:
        async def void(
            invoices: InvoiceService, invoice_id: int, reason: Reason, me: Principal, v: Versions
        ) -> Invoice:
            return await invoices.void(invoice_id, reason.reason, me, v)

        return await self._close(request, "void", Action.ADMIN_VOID_INVOICE, void, "voided")

    @expose("/invoices/{pk}/write-off", methods=["POST"], identity="invoice-write-off")
    async def write_off(self, request: Request) -> Response:
        async def write_off(
            invoices: InvoiceService, invoice_id: int, reason: Reason, me: Principal, v: Versions
        ) -> Invoice:
            return await invoices.write_off(invoice_id, reason.reason, me, v)

        return await self._close(
            request, "write_off", Action.ADMIN_WRITE_OFF_INVOICE, write_off, "written off"
        )

    @expose("/payments/{pk}/refund", methods=["POST"], identity="payment-refund")
    async def refund(self, request: Request) -> Response:
        """Refund part or all of what is left of a succeeded payment (admins); the page it
        came from, an invoice's, shows the outcome."""
        payment_id = path_id(request, "pk")
        services = services_of(self)
        await self._admins_only(request, Action.ADMIN_REFUND_PAYMENT)
        form = await request.form()
        invoice_id = parse_id(_text(form, "invoice"), BIGINT_MAX)
        values = {"amount": _text(form, "amount"), "reason": _text(form, "reason")}
        try:
            async with services.work(request, Action.ADMIN_REFUND_PAYMENT, None) as work:
                payload = _validated(
                    RefundCreate,
                    {"amount": values["amount"] or None, "reason": values["reason"] or None},
                )
                payments = PaymentService(work, services.settings, services.processor)
                refund = await payments.refund(payment_id, payload, signed_in(request))
        except AppError as error:
            if invoice_id is None:
                raise HTTPException(status_code=error.status_code) from None
            return await self._refused(request, invoice_id, f"refund-{payment_id}", values, error)
        flash(request, f"Refunded {refund['amount']:.2f} of payment {payment_id}.")
        if invoice_id is None:
            return RedirectResponse(request.url_for("admin:view-invoices"), status_code=302)
        return self._to_invoice(request, invoice_id)

    async def _close(
        self,
        request: Request,
        form_name: str,
        action: Action,
        close: Callable[[InvoiceService, int, Reason, Principal, Versions], Awaitable[Invoice]],
        done: str,
    ) -> Response:
        """Void an invoice or write it off (admins), with a reason, at the version read."""
        invoice_id = path_id(request, "pk")
        services = services_of(self)
        await self._admins_only(request, action)
        form = await request.form()
        values = {"reason": _text(form, "reason"), "version": _text(form, "version")}
        try:
            async with services.work(request, action, None) as work:
                reason = _validated(Reason, {"reason": values["reason"] or None})
                invoices = InvoiceService(work, services.settings)
                closed = await close(
                    invoices, invoice_id, reason, signed_in(request), _versions(values["version"])
                )
        except AppError as error:
            return await self._refused(request, invoice_id, form_name, values, error)
        flash(request, f"Invoice {_invoice_label(closed.row)} {done}.")
        return self._to_invoice(request, invoice_id)

    async def _admins_only(self, request: Request, action: Action) -> None:
        """The API's admin-only money endpoints: anyone else is refused, and audited."""
        if not admins_only(request):
            await services_of(self).audit_apart(request, action, None, 403)
            raise HTTPException(status_code=403)

    async def _refused(
        self,
        request: Request,
        invoice_id: int,
        form_name: str,
        values: Mapping[str, str],
        error: AppError,
    ) -> Response:
        """The invoice page again, the refusal shown in the form that was sent (as the other
        admin forms show theirs), with the refusal's status."""
        if isinstance(error, NotFound):
            raise HTTPException(status_code=404) from None
        if isinstance(error, PermissionDenied):
            raise HTTPException(status_code=403) from None
        refused = Refused(form_name, values)
        if isinstance(error, ValidationFailed):
            for name, messages in error.errors.items():
                if name in values and name != "version":
                    refused.fields[name] = list(messages)
                else:
                    refused.messages.extend(messages)
        elif isinstance(error, PreconditionFailed):
            refused.messages.append(STALE)
        else:
            refused.messages.append(str(error.detail))
        return await self._invoice_page(request, invoice_id, refused, error.status_code)

    async def _invoice_page(
        self,
        request: Request,
        invoice_id: int,
        refused: Refused | None = None,
        status_code: int = 200,
    ) -> Response:
        services = services_of(self)
        me = signed_in(request)
        try:
            async with services.work(request, Action.ADMIN_GET_INVOICE, None) as work:
                invoice = await InvoiceService(work, services.settings).get(invoice_id, me)
                payments = PaymentService(work, services.settings, services.processor)
                paid = [await payments.get(share["payment_id"], me) for share in invoice.payments]
        except NotFound:
            raise HTTPException(status_code=404) from None
        row = invoice.row
        context = {
            "invoice": {
                **row,
                "label": _invoice_label(row),
                "issued": _local(row["issued_at"], services),
                "paid": _local(row["paid_at"], services),
                "closed": _local(row["closed_at"], services),
                "created": _local(row["created_at"], services),
            },
            "lines": invoice.lines,
            "payments": [
                _payment(share, found, services)
                for share, found in zip(invoice.payments, paid, strict=True)
            ],
            "may_pay": row["status"] == "open" and row["amount_due"] > 0,
            "may_close": admins_only(request) and row["status"] == "open",
            "may_refund": admins_only(request),
            "methods": MANUAL_METHODS,
            "reference_max": REFERENCE_MAX_LENGTH,
            "reason_max": MEMO_MAX_LENGTH,
            "refused": refused,
        }
        response: Response = await self.templates.TemplateResponse(
            request, "invoice_details.html", context, status_code=status_code
        )
        return response

    def _to_invoice(self, request: Request, invoice_id: int) -> Response:
        target = request.url_for("admin:view-invoice", pk=invoice_id)
        return RedirectResponse(target, status_code=302)


def _payment(share: Mapping[str, Any], paid: Paid, services: AdminServices) -> dict[str, Any]:
    """A payment of the invoice as its page shows it: its part of this invoice, and what is
    left of it to refund."""
    payment = paid.payment
    left: Decimal = payment["amount"] - payment["amount_refunded"]
    return {
        **payment,
        "share": share["amount"],
        "method_label": MANUAL_METHODS.get(payment["method"], payment["method"].capitalize()),
        "left": left,
        "refundable": payment["status"] == "succeeded" and left > 0,
        "created": _local(payment["created_at"], services),
        "disputed": _local(payment["disputed_at"], services)
        if payment["disputed_at"] is not None
        else None,
    }


class DisputedPaymentsView(BaseView):
    """The payments a cardholder disputed with their bank, flagged by Stripe's webhook: for
    admins, who answer the dispute at Stripe and may refund here."""

    name = "Disputed payments"
    icon = "fa-solid fa-triangle-exclamation"

    def is_accessible(self, request: Request) -> bool:
        return admins_only(request)

    def is_visible(self, request: Request) -> bool:
        return admins_only(request)

    @expose("/payments/disputed", methods=["GET"], identity="disputed-payments")
    async def disputed(self, request: Request) -> Response:
        services = services_of(self)
        page = _page(request)
        exact_up_to = services.settings.list_exact_count_limit or None
        async with services.work(request, Action.ADMIN_LIST_DISPUTED_PAYMENTS, None) as work:
            payments = PaymentService(work, services.settings, services.processor)
            counted = await payments.disputed_count(exact_up_to=exact_up_to)
            found = await payments.disputed(offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE + 1)
        context = {
            "count": counted,
            "payments": [
                {
                    **paid.payment,
                    "invoices": paid.allocations,
                    "disputed": _local(paid.payment["disputed_at"], services),
                }
                for paid in found[:PAGE_SIZE]
            ],
            "page": page,
            "has_next": len(found) > PAGE_SIZE,
        }
        response: Response = await self.templates.TemplateResponse(
            request, "disputed_payments.html", context
        )
        return response


class PatientBalanceView(BaseView):
    """A patient's money at a glance (linked from the patient's page): what they owe, their
    wallet, their open invoices, their cards on file and autopay. Staff, as the API's reads."""

    name = "Balance and cards"

    def is_visible(self, request: Request) -> bool:
        return False

    @expose("/patients/{pk}/balance", methods=["GET"], identity="patient-balance")
    async def balance(self, request: Request) -> Response:
        patient_id = str(request.path_params.get("pk", ""))
        if not is_patient_id(patient_id):
            raise HTTPException(status_code=404)
        services = services_of(self)
        me = signed_in(request)
        try:
            async with services.work(request, Action.ADMIN_GET_PATIENT_BALANCE, patient_id) as work:
                patient = await PatientService(work).get(patient_id)
                invoices = InvoiceService(work, services.settings)
                owed = await invoices.owed(patient_id)
                filters = invoices.scope(InvoiceQuery(patient=patient_id, status="open"), me)
                open_invoices = await invoices.page(
                    filters, offset=0, limit=OPEN_INVOICES_SHOWN + 1
                )
                cards = CardService(work, services.processor, services.settings)
                autopay = await cards.autopay(patient_id)
                kept = await cards.cards_of(patient_id)
        except NotFound:
            raise HTTPException(status_code=404) from None
        context = {
            "patient": patient,
            "currency": services.settings.currency,
            "owed": owed,
            "open_invoices": [
                {
                    **invoice.row,
                    "label": _invoice_label(invoice.row),
                    "issued": _local(invoice.row["issued_at"], services),
                }
                for invoice in open_invoices[:OPEN_INVOICES_SHOWN]
            ],
            "more_open": len(open_invoices) > OPEN_INVOICES_SHOWN,
            "cards": kept,
            "autopay": {
                **autopay,
                "changed": _local(autopay["autopay_changed_at"], services),
            },
        }
        response: Response = await self.templates.TemplateResponse(
            request, "patient_balance.html", context
        )
        return response


def money_views() -> Sequence[type[BaseView]]:
    return [InvoicesView, DisputedPaymentsView, PatientBalanceView]
