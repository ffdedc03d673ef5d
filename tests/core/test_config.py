"""Settings: production refuses placeholder or weak secrets and an open /metrics; development
makes and keeps its own secrets."""

import base64
import json
import os
import secrets
import stat
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from app.core.config import Settings, is_strong_secret
from app.core.crypto import Keyring

SECRET_KEY = secrets.token_urlsafe(48)
PHI_KEYS = "prod1:" + base64.b64encode(os.urandom(32)).decode()
METRICS_TOKEN = secrets.token_urlsafe(32)
ENV_NAMES = (
    "SECRET_KEY",
    "PHI_ENCRYPTION_KEYS",
    "DATABASE_URL",
    "ENVIRONMENT",
    "DATA_DIR",
    "REDIS_URL",
    "ALLOWED_HOSTS",
    "PUBLIC_BASE_URL",
    "METRICS_ENABLED",
    "METRICS_TOKEN",
    "METRICS_ALLOWED_NETWORKS",
    "PRACTICE_NAME",
    "PRACTICE_ADDRESS",
    "PRACTICE_TAX_ID",
    "PRACTICE_NPI",
    "PAYMENTS_PROVIDER",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "STRIPE_API_BASE",
    "STRIPE_WEBHOOK_TOLERANCE_SECONDS",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine's own configuration must not leak into these settings."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def make(data_dir: Path, **values: Any) -> Settings:
    return Settings(_env_file=None, data_dir=data_dir, **values)


def production(data_dir: Path, **values: Any) -> Settings:
    values.setdefault("allowed_hosts", ["api.example.org"])
    values.setdefault("metrics_token", METRICS_TOKEN)
    return make(data_dir, environment="production", **values)


def phi_key(material: bytes) -> str:
    return "k1:" + base64.b64encode(material).decode()


def test_production_accepts_real_secrets(tmp_path):
    settings = production(tmp_path, secret_key=SECRET_KEY, phi_encryption_keys=PHI_KEYS)
    assert settings.secret_key == SecretStr(SECRET_KEY)
    assert settings.phi_encryption_keys == SecretStr(PHI_KEYS)
    assert not (tmp_path / "dev-secrets.json").exists()


def test_production_accepts_several_phi_keys(tmp_path):
    keys = PHI_KEYS + ",old1:" + base64.b64encode(os.urandom(32)).decode()
    settings = production(tmp_path, secret_key=SECRET_KEY, phi_encryption_keys=keys)
    assert settings.phi_encryption_keys is not None
    assert settings.phi_encryption_keys.get_secret_value() == keys


@pytest.mark.parametrize(
    "secret_key",
    [
        pytest.param(None, id="missing"),
        pytest.param("", id="empty"),
        pytest.param(secrets.token_urlsafe(16), id="short"),
        pytest.param("x" * 31, id="31-chars"),
        pytest.param("a" * 36, id="one-character-repeated"),
        pytest.param("ab" * 32, id="two-characters-repeated"),
        pytest.param("0123456789a" * 4, id="eleven-different"),
        pytest.param("0123456789abcdef" * 2, id="sixteen-repeated"),
        pytest.param(secrets.token_urlsafe(12) * 2, id="random-piece-twice"),
        pytest.param("abcdefghijklmnopqrstuvwxyz012345", id="sequence"),
        pytest.param("change-me-" + secrets.token_urlsafe(32), id="change-me"),
        pytest.param("CHANGE-ME-" + secrets.token_urlsafe(32), id="change-me-upper"),
    ],
)
def test_production_refuses_a_bad_secret_key(tmp_path, secret_key):
    values: dict[str, Any] = {"phi_encryption_keys": PHI_KEYS}
    if secret_key is not None:
        values["secret_key"] = secret_key
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        production(tmp_path, **values)
    assert not (tmp_path / "dev-secrets.json").exists()


@pytest.mark.parametrize(
    "phi_keys",
    [
        pytest.param(None, id="missing"),
        pytest.param("", id="empty"),
        pytest.param(" , ", id="no-key"),
        pytest.param("dev:" + base64.b64encode(os.urandom(32)).decode(), id="dev-key"),
        pytest.param(PHI_KEYS + ",dev:" + base64.b64encode(b"d" * 32).decode(), id="dev-old-key"),
        pytest.param("change-me:" + base64.b64encode(os.urandom(32)).decode(), id="change-me"),
        pytest.param("k1:" + base64.b64encode(os.urandom(31)).decode(), id="31-bytes"),
        pytest.param("k1:not base64", id="not-base64"),
        # Defect 13 of issue 22: an all-zero key was accepted.
        pytest.param(phi_key(bytes(32)), id="all-zero"),
        pytest.param(PHI_KEYS + "," + phi_key(bytes(32)), id="all-zero-old-key"),
        pytest.param(phi_key(b"\xff" * 32), id="all-ones"),
        pytest.param(phi_key(bytes(range(32))), id="counting"),
        pytest.param(phi_key(b"0123456789abcdef" * 2), id="repeated-pattern"),
        pytest.param(phi_key(os.urandom(16) * 2), id="random-half-twice"),
    ],
)
def test_production_refuses_bad_phi_keys(tmp_path, phi_keys):
    values: dict[str, Any] = {"secret_key": SECRET_KEY}
    if phi_keys is not None:
        values["phi_encryption_keys"] = phi_keys
    with pytest.raises(ValidationError, match="PHI_ENCRYPTION_KEYS"):
        production(tmp_path, **values)
    assert not (tmp_path / "dev-secrets.json").exists()


# Boundaries of the one strength rule: 32 units, 12 different units, 12 different steps between
# neighbours, no piece repeated. Each value below is random within those limits (made once).
TWELVE_DIFFERENT = "7ZKcm7RqR9XqZpKXc7W9R2RKcKcpp2Z7"
KEY_TWELVE_DIFFERENT = bytes.fromhex(
    "1d2903ab701de911e9c84d11293a034dab1d8cc8e95ae903ab03ab3a3a5a291d"
)
# Random walks from 0x80 by steps of ±1…±6 (12 steps), and of ±1…±5 and +6 (11).
KEY_TWELVE_STEPS = bytes.fromhex("808285807a76756f7477787a7e847f8185828785878a8b90928e8c888c8b9193")
KEY_ELEVEN_STEPS = bytes.fromhex("807d808185848081858987828182817f84888c8e9395908c8f928d9394959396")


@pytest.mark.parametrize(
    ("value", "strong"),
    [
        pytest.param(TWELVE_DIFFERENT, True, id="32-chars-12-different"),
        pytest.param(TWELVE_DIFFERENT[:-1], False, id="31-chars"),
        pytest.param(TWELVE_DIFFERENT.replace("2", "R"), False, id="11-different"),
        pytest.param(TWELVE_DIFFERENT * 2, False, id="twice"),
        pytest.param(("Kq7ZpX2mWc9RbT4v" * 3)[:40], False, id="16-different-2.5-times"),
        pytest.param(TWELVE_DIFFERENT + TWELVE_DIFFERENT[:16], True, id="32-then-16-of-them"),
        pytest.param(KEY_TWELVE_DIFFERENT, True, id="key-12-different"),
        pytest.param(KEY_TWELVE_DIFFERENT.replace(b"\x5a", b"\x3a"), False, id="key-11-different"),
        pytest.param(KEY_TWELVE_STEPS, True, id="key-12-steps"),
        pytest.param(KEY_ELEVEN_STEPS, False, id="key-11-steps"),
        pytest.param(bytes(32), False, id="key-all-zero"),
        pytest.param(bytes(range(32)), False, id="key-counting"),
        pytest.param(bytes(range(0, 256, 8)), False, id="key-counting-by-8"),
        pytest.param(secrets.token_urlsafe(24), True, id="random-32-chars"),
        pytest.param(os.urandom(32), True, id="random-key"),
        pytest.param("insecure-" + secrets.token_urlsafe(32), False, id="placeholder"),
    ],
)
def test_the_strength_rule_at_its_boundaries(value, strong):
    assert is_strong_secret(value) is strong


def test_every_secret_setting_follows_the_one_rule(tmp_path):
    """SECRET_KEY (the tokens', the admin session's and CSRF's keys derive from it), each
    PHI_ENCRYPTION_KEYS key and METRICS_TOKEN: just good enough passes, just too weak does not."""
    good = {"secret_key": SECRET_KEY, "phi_encryption_keys": PHI_KEYS}
    for name, just_good, just_weak in (
        ("secret_key", TWELVE_DIFFERENT, TWELVE_DIFFERENT[:-1]),
        ("phi_encryption_keys", phi_key(KEY_TWELVE_STEPS), phi_key(KEY_ELEVEN_STEPS)),
        ("metrics_token", TWELVE_DIFFERENT, TWELVE_DIFFERENT.replace("2", "R")),
    ):
        settings = production(tmp_path, **{**good, name: just_good})
        assert getattr(settings, name) == SecretStr(just_good)
        with pytest.raises(ValidationError, match=name.upper()) as refused:
            production(tmp_path, **{**good, name: just_weak})
        assert just_weak not in str(refused.value)
        assert "in production" in str(refused.value)


def test_development_does_not_judge_its_secrets(tmp_path):
    settings = make(tmp_path, secret_key="short", phi_encryption_keys=phi_key(bytes(32)))
    assert settings.secret_key == SecretStr("short")


def test_a_refused_setting_never_quotes_the_secrets(tmp_path):
    """Defect 10: the error named the settings' input, PHI_ENCRYPTION_KEYS included."""
    phi_keys = "k1:" + base64.b64encode(os.urandom(32)).decode()
    for values in (
        {"secret_key": "short", "phi_encryption_keys": phi_keys},
        {"secret_key": SECRET_KEY, "phi_encryption_keys": phi_keys, "allowed_hosts": []},
        {"secret_key": SECRET_KEY, "phi_encryption_keys": phi_keys, "page_size_max": "many"},
        {"secret_key": SECRET_KEY, "phi_encryption_keys": "k1:" + "A" * 44},
        {"secret_key": SECRET_KEY, "phi_encryption_keys": phi_keys, "metrics_token": "short"},
    ):
        with pytest.raises(ValidationError) as refused:
            production(tmp_path, **values)
        message = str(refused.value)
        for secret in (phi_keys, phi_keys[3:20], SECRET_KEY[:12], "short"):
            assert secret not in message


# /metrics (defect 14 of issue 22): it answered anyone in production by default.


def test_production_refuses_metrics_open_to_anyone(tmp_path):
    values = {"secret_key": SECRET_KEY, "phi_encryption_keys": PHI_KEYS, "metrics_token": None}
    with pytest.raises(ValidationError) as refused:
        production(tmp_path, **values)
    message = str(refused.value)
    assert "/metrics must not answer anyone in production" in message
    assert "set METRICS_TOKEN or METRICS_ALLOWED_NETWORKS (or METRICS_ENABLED=false)" in message
    with pytest.raises(ValidationError, match="METRICS_TOKEN or METRICS_ALLOWED_NETWORKS"):
        production(tmp_path, **values, metrics_allowed_networks=[])
    with pytest.raises(ValidationError, match="METRICS_TOKEN or METRICS_ALLOWED_NETWORKS"):
        production(tmp_path, **{**values, "metrics_token": ""})


def test_production_serves_metrics_to_a_token_or_to_networks(tmp_path):
    keys = {"secret_key": SECRET_KEY, "phi_encryption_keys": PHI_KEYS}
    assert production(tmp_path, **keys).metrics_token == SecretStr(METRICS_TOKEN)
    networks = production(
        tmp_path, **keys, metrics_token=None, metrics_allowed_networks=["10.0.0.0/8", "fd00::/8"]
    )
    assert [str(network) for network in networks.metrics_allowed_networks] == [
        "10.0.0.0/8",
        "fd00::/8",
    ]
    assert not production(tmp_path, **keys, metrics_token=None, metrics_enabled=False).metrics_token


@pytest.mark.parametrize("everyone", ["0.0.0.0/0", "::/0"])
def test_production_refuses_a_network_of_every_address(tmp_path, everyone):
    with pytest.raises(ValidationError, match="METRICS_ALLOWED_NETWORKS must not"):
        production(
            tmp_path,
            secret_key=SECRET_KEY,
            phi_encryption_keys=PHI_KEYS,
            metrics_allowed_networks=["10.0.0.0/8", everyone],
        )


def test_production_reads_the_metrics_settings_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("PHI_ENCRYPTION_KEYS", PHI_KEYS)
    monkeypatch.setenv("ALLOWED_HOSTS", '["api.example.org"]')
    monkeypatch.setenv("METRICS_TOKEN", "")
    with pytest.raises(ValidationError, match="METRICS_TOKEN or METRICS_ALLOWED_NETWORKS"):
        make(tmp_path, environment="production")
    monkeypatch.setenv("METRICS_ALLOWED_NETWORKS", '["10.0.0.0/8"]')
    assert make(tmp_path, environment="production").metrics_allowed_networks


def test_production_needs_to_know_its_hosts(tmp_path):
    values = {"secret_key": SECRET_KEY, "phi_encryption_keys": PHI_KEYS, "allowed_hosts": []}
    with pytest.raises(ValidationError, match="PUBLIC_BASE_URL or ALLOWED_HOSTS"):
        production(tmp_path, **values)
    settings = production(tmp_path, **values, public_base_url="https://api.example.org/")
    assert settings.public_base_url == "https://api.example.org"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres:postgres@db:5432/therapy_db",
        "postgresql+asyncpg://app:password@db/therapy_db",
        "postgresql://app:change-me@db/therapy_db",
        "postgresql://app:insecure%2Dpassword@db/therapy_db",
    ],
)
def test_production_refuses_the_development_database_password(tmp_path, url):
    keys = {"secret_key": SECRET_KEY, "phi_encryption_keys": PHI_KEYS}
    with pytest.raises(ValidationError, match="DATABASE_URL's password") as refused:
        production(tmp_path, **keys, database_url=url)
    assert "@db" not in str(refused.value)
    assert make(tmp_path, **keys, database_url=url).database_url  # development: its default


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres@127.0.0.1:5432/therapy_db",  # no password: peer or trust
        "postgresql://app:" + secrets.token_urlsafe(12) + "@db/therapy_db",
        "postgresql://postgres:postgres-is-not-the-password@db/therapy_db",
    ],
    ids=["no-password", "random-password", "a-password-naming-the-user"],  # one id on every worker
)
def test_production_accepts_a_database_password_of_its_own(tmp_path, url):
    keys = {"secret_key": SECRET_KEY, "phi_encryption_keys": PHI_KEYS}
    assert production(tmp_path, **keys, database_url=url).database_url


