import uuid
from datetime import datetime
from typing import Annotated, Any, Literal, TypedDict

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field

from app.auth.passwords import not_common
from app.core.fields import Text, no_nul, no_surrogates
from app.core.schemas import BaseSchema
from app.models.staff import StaffRole
from app.patients.fields import Email


# The rows its statements return: TypedDicts, checked against each statement when it is
# compiled (app.db.query).
class StaffRow(TypedDict):
    """A staff member as sessions, resets and the admin know them (never their password hash)."""

    id: int
    username: str
    email: str | None
    role: str
    is_active: bool
    created_at: datetime


class StaffAccountRow(StaffRow):
    """A staff member with their password hash, to check or replace it."""

    password_hash: str


class StaffCredentialsRow(TypedDict):
    """A staff member a login name points at."""

    id: int
    username: str
    role: str
    password_hash: str
    is_active: bool


class StaffPrincipalRow(TypedDict):
    """The staff member of an admin session."""

    id: int
    username: str
    role: str


class StaffIdRow(TypedDict):
    id: int


class PatientCredentialsRow(TypedDict):
    """A patient a login name points at."""

    id: str
    password_hash: str


class PatientIdRow(TypedDict):
    id: str


class PatientRecipientRow(TypedDict):
    """Where a patient's reset mail goes, and what their new password must not be like."""

    first_name: str
    last_name: str
    phone_no: str
    email: str | None


class AppointmentPatientRow(TypedDict):
    patient_id: str


class OpenedSessionRow(TypedDict):
    id: uuid.UUID
    expires_at: datetime


class SessionIdRow(TypedDict):
    id: uuid.UUID


class SessionAccountRow(TypedDict):
    """A session and its account: a staff member's or a patient's, exactly one."""

    session_id: uuid.UUID
    kind: str
    staff_id: int | None
    patient_id: str | None


class ExpiryRow(TypedDict):
    """When a new refresh token or reset token expires."""

    expires_at: datetime


class ResetDigestRow(TypedDict):
    digest: str


class ResetAccountRow(TypedDict):
    """The account of a reset token: a staff member's or a patient's, exactly one."""

    staff_id: int | None
    patient_id: str | None


TOKEN: dict[str, Any] = {
    "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJl",
    "token_type": "bearer",
    "expires_in": 3600,
    "refresh_token": "Qm9vbXNoYWthbGFrYS1yZWZyZXNoLXRva2VuLWV4YW1wbGU",
    "refresh_expires_in": 1209600,
}
DEVICE_TOKEN = "eyJhIjoic3RhZmY6MSIsImQiOiJ4In0.Z3x1Ag.c2lnbmF0dXJlLW9mLXRoZS1kZXZpY2U"  # noqa: S105
REFRESH: dict[str, Any] = {"refresh_token": TOKEN["refresh_token"]}
LOGIN_FORM: dict[str, Any] = {"username": "admin", "password": "a-long-password"}
RESET_REQUESTED = "If the account exists and has an e-mail address, a reset link has been sent."
RESET_DONE = "Password has been reset."
RESET_REQUEST: dict[str, Any] = {"username": "alice@example.org"}
RESET_CONFIRM: dict[str, Any] = {
    "token": "c2VjcmV0LXJlc2V0LXRva2VuLWZyb20tdGhlLW1haWw",
    "new_password": "a-new-long-password",
}

LOGIN_PASSWORD_MAX = 4096  # what a login accepts; the rules of a new one are the Password type's

# A new password (app.auth.passwords): a login's is only bounded, so that a rule added later does
# not lock out an account whose password was good when it was set.
Password = Annotated[
    str,
    BeforeValidator(no_surrogates),
    Field(min_length=8, max_length=64),
    AfterValidator(no_nul),
    AfterValidator(not_common),
]
# A password given to prove who one is: bounded, and not held to today's rules for new ones.
CurrentPassword = Annotated[
    str, BeforeValidator(no_surrogates), Field(min_length=1, max_length=64), AfterValidator(no_nul)
]
Username = Annotated[Text, Field(min_length=1, max_length=150, pattern=r"^[\w.@+-]+$")]


class Token(BaseSchema):
    """A bearer token for the `Authorization` header, valid for `expires_in` seconds, and the
    refresh token that gets the next one (`POST /api/auth/refresh/`), once."""

    # token_type has a default but is always sent: the response schema says it is required.
    model_config = ConfigDict(
        json_schema_extra={"examples": [TOKEN]},
        json_schema_serialization_defaults_required=True,
    )

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105
    expires_in: int = Field(description="Seconds the access token is good for.")
    refresh_token: str = Field(
        description="Gets new tokens once, at POST /api/auth/refresh/; keep it secret."
    )
    refresh_expires_in: int = Field(description="Seconds the refresh token is good for.")


class LoginToken(Token):
    """A login's tokens, and the client's device token for its next logins."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{**TOKEN, "device_token": DEVICE_TOKEN}]},
        json_schema_serialization_defaults_required=True,
    )

    device_token: str = Field(
        description="Send it with this account's next logins (form field `device_token`, or "
        "header `X-Device-Token`; browsers get it as a cookie too): the failures of other "
        "clients then neither slow nor refuse this one. Good for DEVICE_TOKEN_TTL_SECONDS; "
        "each login gives a new one."
    )


class RefreshRequest(BaseSchema):
    """A refresh token from a login or the last refresh."""

    model_config = ConfigDict(json_schema_extra={"examples": [REFRESH]})

    refresh_token: Annotated[Text, Field(min_length=1, max_length=200)]


class StaffCreate(BaseSchema):
    username: Username
    password: Password
    role: StaffRole
    email: Email | None = None


class PasswordResetRequest(BaseSchema):
    """Any login name of the account: a staff username or e-mail address, a patient id, phone
    number or e-mail address."""

    model_config = ConfigDict(json_schema_extra={"examples": [RESET_REQUEST]})

    username: Annotated[Text, Field(min_length=1, max_length=254)]


class PasswordResetConfirm(BaseSchema):
    """The token of a reset mail, and the account's new password."""

    model_config = ConfigDict(json_schema_extra={"examples": [RESET_CONFIRM]})

    token: Annotated[Text, Field(min_length=1, max_length=200)]
    new_password: Password


class ResetRequested(BaseSchema):
    """The same answer whether the account exists or not."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"detail": RESET_REQUESTED}]},
        json_schema_serialization_defaults_required=True,
    )

    detail: str = RESET_REQUESTED


class ResetDone(BaseSchema):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"detail": RESET_DONE}]},
        json_schema_serialization_defaults_required=True,
    )

    detail: str = RESET_DONE


class PasswordChange(BaseSchema):
    """A staff member's own new password, given with their current one."""

    current_password: Annotated[
        str,
        BeforeValidator(no_surrogates),
        Field(min_length=1, max_length=LOGIN_PASSWORD_MAX),
        AfterValidator(no_nul),
    ]
    new_password: Password


class PasswordReset(BaseSchema):
    """A new password an operator sets for a staff member on the command line."""

    password: Password
