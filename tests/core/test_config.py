"""Settings: production refuses placeholder secrets, development makes and keeps its own."""

import base64
import json
import os
import secrets
import stat
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from app.core.config import Settings
from app.core.crypto import Keyring

SECRET_KEY = secrets.token_urlsafe(48)
PHI_KEYS = "prod1:" + base64.b64encode(os.urandom(32)).decode()
ENV_NAMES = (
    "SECRET_KEY",
    "PHI_ENCRYPTION_KEYS",
    "DATABASE_URL",
    "ENVIRONMENT",
    "DATA_DIR",
    "REDIS_URL",
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
    return make(data_dir, environment="production", **values)


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
        pytest.param("dev:" + base64.b64encode(os.urandom(32)).decode(), id="dev-key"),
        pytest.param(PHI_KEYS + ",dev:" + base64.b64encode(b"d" * 32).decode(), id="dev-old-key"),
        pytest.param("change-me:" + base64.b64encode(os.urandom(32)).decode(), id="change-me"),
    ],
)
def test_production_refuses_bad_phi_keys(tmp_path, phi_keys):
    values: dict[str, Any] = {"secret_key": SECRET_KEY}
    if phi_keys is not None:
        values["phi_encryption_keys"] = phi_keys
    with pytest.raises(ValidationError, match="PHI_ENCRYPTION_KEYS"):
        production(tmp_path, **values)
    assert not (tmp_path / "dev-secrets.json").exists()


def test_a_refused_setting_never_quotes_the_secrets(tmp_path):
    """Defect 10: the error named the settings' input, PHI_ENCRYPTION_KEYS included."""
    phi_keys = "k1:" + base64.b64encode(os.urandom(32)).decode()
    for values in (
        {"secret_key": "short", "phi_encryption_keys": phi_keys},
        {"secret_key": SECRET_KEY, "phi_encryption_keys": phi_keys, "allowed_hosts": []},
        {"secret_key": SECRET_KEY, "phi_encryption_keys": phi_keys, "page_size_max": "many"},
    ):
        with pytest.raises(ValidationError) as refused:
            production(tmp_path, **values)
        message = str(refused.value)
        for secret in (phi_keys, phi_keys[3:20], SECRET_KEY[:12], "short"):
            assert secret not in message


def test_production_needs_to_know_its_hosts(tmp_path):
    values = {"secret_key": SECRET_KEY, "phi_encryption_keys": PHI_KEYS, "allowed_hosts": []}
    with pytest.raises(ValidationError, match="PUBLIC_BASE_URL or ALLOWED_HOSTS"):
        production(tmp_path, **values)
    settings = production(tmp_path, **values, public_base_url="https://api.example.org/")
    assert settings.public_base_url == "https://api.example.org"


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