@pytest.mark.parametrize(
    "url",
    [
        "api.example.org",
        "ftp://api.example.org",
        "https://",
        "https://api.example.org/prefix",
        "https://api.example.org/?x=1",
        "https://user@api.example.org",
    ],
)
def test_a_public_base_url_is_a_scheme_and_a_host(tmp_path, url):
    with pytest.raises(ValidationError, match="PUBLIC_BASE_URL"):
        make(tmp_path, public_base_url=url)


def test_production_reads_secrets_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "change-me-" + "x" * 40)
    monkeypatch.setenv("PHI_ENCRYPTION_KEYS", PHI_KEYS)
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        production(tmp_path)
    monkeypatch.setenv("SECRET_KEY", SECRET_KEY)
    assert production(tmp_path).secret_key == SecretStr(SECRET_KEY)


def test_development_makes_private_secrets_and_keeps_them(tmp_path):
    data_dir = tmp_path / "data"
    first = make(data_dir, environment="development")
    path = data_dir / "dev-secrets.json"
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_text())

    assert first.secret_key is not None
    assert first.phi_encryption_keys is not None
    secret_key = first.secret_key.get_secret_value()
    phi_keys = first.phi_encryption_keys.get_secret_value()
    assert len(secret_key) >= 32
    assert stored == {"secret_key": secret_key, "phi_encryption_keys": phi_keys}
    Keyring.parse(phi_keys)  # a usable key

    again = make(data_dir, environment="development")
    assert again.secret_key == first.secret_key
    assert again.phi_encryption_keys == first.phi_encryption_keys
    assert json.loads(path.read_text()) == stored


