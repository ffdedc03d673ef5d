"""The admin's pages: patients (list, detail, forms, wallet action, picture) and the audit trail."""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, TypeVar

from pydantic import ValidationError
from sqladmin import ModelView, action, expose
from sqladmin.authorization import custom_action
from sqlalchemy import ColumnElement, Select, Subquery, false, func, inspect, or_, select
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from wtforms import Form

from app.admin.forms import (
    CREATE_FIELDS,
    FORM_GROUPS,
    SEX_CHOICES,
    PatientCreateForm,
    PatientForm,
    current_form,
    initial_data,
    parse,
)
from app.admin.measures import patient_measures
from app.admin.services import AdminServices, current_staff, flash
from app.audit.actions import Action
from app.auth.permissions import Access, may_use
from app.auth.record import Act, may
from app.core.errors import NotFound, ValidationFailed, validation_errors
from app.core.ids import id_maximum, parse_id
from app.db.counting import Counting
from app.models.audit import AuditEvent
from app.models.patient import KEPT, Patient, is_patient_id
from app.patients.schemas import PatientCreate, PatientListQuery, PatientRow, PatientUpdate
from app.patients.service import PatientService, list_filter
from app.pictures.service import PictureService
from app.wallet.schemas import WalletUpdate
from app.wallet.service import WalletService

PayloadT = TypeVar("PayloadT", bound=PatientUpdate)
LOOKUP_FILTER = "sqladmin/filters/lookup_filter.html"
ALL = "__all"
PATIENT_COLUMNS = frozenset(column.key for column in inspect(Patient).columns)
MAX_TAG_CHOICES = 200


class FormInvalid(Exception):
    """The submitted form has errors, shown next to its fields."""

    def __init__(self) -> None:
        super().__init__("Please correct the errors below.")


def services_of(view: object) -> AdminServices:
    services = getattr(getattr(view, "_admin_ref", None), "services", None)
    assert isinstance(services, AdminServices), "the view is added to a TherapyAdmin"
    return services


def _matching(**criteria: Any) -> ColumnElement[bool]:
    """The API list's own filters, so both find the same patients."""
    try:
        return list_filter(PatientListQuery(**criteria))
    except ValidationError:
        return false()


def _filtered(statement: Select[Any], **criteria: Any) -> Select[Any]:
    return statement.where(_matching(**criteria))


class LinkFilter:
    """A sidebar filter of the patient list; its choices are links, as in Django's admin."""

    has_operator = False
    template = LOOKUP_FILTER
    title: str
    parameter_name: str

    async def lookups(
        self, request: Request, model: Any, run_query: Callable[[Select[Any]], Any]
    ) -> list[tuple[str, str]]:
        return [(ALL, "All"), *await self.choices(run_query)]

    async def choices(self, run_query: Callable[[Select[Any]], Any]) -> list[tuple[str, str]]:
        raise NotImplementedError

    async def get_filtered_query(self, query: Select[Any], value: Any, model: Any) -> Select[Any]:
        if not isinstance(value, str) or value in ("", ALL):
            return query
        return self.apply(query, value)

    def apply(self, query: Select[Any], value: str) -> Select[Any]:
        raise NotImplementedError


class SexFilter(LinkFilter):
    title = "Sex"
    parameter_name = "sex"

    async def choices(self, run_query: Callable[[Select[Any]], Any]) -> list[tuple[str, str]]:
        return list(SEX_CHOICES)

    def apply(self, query: Select[Any], value: str) -> Select[Any]:
        return _filtered(query, sex=value)


class TagFilter(LinkFilter):
    title = "Tag"
    parameter_name = "tag"

    async def choices(self, run_query: Callable[[Select[Any]], Any]) -> list[tuple[str, str]]:
        tag = func.jsonb_array_elements_text(Patient.tags).label("tag")
        rows = await run_query(select(tag).distinct().order_by(tag).limit(MAX_TAG_CHOICES))
        return [(row[0], row[0]) for row in rows]

    def apply(self, query: Select[Any], value: str) -> Select[Any]:
        return _filtered(query, tag=[value])


