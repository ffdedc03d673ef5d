"""The patient forms of the admin. WTForms only carries the values: every rule is checked by the
API's own schemas (app/patients/schemas.py), and their messages are shown next to the fields."""

from collections.abc import Mapping
from contextvars import ContextVar
from datetime import date
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ValidationError
from wtforms import Form, PasswordField, SelectField, StringField, TextAreaField

from app.core.errors import NON_FIELD_ERRORS, ValidationFailed, validation_errors
from app.models.patient import Patient
from app.patients.schemas import PatientCreate, PatientReplace, PatientUpdate

PayloadT = TypeVar("PayloadT", bound=PatientUpdate)
SEX_CHOICES = [("M", "Male"), ("F", "Female"), ("O", "Other"), ("P", "Prefer not to say")]
TEXT = {"class": "form-control"}
# Which fields a patient must have is the API's rule (PatientReplace); the form's text fields
# are the record's columns among them (tags are lines, passwords are their own fields).
REQUIRED_FIELDS = tuple(
    name for name, field in PatientReplace.model_fields.items() if field.is_required()
)
OPTIONAL_FIELDS = tuple(
    name
    for name, field in PatientReplace.model_fields.items()
    if not field.is_required() and name in Patient.__table__.c and name != "tags"
)

# The form's fields as a clinic thinks of them; finance and history are shown, never edited.
FORM_GROUPS = (
    ("Identity", ("id", "first_name", "last_name", "date_of_birth", "sex", "ssn")),
    ("Contact", ("phone_no", "email", "address")),
    ("Medical", ("allergies_and_medication",)),
    ("Notes", ("added_note", "about_note", "tags")),
    ("Login", ("password",)),
)
CREATE_FIELDS = [name for _, names in FORM_GROUPS for name in names]