def test_each_checkout_gets_its_own_development_secrets(tmp_path):
    one = make(tmp_path / "one", environment="development")
    two = make(tmp_path / "two", environment="development")
    assert one.secret_key != two.secret_key
    assert one.phi_encryption_keys != two.phi_encryption_keys


def test_development_keeps_secrets_it_is_given(tmp_path):
    settings = make(
        tmp_path, environment="development", secret_key=SECRET_KEY, phi_encryption_keys=PHI_KEYS
    )
    assert settings.secret_key == SecretStr(SECRET_KEY)
    assert settings.phi_encryption_keys == SecretStr(PHI_KEYS)
    assert not (tmp_path / "dev-secrets.json").exists()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:p@db:5432/therapy", "postgresql+asyncpg://u:p@db:5432/therapy"),
        ("postgres://u:p@db:5432/therapy", "postgresql+asyncpg://u:p@db:5432/therapy"),
        ("postgresql+asyncpg://u:p@db/therapy", "postgresql+asyncpg://u:p@db/therapy"),
    ],
)
def test_database_url_is_spoken_to_with_asyncpg(tmp_path, monkeypatch, given, expected):
    keys = {"secret_key": SECRET_KEY, "phi_encryption_keys": PHI_KEYS}
    assert make(tmp_path, database_url=given, **keys).database_url == expected
    monkeypatch.setenv("DATABASE_URL", given)
    assert make(tmp_path, **keys).database_url == expected