def _midnight(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


CREATED_SINCE: dict[str, tuple[str, Callable[[datetime], datetime]]] = {
    "today": ("Today", lambda now: _midnight(now)),
    "7d": ("Past 7 days", lambda now: now - timedelta(days=7)),
    "30d": ("Past 30 days", lambda now: now - timedelta(days=30)),
    "year": ("This year", lambda now: _midnight(now).replace(month=1, day=1)),
}


class CreatedFilter(LinkFilter):
    title = "Created"
    parameter_name = "created"

    async def choices(self, run_query: Callable[[Select[Any]], Any]) -> list[tuple[str, str]]:
        return [(key, label) for key, (label, _) in CREATED_SINCE.items()]

    def apply(self, query: Select[Any], value: str) -> Select[Any]:
        if value not in CREATED_SINCE:
            return query
        since = CREATED_SINCE[value][1](datetime.now(UTC))
        return query.where(Patient.created_at >= since)


class ClinicView(ModelView):
    """What every view here shares: no export, no file serving, no 500 on a malformed id, and
    only the rows `shown` holds for, in every list, count, page and form."""

    can_export = False
    can_import = False
    shown: ClassVar[ColumnElement[bool] | None] = None  # None: every row

    def valid_pk(self, pk: str) -> bool:
        """Whether `pk` can name a row: an integer primary key within its column's range."""
        return parse_id(pk, id_maximum(self.pk_columns[0])) is not None

    def _none(self) -> Select[Any]:
        return select(self.model).where(false())

    def _of_shown(self, statement: Select[Any]) -> Select[Any]:
        return statement if self.shown is None else statement.where(self.shown)

    def list_query(self, request: Request) -> Select[Any]:
        return self._of_shown(super().list_query(request))

    def count_query(self, request: Request) -> Select[Any]:
        return self._of_shown(super().count_query(request))

    def details_query(self, request: Request) -> Select[Any]:
        if not self.valid_pk(request.path_params["pk"]):
            return self._none()
        return self._of_shown(super().details_query(request))

    def form_edit_query(self, request: Request) -> Select[Any]:
        if not self.valid_pk(request.path_params["pk"]):
            return self._none()
        return self._of_shown(super().form_edit_query(request))

    async def get_object_for_delete(self, value: Any) -> Any:
        if not self.valid_pk(str(value)):
            return None
        return await self._get_object_by_pk(self._of_shown(self._stmt_by_identifier(str(value))))

    async def get_object_filepath(self, identifier: str, column_name: str) -> Any:
        # sqladmin would serve any file a text column names; pictures have their own route.
        raise HTTPException(status_code=404)

    def search_query(self, stmt: Select[Any], term: str) -> Select[Any]:
        if "\x00" in term:
            return stmt.where(false())
        return super().search_query(stmt, term)

    async def count(self, request: Request, stmt: Select[Any] | None = None) -> int:
        """A list's count as the API counts it: exact up to LIST_EXACT_COUNT_LIMIT, PostgreSQL's
        estimate past it. sqladmin counts `SELECT count(*) FROM (<the list's query>)`, which
        read every match of a broad search on every page."""
        froms = stmt.get_final_froms() if stmt is not None else []
        if len(froms) != 1 or not isinstance(froms[0], Subquery):
            return await super().count(request, stmt)
        rows = froms[0].element
        assert isinstance(rows, Select)
        services = services_of(self)
        counted = await Counting(rows).count(
            services.database, {}, exact_up_to=services.settings.list_exact_count_limit or None
        )
        return counted.total


@dataclass(frozen=True)
class Section:
    title: str
    rows: Sequence[tuple[str, object]]


def _shown(value: object) -> object:
    return "—" if value is None or value == "" else value


def patient_sections(patient: Patient) -> list[Section]:
    """The detail page, grouped as a clinic thinks of a patient."""
    return [
        Section(
            "Identity",
            [
                ("Patient id", patient.id),
                ("First name", patient.first_name),
                ("Last name", patient.last_name),
                ("Date of birth", patient.date_of_birth.isoformat()),
                ("Sex", dict(SEX_CHOICES).get(patient.sex, patient.sex)),
                ("SSN", _shown(patient.ssn)),
            ],
        ),
        Section(
            "Contact",
            [
                ("Phone number", patient.phone_no),
                ("Email", _shown(patient.email)),
                ("Address", _shown(patient.address)),
            ],
        ),
        Section(
            "Medical", [("Allergies and medication", _shown(patient.allergies_and_medication))]
        ),
        Section(
            "Notes",
            [
                ("Added note", _shown(patient.added_note)),
                ("About", _shown(patient.about_note)),
                ("Tags", _shown(", ".join(patient.tags or []))),
            ],
        ),
        Section("Finance", [("Wallet balance", f"{patient.wallet_balance:.2f}")]),
        Section(
            "History",
            [
                ("Sessions", len(patient.sessions or [])),
                ("Created", f"{patient.created_at:%Y-%m-%d %H:%M} UTC"),
                ("Updated", f"{patient.updated_at:%Y-%m-%d %H:%M} UTC"),
            ],
        ),
    ]


class PatientAdmin(ClinicView, model=Patient):
    name = "Patient"
    name_plural = "Patients"
    icon = "fa-solid fa-user"

    column_list: ClassVar[Any] = [
        Patient.id,
        Patient.first_name,
        Patient.last_name,
        Patient.phone_no,
        Patient.email,
        Patient.sex,
        Patient.tags,
        Patient.wallet_balance,
        Patient.created_at,
    ]
    column_details_list: ClassVar[Any] = column_list
    column_labels: ClassVar[Any] = {
        Patient.id: "Id",
        Patient.first_name: "First name",
        Patient.last_name: "Last name",
        Patient.phone_no: "Phone",
        Patient.email: "Email",
        Patient.sex: "Sex",
        Patient.tags: "Tags",
        Patient.wallet_balance: "Wallet",
        Patient.created_at: "Created",
    }
    column_formatters: ClassVar[Any] = {
        Patient.tags: lambda patient, _: ", ".join(patient.tags or []),
        Patient.wallet_balance: lambda patient, _: f"{patient.wallet_balance:.2f}",
        Patient.created_at: lambda patient, _: f"{patient.created_at:%Y-%m-%d %H:%M}",
    }
    # Only the placeholder comes from this list: search_query below does the searching.
    column_searchable_list: ClassVar[Any] = [
        Patient.first_name,
        Patient.last_name,
        Patient.phone_no,
        Patient.email,
    ]
    column_sortable_list: ClassVar[Any] = [
        Patient.id,
        Patient.first_name,
        Patient.last_name,
        Patient.wallet_balance,
        Patient.created_at,
    ]
    column_default_sort: ClassVar[Any] = [(Patient.created_at, True)]
    column_filters: ClassVar[Any] = [SexFilter(), TagFilter(), CreatedFilter()]
    page_size = 20
    page_size_options: ClassVar[Any] = [20, 50, 100]

    form_create_rules: ClassVar[Any] = CREATE_FIELDS
    details_template = "patient_details.html"
    edit_template = "patient_edit.html"
    create_template = "patient_create.html"

    shown = KEPT  # a deleted patient is in no view but the deleted patients' page

    def valid_pk(self, pk: str) -> bool:
        return is_patient_id(pk)

    def search_query(self, stmt: Select[Any], term: str) -> Select[Any]:
        """Name words, phone digits or email, with the API list's rules; never encrypted fields."""
        found = [_matching(name=term), _matching(email=term)]
        if any(ch.isdigit() for ch in term):
            found.append(_matching(phone=term))
        return stmt.where(or_(*found))

    def sort_query(self, stmt: Select[Any], request: Request) -> Select[Any]:
        return super().sort_query(stmt, request).order_by(Patient.id)  # stable pages

    async def scaffold_form(self, rules: list[str] | None = None) -> type[Form]:
        return PatientCreateForm if rules == CREATE_FIELDS else PatientForm

    async def get_form_data_for_edit(self, obj: Any) -> dict[str, Any]:
        return initial_data(obj)

    async def create_context(self, request: Request) -> dict[str, Any]:
        return {"form_groups": FORM_GROUPS}

    async def details_context(self, request: Request) -> dict[str, Any]:
        """The patient's questionnaire results, for those who may read them (sqladmin asks
        only once the patient is found)."""
        pk = str(request.path_params["pk"])
        return {"measures": await patient_measures(services_of(self), request, pk)}

    async def edit_context(self, request: Request) -> dict[str, Any]:
        return {"form_groups": FORM_GROUPS}

    async def insert_model(self, request: Request, data: dict[str, Any]) -> Any:
        payload = self._payload(PatientCreate, data)
        return await self._write(
            request,
            Action.ADMIN_CREATE_PATIENT,
            None,
            lambda work: PatientService(work).create(payload),
        )

    async def update_model(self, request: Request, pk: str, data: dict[str, Any]) -> Any:
        payload = self._payload(PatientUpdate, data)
        return await self._write(
            request,
            Action.ADMIN_UPDATE_PATIENT,
            pk,
            lambda work: PatientService(work).update(pk, payload),
        )

    async def delete_model(self, request: Request, pk: Any) -> None:
        services = services_of(self)
        async with services.work(request, Action.ADMIN_DELETE_PATIENT, pk) as work:
            await PatientService(work).delete(pk)

    def _payload(self, schema: type[PayloadT], data: dict[str, Any]) -> PayloadT:
        payload, errors = parse(schema, data)
        if payload is None:  # the form's validate() already showed these
            self._show_errors(errors)
            raise FormInvalid
        return payload

    def _show_errors(self, errors: dict[str, list[str]]) -> None:
        if (form := current_form()) is not None:
            form.show_errors(errors)

    async def _write(
        self, request: Request, action_name: Action, patient_id: str | None, write: Any
    ) -> Patient:
        """One unit of work: the service's write and its audit event (a refusal audited
        apart), as the API's; the form shows a refusal's messages next to their fields."""
        try:
            async with services_of(self).work(request, action_name, patient_id) as work:
                patient: PatientRow = await write(work)
        except ValidationFailed as error:
            self._show_errors(error.errors)
            raise FormInvalid from None
        return _model(patient)

    async def _patient(self, request: Request, action_name: Action, pk: str) -> PatientRow:
        """A patient read through the service (audited as `action_name`); 404 if missing."""
        if not self.valid_pk(pk):
            await services_of(self).audit_apart(request, action_name, pk, 404)
            raise HTTPException(status_code=404)
        try:
            async with services_of(self).work(request, action_name, pk) as work:
                return await PatientService(work).get(pk)
        except NotFound:
            raise HTTPException(status_code=404) from None

    @action(
        "update_wallet",
        label="Change wallet balance",
        add_in_list=True,
        add_in_detail=True,
    )
    async def update_wallet(self, request: Request) -> Response:
        """The wallet form for one patient; the balance changes only through it."""
        pks = [pk for pk in request.query_params.get("pks", "").split(",") if pk]
        if len(pks) != 1:
            flash(
                request, "Select exactly one patient to change the wallet balance of.", error=True
            )
            return RedirectResponse(
                request.url_for("admin:list", identity=self.identity), status_code=302
            )
        patient = await self._patient(request, Action.ADMIN_GET_PATIENT, pks[0])
        return await self._wallet_page(request, patient)

    @expose("/wallet/{pk}", methods=["POST"])
    async def change_wallet(self, request: Request) -> Response:
        """Add a signed amount through WalletService.change, as the API does."""
        if not self.has_permission(request, custom_action("update-wallet")):
            raise HTTPException(status_code=403)
        pk = request.path_params["pk"]
        services = services_of(self)
        if not self.valid_pk(pk):
            await services.audit_apart(request, Action.ADMIN_UPDATE_WALLET, pk, 404)
            raise HTTPException(status_code=404)
        form = await request.form()
        amount, reason = (
            value if isinstance(value := form.get(name), str) else ""
            for name in ("amount", "reason")
        )
        staff = current_staff(request)
        assert staff is not None, "the authentication backend admits only staff"
        try:
            async with services.work(request, Action.ADMIN_UPDATE_WALLET, pk) as work:
                payload = _wallet_update(amount, reason)
                patient = await WalletService(work).change(pk, payload, staff)
        except ValidationFailed as error:
            errors = error.errors
            current = await self._patient(request, Action.ADMIN_GET_PATIENT, pk)
            return await self._wallet_page(request, current, amount, errors, 400, reason=reason)
        except NotFound:
            raise HTTPException(status_code=404) from None
        flash(
            request,
            f"Wallet balance changed by {payload.amount:+.2f} to {patient['wallet_balance']:.2f}.",
        )
        return RedirectResponse(
            request.url_for("admin:details", identity=self.identity, pk=pk), status_code=302
        )

    async def _wallet_page(
        self,
        request: Request,
        patient: PatientRow,
        amount: str = "",
        errors: Mapping[str, Sequence[str]] | None = None,
        status_code: int = 200,
        *,
        reason: str = "",
    ) -> Response:
        errors = errors or {}
        context = {
            "model_view": self,
            "patient": patient,
            "amount": amount,
            "reason": reason,
            "errors": errors.get("amount", []),
            "reason_errors": errors.get("reason", []),
        }
        return await self.templates.TemplateResponse(
            request, "patient_wallet.html", context, status_code=status_code
        )

    @expose("/picture/{pk}")
    async def picture(self, request: Request) -> Response:
        """The profile picture's bytes, for the detail page's <img>."""
        pk = request.path_params["pk"]
        services = services_of(self)
        if not self.valid_pk(pk):
            await services.audit_apart(request, Action.ADMIN_GET_PICTURE, pk, 404)
            raise HTTPException(status_code=404)
        try:
            async with services.work(request, Action.ADMIN_GET_PICTURE, pk) as work:
                pictures = PictureService(
                    work, services.pictures, services.settings, services.picture_decodes
                )
                return await pictures.download(pk)
        except NotFound:
            raise HTTPException(status_code=404) from None


OUTCOMES = [(name, name) for name in ("success", "denied", "not_found", "invalid", "error")]


class AuditFilter(LinkFilter):
    def __init__(self, column: Any, title: str, values: Sequence[str]) -> None:
        self.column = column
        self.title = title
        self.parameter_name = column.key
        self.values = values

    async def choices(self, run_query: Callable[[Select[Any]], Any]) -> list[tuple[str, str]]:
        return [(value, value) for value in self.values]

    def apply(self, query: Select[Any], value: str) -> Select[Any]:
        return query.where(self.column == value) if value in self.values else query


def admins_only(request: Request) -> bool:
    """The API's rule for admin-only endpoints (GET /api/audit/, staff management)."""
    staff = current_staff(request)
    return staff is not None and may_use(staff, Access.ADMIN)


def may_in_record(request: Request, act: Act) -> bool:
    """The API's rule for `act` of the clinical record's table (restores, deleted patients)."""
    staff = current_staff(request)
    return staff is not None and may(staff, act)


class AuditEventAdmin(ClinicView, model=AuditEvent):
    """The audit trail, read-only (the database refuses UPDATE and DELETE on it too), for
    admins only, as GET /api/audit/: a therapist has no menu entry and a 403 at every URL."""

    name = "Audit event"
    name_plural = "Audit trail"
    icon = "fa-solid fa-clipboard-list"
    can_create = False
    can_edit = False
    can_delete = False

    column_list: ClassVar[Any] = [
        AuditEvent.id,
        AuditEvent.at,
        AuditEvent.actor,
        AuditEvent.actor_kind,
        AuditEvent.action,
        AuditEvent.patient_id,
        AuditEvent.client_address,
        AuditEvent.outcome,
        AuditEvent.status_code,
    ]
    column_searchable_list: ClassVar[Any] = [
        AuditEvent.actor,
        AuditEvent.action,
        AuditEvent.patient_id,
    ]
    column_sortable_list: ClassVar[Any] = [AuditEvent.at, AuditEvent.actor, AuditEvent.action]
    column_default_sort: ClassVar[Any] = [(AuditEvent.at, True), (AuditEvent.id, True)]
    column_filters: ClassVar[Any] = [
        AuditFilter(AuditEvent.outcome, "Outcome", [value for value, _ in OUTCOMES]),
        AuditFilter(AuditEvent.actor_kind, "Actor kind", ["staff", "patient", "anonymous"]),
    ]
    page_size = 50
    page_size_options: ClassVar[Any] = [50, 100]

    def is_accessible(self, request: Request) -> bool:
        return admins_only(request) and super().is_accessible(request)

    def is_visible(self, request: Request) -> bool:
        return admins_only(request)


def _wallet_update(amount: str, reason: str) -> WalletUpdate:
    try:
        return WalletUpdate.model_validate({"amount": amount, "reason": reason or None})
    except ValidationError as error:
        raise ValidationFailed(validation_errors(error.errors())) from None


def _model(patient: PatientRow) -> Patient:
    """A transient Patient of the written row: sqladmin redirects by its primary key."""
    return Patient(**{key: value for key, value in patient.items() if key in PATIENT_COLUMNS})
