import base64
import itertools
import json
import os
import re
import secrets
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal, Self
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from pydantic import Field, IPvAnyNetwork, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.core.crypto import parse_keys
from app.core.fields import amount, npi_problem

# An employer identification number, with or without its hyphen.
EIN_RE = re.compile(r"[0-9]{2}-?[0-9]{7}")
PROJECT_ROOT = Path(__file__).resolve().parents[2]
# A fee is an amount of money as the API takes one (a wallet's most, at most).
Fee = Annotated[Decimal, amount(Decimal(0), Decimal("99999999.99"))]


class Settings(BaseSettings):
    """Service configuration, read from the environment (and a `.env` file when present)."""

    # An invalid setting's error never quotes the input: it holds the secrets too.
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", hide_input_in_errors=True)

    environment: Literal["development", "test", "production"] = "development"
    database_url: str | None = Field(
        default=None,
        description="postgresql+asyncpg://… URL; unset means an embedded PostgreSQL in data_dir.",
    )
    data_dir: Path = PROJECT_ROOT / ".data"
    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=10, ge=0)
    db_pool_timeout: float = Field(default=5.0, gt=0)
    # Small, so that a request fails fast with a 503 when PostgreSQL does not answer.
    db_connect_timeout: float = Field(default=3.0, gt=0)
    db_statement_timeout_ms: int = Field(default=15_000, ge=0)
    host: str = "127.0.0.1"
    forwarded_allow_ips: list[str] = Field(
        default_factory=list,
        description='JSON list of the proxies (addresses or networks, e.g. ["10.0.0.5"]) whose '
        "X-Forwarded-For and X-Forwarded-Proto are believed; empty: none, the peer is the client.",
    )
    max_request_header_bytes: int = Field(
        default=32 * 1024,
        ge=1024,
        description="Largest request head: its target and headers (names, values, ': ' and CRLF), "
        "never the body; larger: 431, connection closed.",
    )
    port: int = 8000
    log_level: str = Field(
        default="info",
        description="Level of the service's logs and uvicorn's: critical, error, warning, info, "
        "debug, trace.",
    )
    media_dir: Path | None = Field(
        default=None, description="Profile pictures; default DATA_DIR/media."
    )
    picture_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1)
    picture_max_side: int = Field(default=4096, ge=1)
    # Pillow keeps 1 byte a pixel for 1, L and P images, 2 for I;16 and 4 for all else (RGB
    # included; 16-bit PNG samples are narrowed to 8 bits): 4096x4096 in RGB(A) is 64 MiB. A
    # decode holds about twice this (the decoded and the converted pixels), so a worker's peak is
    # about PICTURE_DECODE_CONCURRENCY x 2 x PICTURE_MAX_DECODED_BYTES.
    picture_max_decoded_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=1,
        description="Largest picture in memory once decoded (width x height x Pillow's bytes per "
        "pixel, of the decoded and of the re-encoded mode), from the header, before decoding; "
        "400 above. 64 MiB admits any 4096x4096 image.",
    )
    picture_decode_concurrency: int = Field(
        default=2,
        ge=1,
        description="Pictures decoded at once per worker process; further uploads wait for a slot.",
    )
    picture_decode_wait_seconds: float = Field(
        default=10.0,
        gt=0,
        description="How long an upload waits for a decode slot before a 503 with Retry-After.",
    )
    # Profile pictures in S3-compatible object storage instead of MEDIA_DIR. Credentials and
    # region come from boto's own chain (AWS_ACCESS_KEY_ID, AWS_PROFILE, a role), never from here.
    pictures_s3_bucket: str | None = Field(
        default=None, description="Keep profile pictures in this bucket rather than MEDIA_DIR."
    )
    pictures_s3_endpoint_url: str | None = Field(
        default=None, description="An S3-compatible server, e.g. http://minio:9000; unset: AWS."
    )
    pictures_s3_prefix: str = Field(
        default="profile_pictures/", description="Key prefix of the pictures in the bucket."
    )
    document_max_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1,
        description="Largest patient document upload (PDF, JPEG, PNG, WebP); 413 above.",
    )
    patient_retention_days: int = Field(
        default=30,
        ge=0,
        le=36500,
        description="A deleted patient is kept this many days (an admin may restore them), then "
        "`python -m app purge` removes them, their notes and documents for good.",
    )
    phone_default_region: str = Field(
        default="US",
        description="The country (ISO 3166 code, e.g. GB) of a phone number typed without its "
        "country code: numbers are stored, searched and logged in with in E.164 form.",
    )
    pictures_s3_documents_prefix: str = Field(
        default="documents/", description="Key prefix of the patient documents in the bucket."
    )
    json_max_bytes: int = Field(
        default=256 * 1024,
        ge=1,
        description="Largest request body other than a multipart upload (JSON, login form).",
    )
    page_size_default: int = 20
    page_size_max: int = 100
    list_exact_count_limit: int = Field(
        default=1000,
        ge=0,
        description="A list's `count` is exact up to this many matches and PostgreSQL's estimate "
        "beyond; 0 counts exactly, always.",
    )

    secret_key: SecretStr | None = Field(
        default=None,
        description="Signs access tokens (HS256) and, derived, the admin's cookies; production "
        "needs a strong one (is_strong_secret).",
    )
    phi_encryption_keys: SecretStr | None = Field(
        default=None,
        description="Comma-separated `key_id:base64 of 32 bytes`; the first encrypts, all decrypt. "
        "Production needs each strong (is_strong_secret).",
    )
    jwt_issuer: str = "therapyconnect-patients"
    access_token_ttl_seconds: int = Field(
        default=3600,
        ge=60,
        description="Lifetime of an access token (its session may end sooner: every request "
        "checks it); a client gets the next with its refresh token.",
    )
    refresh_token_ttl_seconds: int = Field(
        default=14 * 24 * 3600,
        ge=60,
        description="Lifetime of an unused refresh token (each refresh gives a new one).",
    )
    session_max_age_seconds: int = Field(
        default=30 * 24 * 3600,
        ge=60,
        description="An API session ends this long after its login, however often refreshed.",
    )
    admin_session_seconds: int = Field(
        default=8 * 3600, ge=60, description="An admin session ends this long after its login."
    )
    # E-mail (app.mail) and password resets (app.auth.reset). No MAIL_SMTP_HOST: each mail is
    # written to DATA_DIR/outbox/ as an .eml file instead of being sent.
    mail_smtp_host: str | None = Field(
        default=None, description="SMTP server to send mail through; unset: DATA_DIR/outbox/."
    )
    mail_smtp_port: int = Field(default=587, ge=1, le=65535)
    mail_smtp_tls: Literal["none", "starttls", "tls"] = Field(
        default="starttls",
        description="none (plain), starttls (upgrade after connecting), tls (implicit, port 465).",
    )
    mail_smtp_username: str | None = Field(default=None, description="Unset: no SMTP login.")
    mail_smtp_password: SecretStr | None = None
    mail_from: str = Field(
        default="TherapyConnect <no-reply@localhost>", description="The From of every mail."
    )
    mail_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Connecting to and talking with the SMTP server."
    )
    password_reset_ttl_seconds: int = Field(
        default=30 * 60, ge=60, description="A password-reset link works this long, once."
    )
    password_reset_rate_limit: str = Field(
        default="5/hour",
        description="Reset requests per login name (then 429), and reset mails per account "
        "(then none is sent, the answer unchanged).",
    )
    password_reset_address_rate_limit: str = Field(
        default="20/hour", description="Reset requests per client address, then 429."
    )
    password_reset_confirm_rate_limit: str = Field(
        default="20/hour", description="Attempts to set a new password per client address."
    )
    login_rate_limit: str = Field(
        default="10/minute",
        description="Failed logins per account and client address, then 429 for that pair.",
    )
    login_address_rate_limit: str = Field(
        default="50/minute",
        description="Failed logins per client address over all accounts; past it, 429 for the "
        "accounts it failed for, and a growing delay for the others.",
    )
    login_account_rate_limit: str = Field(
        default="10/15minutes",
        description="Failed logins per account from anywhere before each attempt is delayed "
        "(doubling with each further failure); never a refusal.",
    )
    login_delay_max_seconds: float = Field(
        default=30.0, ge=0, description="The longest delay before a login attempt is answered."
    )
    login_device_rate_limit: str = Field(
        default="10/hour",
        description="Failed logins with one device token (a client that logged in to the account "
        "before), then 429 for that token; its failures count for nothing else.",
    )
    device_token_ttl_seconds: int = Field(
        default=90 * 24 * 3600,
        ge=60,
        description="How long a device token, given at each login, keeps its client trusted.",
    )
    api_rate_limit: str = Field(
        default="600/minute",
        description="API requests per account, all its tokens together (a calendar feed's: per "
        "client address), then 429.",
    )
    idempotency_key_ttl_seconds: int = Field(
        default=24 * 3600, ge=1, description="How long a POST's Idempotency-Key is remembered."
    )
    redis_url: str | None = Field(default=None, description="Share rate limits between instances.")
    public_base_url: str | None = Field(
        default=None,
        description="The service's address as clients reach it, e.g. https://api.example.org: "
        "absolute links (pages, Location, pictures, password-reset mails) start with it. Unset: "
        "links follow the request's Host, which ALLOWED_HOSTS bounds.",
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description='JSON list of Host header values served, e.g. ["api.example.org"]; a leading '
        '"." allows subdomains, "*" any. Empty: any in development, none in production but '
        "PUBLIC_BASE_URL's host.",
    )
    cors_origins: list[str] = Field(
        default_factory=list, description='JSON list, e.g. ["https://app.example"].'
    )

    # Appointment scheduling.
    clinic_timezone: str = Field(
        default="Europe/Berlin",
        description="The IANA time zone of the therapists' weekly hours and of the day in the "
        "admin's calendar, e.g. Europe/Berlin.",
    )
    appointment_buffer_minutes: int = Field(
        default=0,
        ge=0,
        le=240,
        description="Free time kept before and after each appointment when free slots are listed.",
    )
    cancellation_notice_hours: float = Field(
        default=24,
        ge=0,
        description="A patient cancels their own appointment up to this many hours before it.",
    )
    noshow_fee: Fee = Field(
        default=Decimal("0.00"),
        description="Billed as an invoice when an appointment is marked noshow; 0: no fee.",
    )
    late_cancellation_fee: Fee = Field(
        default=Decimal("0.00"),
        description="Billed as an invoice when staff cancel an appointment within the "
        "notice period; 0: no fee.",
    )
    reminder_lead_minutes: int = Field(
        default=24 * 60,
        ge=1,
        description="How long before an appointment its reminder is sent.",
    )
    reminder_max_attempts: int = Field(
        default=8, ge=1, description="Sending a reminder is retried this often, with backoff."
    )
    autopay_hour: int = Field(
        default=6,
        ge=0,
        le=23,
        description="From this hour of the clinic's day, `python -m app worker` charges the open "
        "invoices of the patients who chose autopay.",
    )
    autopay_max_attempts: int = Field(
        default=4, ge=1, description="An invoice's automatic charge is tried this often."
    )
    autopay_retry_hours: int = Field(
        default=24,
        ge=1,
        description="Hours before a declined automatic charge is tried again; doubled after "
        "each further decline.",
    )
    safety_alert_escalate_minutes: int = Field(
        default=60,
        ge=1,
        le=10080,
        description="A safety alert nobody has acknowledged after this many minutes is mailed "
        "to every admin.",
    )
    worker_poll_seconds: float = Field(
        default=30.0, gt=0, description="How often `python -m app worker` looks for due work."
    )
    currency: str = Field(
        default="USD",
        description="The ISO 4217 code of the one currency every price is in, e.g. USD or EUR.",
    )
    # The practice as its statements and superbills name it.
    practice_name: str = Field(
        default="TherapyConnect Practice",
        description="The practice's name, at the head of every statement and superbill.",
    )
    practice_address: str = Field(
        default="",
        description="The practice's postal address on statements and superbills; lines "
        'separated by \\n in a double-quoted .env value ("1 Main St\\nSpringfield, IL").',
    )
    practice_tax_id: str | None = Field(
        default=None,
        description="The practice's US tax id (EIN), NN-NNNNNNN, on superbills; unset: none.",
    )
    practice_npi: str | None = Field(
        default=None,
        description="The practice's (type 2) National Provider Identifier, 10 digits with a "
        "valid check digit, on superbills; unset: none.",
    )
    # Card payments. The keys are checked at start (_payments); their values never appear in an
    # error or a log line.
    payments_provider: Literal["none", "stripe"] = Field(
        default="none",
        description="none: manual payments only (cash, cheque, transfer); stripe: cards on file "
        "through Stripe, which needs STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET.",
    )
    stripe_secret_key: SecretStr | None = Field(
        default=None, description="Stripe's secret API key (sk_live_… or sk_test_…)."
    )
    stripe_webhook_secret: SecretStr | None = Field(
        default=None,
        description="The signing secret (whsec_…) of the webhook endpoint, checked against "
        "every Stripe-Signature.",
    )
    stripe_api_base: str | None = Field(
        default=None,
        description="Send Stripe's API calls here instead of https://api.stripe.com, e.g. a "
        "localstripe test server at http://127.0.0.1:8420.",
    )
    stripe_webhook_tolerance_seconds: int = Field(
        default=300,
        gt=0,
        description="A webhook whose Stripe-Signature timestamp is older than this is refused.",
    )
    calendar_feed_patient_names: bool = Field(
        default=False,
        description="Show patients' names in therapists' calendar feeds; off: the patient's id.",
    )

    # Logs and metrics. LOG_LEVEL (above) is the level of the service's logs and uvicorn's.
    log_format: Literal["json", "console"] | None = Field(
        default=None,
        description="One JSON object per line, or human-readable lines; unset: json in "
        "production, console otherwise.",
    )
    metrics_enabled: bool = Field(default=True, description="Serve Prometheus metrics at /metrics.")
    metrics_token: SecretStr | None = Field(
        default=None,
        description="When set, /metrics requires `Authorization: Bearer <token>`; production "
        "needs it or METRICS_ALLOWED_NETWORKS, and a strong one (is_strong_secret).",
    )
    metrics_allowed_networks: list[IPvAnyNetwork] = Field(
        default_factory=list,
        description='JSON list of client networks that may read /metrics, e.g. ["10.0.0.0/8"]; '
        "empty: any (production then needs METRICS_TOKEN).",
    )

    @field_validator("clinic_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError("not a known IANA time zone, e.g. Europe/Berlin") from error
        return value

    @field_validator("currency")
    @classmethod
    def _currency_code(cls, value: str) -> str:
        if not (len(value) == 3 and value.isascii() and value.isalpha() and value.isupper()):
            raise ValueError("CURRENCY is an ISO 4217 code: three upper-case letters, e.g. USD")
        return value

    @field_validator("practice_tax_id", "practice_npi", mode="before")
    @classmethod
    def _blank_id_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("practice_tax_id")
    @classmethod
    def _ein(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not EIN_RE.fullmatch(value.strip()):
            raise ValueError("PRACTICE_TAX_ID is an EIN: 9 digits written NN-NNNNNNN")
        digits = value.strip().replace("-", "")
        return f"{digits[:2]}-{digits[2:]}"

    @field_validator("practice_npi")
    @classmethod
    def _npi(cls, value: str | None) -> str | None:
        if value is None:
            return None
        problem = npi_problem(value.strip())
        if problem is not None:
            raise ValueError(f"PRACTICE_NPI: {problem}")
        return value.strip()

    @field_validator("phone_default_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        if value.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError("not a region with phone numbering plans, e.g. US or GB")
        return value.upper()

    @property
    def clinic_zone(self) -> ZoneInfo:
        return ZoneInfo(self.clinic_timezone)

    @field_validator("public_base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        parsed = urlsplit(value)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError("PUBLIC_BASE_URL must be an http(s) URL, e.g. https://api.example.org")
        if parsed.path.strip("/") or parsed.query or parsed.fragment or parsed.username:
            raise ValueError("PUBLIC_BASE_URL is a scheme, a host and a port only")
        return value.rstrip("/")

    @field_validator(
        "pictures_s3_bucket", "pictures_s3_endpoint_url", "mail_smtp_host", "mail_smtp_username"
    )
    @classmethod
    def _empty_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @field_validator(
        "log_format",
        "metrics_token",
        "mail_smtp_password",
        "stripe_secret_key",
        "stripe_webhook_secret",
        "stripe_api_base",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def effective_log_format(self) -> Literal["json", "console"]:
        if self.log_format is not None:
            return self.log_format
        return "json" if self.environment == "production" else "console"

    @field_validator("database_url")
    @classmethod
    def _use_asyncpg(cls, url: str | None) -> str | None:
        """Accept the plain `postgresql://` URLs operators have, and talk to them with asyncpg."""
        if not url:
            return None
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+asyncpg://" + url.removeprefix(prefix)
        return url

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    @property
    def base_url(self) -> str:
        """Where clients reach the service, for links in mails: never a request's Host."""
        return self.public_base_url or f"http://{self.host}:{self.port}"

    @property
    def pictures_dir(self) -> Path:
        return (self.media_dir or self.data_dir / "media") / "profile_pictures"

    @property
    def documents_dir(self) -> Path:
        return (self.media_dir or self.data_dir / "media") / "documents"

    @field_validator("stripe_api_base")
    @classmethod
    def _api_base(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parsed = urlsplit(value)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError("STRIPE_API_BASE must be an http(s) URL, e.g. http://127.0.0.1:8420")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _payments(self) -> Self:
        """Card payments through Stripe need both of its secrets (named, never quoted)."""
        if self.payments_provider == "stripe":
            missing = [
                name
                for name, value in (
                    ("STRIPE_SECRET_KEY", self.stripe_secret_key),
                    ("STRIPE_WEBHOOK_SECRET", self.stripe_webhook_secret),
                )
                if value is None or not value.get_secret_value().strip()
            ]
            if missing:
                raise ValueError(f"PAYMENTS_PROVIDER=stripe needs {' and '.join(missing)}")
        return self

    @model_validator(mode="after")
    def _secrets(self) -> Self:
        """Production refuses to start without real secrets; development keeps its own."""
        if self.environment == "production":
            _check_production(self)
            return self
        if self.secret_key is None or self.phi_encryption_keys is None:
            generated = _development_secrets(self.data_dir)
            self.secret_key = self.secret_key or SecretStr(generated["secret_key"])
            self.phi_encryption_keys = self.phi_encryption_keys or SecretStr(
                generated["phi_encryption_keys"]
            )
        return self


SECRET_MIN_LENGTH = 32
# A random key of 32 URL-safe characters has about 25 different ones, and about as many
# different steps between neighbours; "a" * 36 has one of each, "0123456789abcdef" * 2 3 steps.
SECRET_DISTINCT = 12
PLACEHOLDER_MARKERS = ("change-me", "changeme", "placeholder", "insecure", "dev:")
# docker-compose.yml's and .env.example's; a password is the database's to judge, not ours.
DEVELOPMENT_DATABASE_PASSWORDS = frozenset({"postgres", "password"})
STRONG_SECRET = (
    f"a random value of at least {SECRET_MIN_LENGTH} characters (at least {SECRET_DISTINCT} "
    "different ones; no placeholder, sequence or repeated pattern)"
)


def _is_placeholder(value: str) -> bool:
    return any(marker in value.lower() for marker in PLACEHOLDER_MARKERS)


def is_strong_secret(value: str | bytes) -> bool:
    """The one strength rule of production's keys and tokens (characters of a string, bytes of a
    key): long enough, varied enough in its units and in the steps between neighbours (a counting
    sequence has one step), no piece repeated over its length, no placeholder. Random values pass
    it; typed ones such as all-zero keys, "abcabc…" or "change-me-…" do not."""
    if isinstance(value, str) and _is_placeholder(value):
        return False
    units = [ord(character) for character in value] if isinstance(value, str) else list(value)
    steps = [after - before for before, after in itertools.pairwise(units)]
    return (
        len(units) >= SECRET_MIN_LENGTH
        and len(set(units)) >= SECRET_DISTINCT
        and len(set(steps)) >= SECRET_DISTINCT
        and not _repeats(units)
    )


def _repeats(units: list[int]) -> bool:
    """Whether the units are a shorter piece written at least twice over (the last time perhaps
    cut short)."""
    length = len(units)
    return any(units[period:] == units[:-period] for period in range(1, length // 2 + 1))


def _check_production(settings: Settings) -> None:
    """Every secret real and strong, the hosts known, /metrics not open to anyone."""
    key = settings.secret_key.get_secret_value() if settings.secret_key else ""
    if not is_strong_secret(key):
        raise ValueError(f"SECRET_KEY must be {STRONG_SECRET} in production")
    keys = settings.phi_encryption_keys.get_secret_value() if settings.phi_encryption_keys else ""
    try:
        parsed = parse_keys(keys)
    except ValueError as error:
        raise ValueError(f"PHI_ENCRYPTION_KEYS: {error}") from None
    if not parsed or _is_placeholder(keys):
        raise ValueError("PHI_ENCRYPTION_KEYS must be set in production")
    for position, (_, material) in enumerate(parsed, start=1):
        if not is_strong_secret(material):
            raise ValueError(
                f"PHI_ENCRYPTION_KEYS: key #{position} must be 32 random bytes in production, "
                "not all one value, a sequence or a repeated pattern"
            )
    if not (settings.allowed_hosts or settings.public_base_url):
        raise ValueError("Set PUBLIC_BASE_URL or ALLOWED_HOSTS in production")
    password = unquote(urlsplit(settings.database_url or "").password or "")
    if password in DEVELOPMENT_DATABASE_PASSWORDS or _is_placeholder(password):
        raise ValueError(
            "DATABASE_URL's password must not be a development default (POSTGRES_PASSWORD's "
            "`postgres` in docker-compose.yml) in production"
        )
    if settings.metrics_enabled:
        _check_production_metrics(settings)


def _check_production_metrics(settings: Settings) -> None:
    token = settings.metrics_token
    if token is None and not settings.metrics_allowed_networks:
        raise ValueError(
            "/metrics must not answer anyone in production: set METRICS_TOKEN or "
            "METRICS_ALLOWED_NETWORKS (or METRICS_ENABLED=false)"
        )
    if token is not None and not is_strong_secret(token.get_secret_value()):
        raise ValueError(f"METRICS_TOKEN must be {STRONG_SECRET} in production")
    if any(network.prefixlen == 0 for network in settings.metrics_allowed_networks):
        raise ValueError(
            "METRICS_ALLOWED_NETWORKS must not hold a network of every address (/0) in production"
        )


def _development_secrets(data_dir: Path) -> dict[str, str]:
    """Random secrets made once per checkout, so tokens and encrypted rows survive restarts."""
    path = data_dir / "dev-secrets.json"
    if path.exists():
        stored: dict[str, str] = json.loads(path.read_text())
        return stored
    data_dir.mkdir(parents=True, exist_ok=True)
    generated = {
        "secret_key": secrets.token_urlsafe(48),
        "phi_encryption_keys": "local1:" + base64.b64encode(os.urandom(32)).decode(),
    }
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(generated, file)
    return generated


@lru_cache
def get_settings() -> Settings:
    return Settings()