def test_no_database_url_means_the_embedded_server(tmp_path):
    settings = make(tmp_path, secret_key=SECRET_KEY, phi_encryption_keys=PHI_KEYS)
    assert settings.database_url is None


def test_the_currency_is_usd_unless_set(tmp_path):
    assert make(tmp_path).currency == "USD"
    assert make(tmp_path, currency="EUR").currency == "EUR"


@pytest.mark.parametrize("currency", ["usd", "Eur", "EURO", "US", "", "E1R", "ÄÖÜ"])
def test_the_currency_is_three_upper_case_letters(tmp_path, currency):
    with pytest.raises(ValidationError, match="CURRENCY"):
        make(tmp_path, currency=currency)


STRIPE_KEY = "sk_test_" + secrets.token_urlsafe(24)
STRIPE_WEBHOOK_SECRET = "whsec_" + secrets.token_urlsafe(24)


def test_payments_are_off_unless_set(tmp_path):
    settings = make(tmp_path)
    assert (settings.payments_provider, settings.stripe_secret_key) == ("none", None)
    assert settings.stripe_webhook_tolerance_seconds == 300


@pytest.mark.parametrize(
    ("values", "missing"),
    [
        ({}, "STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET"),
        ({"stripe_secret_key": STRIPE_KEY}, "STRIPE_WEBHOOK_SECRET"),
        ({"stripe_webhook_secret": STRIPE_WEBHOOK_SECRET}, "STRIPE_SECRET_KEY"),
        (
            {"stripe_secret_key": "  ", "stripe_webhook_secret": STRIPE_WEBHOOK_SECRET},
            "STRIPE_SECRET_KEY",
        ),
    ],
)
def test_stripe_needs_both_of_its_secrets_and_never_quotes_them(tmp_path, values, missing):
    with pytest.raises(ValidationError) as raised:
        make(tmp_path, payments_provider="stripe", **values)
    message = str(raised.value)
    assert f"PAYMENTS_PROVIDER=stripe needs {missing}" in message
    assert STRIPE_KEY not in message
    assert STRIPE_WEBHOOK_SECRET not in message


def test_stripe_reads_its_settings_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("PAYMENTS_PROVIDER", "stripe")
    monkeypatch.setenv("STRIPE_SECRET_KEY", STRIPE_KEY)
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", STRIPE_WEBHOOK_SECRET)
    monkeypatch.setenv("STRIPE_API_BASE", "http://127.0.0.1:8420/")
    monkeypatch.setenv("STRIPE_WEBHOOK_TOLERANCE_SECONDS", "60")
    settings = make(tmp_path)
    assert settings.stripe_secret_key == SecretStr(STRIPE_KEY)
    assert settings.stripe_webhook_secret == SecretStr(STRIPE_WEBHOOK_SECRET)
    assert (settings.stripe_api_base, settings.stripe_webhook_tolerance_seconds) == (
        "http://127.0.0.1:8420",
        60,
    )
    assert STRIPE_KEY not in repr(settings)


@pytest.mark.parametrize(
    "values", [{"stripe_webhook_tolerance_seconds": 0}, {"stripe_api_base": "localhost:8420"}]
)
def test_stripe_settings_are_checked(tmp_path, values):
    with pytest.raises(ValidationError):
        make(tmp_path, **values)