class PatientForm(Form):  # type: ignore[misc]  # wtforms has no type hints
    """Edit: the writable fields of PatientUpdate; a blank password keeps the current one."""

    schema: ClassVar[type[PatientUpdate]] = PatientUpdate

    first_name = StringField("First name", render_kw=TEXT)
    last_name = StringField("Last name", render_kw=TEXT)
    date_of_birth = StringField(
        "Date of birth", render_kw={**TEXT, "type": "date"}, description="YYYY-MM-DD"
    )
    sex = SelectField(
        "Sex", choices=SEX_CHOICES, validate_choice=False, render_kw={"class": "form-select"}
    )
    ssn = StringField("SSN", render_kw=TEXT, description="123-45-6789; encrypted at rest.")
    phone_no = StringField(
        "Phone number", render_kw={**TEXT, "inputmode": "tel"}, description="e.g. +14155550123"
    )
    email = StringField("Email", render_kw={**TEXT, "inputmode": "email"})
    address = TextAreaField("Address", render_kw={**TEXT, "rows": 2})
    allergies_and_medication = TextAreaField(
        "Allergies and medication", render_kw={**TEXT, "rows": 4}, description="Encrypted at rest."
    )
    added_note = TextAreaField("Added note", render_kw={**TEXT, "rows": 3})
    about_note = TextAreaField("About", render_kw={**TEXT, "rows": 2})
    tags = TextAreaField("Tags", render_kw={**TEXT, "rows": 3}, description="One tag per line.")
    password = PasswordField(
        "New password",
        render_kw={**TEXT, "autocomplete": "new-password"},
        description="Leave blank to keep the current password.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _current.set(self)

    def validate(self, extra_validators: Any = None) -> bool:
        super().validate(extra_validators)
        _, errors = parse(self.schema, self.data)
        for name, messages in errors.items():
            field = self._fields.get(name)
            if field is None or name == NON_FIELD_ERRORS:
                self.form_errors.extend(messages)
            else:
                field.errors = list(messages)
        return not errors

    def show_errors(self, errors: Mapping[str, list[str]]) -> None:
        """Errors found after validation (a phone number already taken) next to their fields."""
        for name, messages in errors.items():
            field = self._fields.get(name)
            if field is None:
                self.form_errors.extend(messages)
            else:
                field.errors = [*field.errors, *messages]


# The form sqladmin is handling in this request: errors found only while writing go on it.
_current: ContextVar[PatientForm | None] = ContextVar("admin_patient_form", default=None)


def current_form() -> PatientForm | None:
    return _current.get()


class PatientCreateForm(PatientForm):
    """Create: PatientCreate's fields, with the id generated when left blank."""

    schema = PatientCreate

    id = StringField("Patient id", render_kw=TEXT, description="Leave blank to generate one.")
    password = PasswordField(
        "Password",
        render_kw={**TEXT, "autocomplete": "new-password"},
        description="8-64 characters.",
    )


def submitted(data: Mapping[str, Any]) -> dict[str, Any]:
    """What the form sent, shaped as the API's JSON body: blanks clear optional fields."""
    values: dict[str, Any] = {name: data.get(name) or "" for name in REQUIRED_FIELDS}
    for name in OPTIONAL_FIELDS:
        text = data.get(name) or ""
        values[name] = text if text.strip() else None
    tags = data.get("tags") or ""
    values["tags"] = [line.strip() for line in tags.splitlines() if line.strip()]
    if data.get("password"):
        values["password"] = data["password"]
    if patient_id := (data.get("id") or "").strip():
        values["id"] = patient_id
    return values


def parse(
    schema: type[PayloadT], data: Mapping[str, Any]
) -> tuple[PayloadT | None, dict[str, list[str]]]:
    try:
        return schema.model_validate(submitted(data)), {}
    except ValidationError as error:
        return None, validation_errors(error.errors())


def initial_data(patient: Patient) -> dict[str, Any]:
    """The edit form's values; the password is never shown."""
    values: dict[str, Any] = {
        name: getattr(patient, name) or "" for name in (*REQUIRED_FIELDS, *OPTIONAL_FIELDS)
    }
    birth: date = patient.date_of_birth
    values["date_of_birth"] = birth.isoformat()
    values["tags"] = "\n".join(patient.tags or [])
    return values


# -- staff (app/admin/staff.py): the values only; app/auth/schemas.py and app.auth.staff decide.

ROLE_CHOICES = [("therapist", "Therapist"), ("admin", "Admin")]
NEW_PASSWORD = {**TEXT, "autocomplete": "new-password"}
RULES = "8-64 characters; not a common password, not only digits, not like the username or e-mail."


class StaffForm(Form):  # type: ignore[misc]  # wtforms has no type hints
    """A staff form: its errors, from the schemas and the service, shown next to the fields."""

    def show_errors(self, errors: Mapping[str, list[str]]) -> None:
        for name, messages in errors.items():
            field = self._fields.get(name)
            if field is None or name == NON_FIELD_ERRORS:
                self.form_errors.extend(messages)
            else:
                field.errors = [*field.errors, *messages]


class StaffCreateForm(StaffForm):
    username = StringField(
        "Username",
        render_kw={**TEXT, "autocomplete": "off"},
        description="Letters, digits and @.+-_ (at most 150).",
    )
    email = StringField(
        "E-mail address", render_kw={**TEXT, "inputmode": "email"}, description="Optional."
    )
    role = SelectField(
        "Role", choices=ROLE_CHOICES, validate_choice=False, render_kw={"class": "form-select"}
    )
    password = PasswordField("Initial password", render_kw=NEW_PASSWORD, description=RULES)


class PasswordChangeForm(StaffForm):
    current_password = PasswordField(
        "Current password", render_kw={**TEXT, "autocomplete": "current-password"}
    )
    new_password = PasswordField("New password", render_kw=NEW_PASSWORD, description=RULES)


class ResetLinkForm(StaffForm):
    """No field: the staff member chooses their password, from the link mailed to them."""


SchemaT = TypeVar("SchemaT", bound=BaseModel)


def validated(schema: type[SchemaT], data: Mapping[str, Any]) -> SchemaT:
    """The form's values as `schema` (a blank optional field is None), or a ValidationFailed."""
    values = {
        name: (None if value == "" and name in OPTIONAL_STAFF_FIELDS else value)
        for name, value in data.items()
    }
    try:
        return schema.model_validate(values)
    except ValidationError as error:
        raise ValidationFailed(validation_errors(error.errors())) from None


OPTIONAL_STAFF_FIELDS = frozenset({"email"})
