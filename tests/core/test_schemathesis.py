"""Schemathesis against the served /openapi.json: no server error, nothing undocumented.

The operations are split into shards (SHARDS) for the examples, coverage and fuzzing phases, and
the stateful phase runs over them all: four runs of schemathesis' CLI, each against a server of
its own, which pytest-xdist runs side by side. Each server runs under uvicorn on a copy of the
migrated template database, with an admin made as `createsuperuser` makes one; schemathesis logs
in as that admin (tests/core/schemathesis_hooks.py). A run's report is written to
test-artifacts/schemathesis-<run>.txt, and the seconds it spent on each operation to the .xml
beside it. CI runs a bounded number of examples per operation; for a longer run:

    make schemathesis EXAMPLES=500            # SEED=… to replay or vary a run

SCHEMATHESIS_EXAMPLES and SCHEMATHESIS_SEED set the same for `make test`. The settings that
are not per run are in schemathesis.toml.
"""

import asyncio
import base64
import os
import secrets
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from app.auth.commands import create_staff
from app.core import security
from app.core.config import PROJECT_ROOT, Settings
from tests.conftest import PRODUCTION_PASSWORD_HASH, create_database, drop_database
from tests.databases import TEMPLATE_VARIABLE
from tests.served import serving
from tests.test_deploy import free_port

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "50"))
SEED = int(os.environ.get("SCHEMATHESIS_SEED", "20261126"))
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
ADMIN_USERNAME = "schemathesis-admin"
ADMIN_PASSWORD = secrets.token_urlsafe(16)
UVICORN_ARGS = ("--log-level", "warning")

# What every response must satisfy; negative_data_rejection with the contract's trimming and
# query reading (tests/core/schemathesis_hooks.py). positive_data_acceptance is left out: a
# request the schema allows may still be a 400 by the contract (a phone number another patient
# has, a wallet change past the balance, a birth date in the future), which no schema can state.
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "negative_data_rejection",
)

# The operations of the OpenAPI document, by operationId, each in exactly one shard (a test below
# checks it). What a run's POSTs create its other operations are given (the ids of its patients
# and their documents), so an operation is in the shard of the one that creates what it needs.
# A run's seconds on two idle cores, for balance: patients 56, appointments 42, practice 35,
# stateful 15, and 4-5 more each for its server.
SHARDS: dict[str, tuple[str, ...]] = {
    # Every operation on a patient, their history, picture, wallet, documents, sliding scale,
    # cards on file and autopay.
    "patients": (
        "list_patients",
        "create_patient",
        "get_patient",
        "replace_patient",
        "update_patient",
        "delete_patient",
        "add_tag",
        "remove_tag",
        "add_session",
        "update_wallet",
        "list_wallet_transactions",
        "list_deleted_patients",
        "restore_deleted_patient",
        "list_patient_history",
        "get_patient_version",
        "restore_patient_version",
        "upload_profile_picture",
        "get_profile_picture",
        "delete_profile_picture",
        "list_documents",
        "upload_document",
        "get_document",
        "update_document",
        "delete_document",
        "download_document",
        "get_sliding_scale",
        "set_sliding_scale",
        "delete_sliding_scale",
        "list_payment_methods",
        "get_card_consent",
        "create_card_setup",
        "complete_card_setup",
        "delete_payment_method",
        "set_default_payment_method",
        "get_autopay",
        "set_autopay",
        "get_diagnoses",
        "set_diagnoses",
        "get_statement",
        "get_superbill",
    ),
    # Appointments, their progress notes, the psychotherapy notes (403 for an admin), and the
    # measures.
    "appointments": (
        "create_appointment_series",
        "get_appointment_series",
        "cancel_appointment_series",
        "list_appointments",
        "create_appointment",
        "get_appointment",
        "update_appointment",
        "cancel_appointment",
        "list_progress_notes",
        "create_progress_note",
        "get_progress_note",
        "update_progress_note",
        "sign_progress_note",
        "add_progress_note_addendum",
        "cosign_progress_note",
        "withhold_progress_note",
        "list_psychotherapy_notes",
        "create_psychotherapy_note",
        "get_psychotherapy_note",
        "authorize_psychotherapy_note_disclosure",
        "list_psychotherapy_note_authorizations",
        "revoke_psychotherapy_note_authorization",
        "disclose_psychotherapy_note",
        "list_instruments",
        "create_measure_assignment",
        "list_measure_assignments",
        "end_measure_assignment",
        "list_measure_requests",
        "answer_measure_request",
        "administer_measure",
        "get_measure_trend",
        "get_measure",
        "get_measure_fhir",
        "list_alerts",
        "acknowledge_alert",
    ),
    # Logins, therapists and their calendars, billable services, invoices and payments, the audit
    # trail, health.
    "practice": (
        "login",
        "refresh",
        "request_password_reset",
        "confirm_password_reset",
        "logout",
        "create_calendar_feed",
        "delete_calendar_feed",
        "get_calendar_feed",
        "list_therapists",
        "get_therapist",
        "update_therapist",
        "get_therapist_hours",
        "replace_therapist_hours",
        "list_therapist_time_off",
        "create_therapist_time_off",
        "delete_therapist_time_off",
        "get_therapist_availability",
        "list_billable_services",
        "create_billable_service",
        "get_billable_service",
        "update_billable_service",
        "delete_billable_service",
        "list_invoices",
        "create_invoice",
        "get_invoice",
        "update_invoice",
        "delete_invoice",
        "issue_invoice",
        "void_invoice",
        "write_off_invoice",
        "list_payments",
        "create_payment",
        "get_payment",
        "refresh_payment",
        "refund_payment",
        "top_up_wallet",
        "stripe_webhook",
        "list_audit_events",
        "healthz",
        "readyz",
    ),
}
UNIT_PHASES = "examples,coverage,fuzzing"
# The stateful phase follows links from one operation to another, of any shard: it runs once,
# over every operation, as a run of its own.
STATEFUL = "stateful"
RUNS = (*SHARDS, STATEFUL)


@dataclass(frozen=True)
class LiveApi:
    url: str
    log: Path


@pytest.fixture
def live_api(server_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveApi]:
    """The service under uvicorn, on a fresh copy of the migrated template, with an admin; not
    throttled. One per run: each starts from an empty database."""
    database_url = create_database(
        server_url, "therapy_schemathesis", template=os.environ[TEMPLATE_VARIABLE]
    )
    secret_key = secrets.token_urlsafe(48)
    phi_keys = "fuzz1:" + base64.b64encode(os.urandom(32)).decode()
    try:
        # The admin as `python -m app createsuperuser` makes one: the production hash, which
        # the server checks at each login.
        with monkeypatch.context() as patch:
            patch.setattr(security, "_passwords", PRODUCTION_PASSWORD_HASH)
            admin = create_staff(
                Settings(
                    environment="test",
                    database_url=database_url,
                    data_dir=tmp_path / "data",
                    secret_key=SecretStr(secret_key),
                    phi_encryption_keys=SecretStr(phi_keys),
                ),
                username=ADMIN_USERNAME,
                password=ADMIN_PASSWORD,
                role="admin",
            )
            asyncio.run(admin)
        # The service's own settings only: none of the caller's (REDIS_URL, CORS_ORIGINS, …)
        # leak in.
        settings = {name.upper() for name in Settings.model_fields}
        env = {name: value for name, value in os.environ.items() if name not in settings}
        env.update(
            {
                "PYTHONPATH": os.pathsep.join(
                    filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")])
                ),
                "ENVIRONMENT": "test",
                "DATABASE_URL": make_url(database_url).render_as_string(hide_password=False),
                "SECRET_KEY": secret_key,
                "PHI_ENCRYPTION_KEYS": phi_keys,
                "DATA_DIR": str(tmp_path / "data"),
                "MEDIA_DIR": str(tmp_path / "media"),
                "API_RATE_LIMIT": "1000000/minute",
                "LOGIN_RATE_LIMIT": "1000000/minute",
                # Nor slowed: the login's delay (per account, per address) would grow past the
                # client's read timeout as examples of the login (now with a device token) fail.
                "LOGIN_ADDRESS_RATE_LIMIT": "1000000/minute",
                "LOGIN_ACCOUNT_RATE_LIMIT": "1000000/minute",
            }
        )
        port = free_port()
        command = [sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port)]
        log = tmp_path / "server.log"
        # The folder as working directory: a developer's .env does not apply.
        with serving([*command, *UVICORN_ARGS], env, log, port, cwd=tmp_path) as served:
            yield LiveApi(url=served.base_url, log=log)
    finally:
        drop_database(server_url, database_url)


def test_every_operation_is_in_exactly_one_shard(app: FastAPI) -> None:
    operations = {
        operation["operationId"]
        for item in app.openapi()["paths"].values()
        for operation in item.values()
    }
    sharded = Counter(name for names in SHARDS.values() for name in names)
    assert sorted(name for name, count in sharded.items() if count > 1) == []
    assert sorted(operations - set(sharded)) == [], "add these to a shard of SHARDS"
    assert sorted(set(sharded) - operations) == [], "these are no operations of the document"


@pytest.mark.parametrize("run", RUNS)
def test_schemathesis_finds_nothing(run: str, live_api: LiveApi) -> None:
    # Generated ids are unknown (404); schemathesis reuses the ids of the patients its own POSTs
    # created, so the other operations are tested on real patients too.
    if run == STATEFUL:
        operations = tuple(name for names in SHARDS.values() for name in names)
        selection = ["--phases", STATEFUL]
    else:
        operations = SHARDS[run]
        selection = [f"--include-operation-id={name}" for name in operations]
        selection += ["--phases", UNIT_PHASES]
    ARTIFACTS.mkdir(exist_ok=True)
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(PROJECT_ROOT / "schemathesis.toml"),
        "--no-color",
        "run",
        f"{live_api.url}/openapi.json",
        *selection,
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        str(EXAMPLES),
        "--seed",
        str(SEED),
        "--report",
        "junit",
        "--report-junit-path",
        str(ARTIFACTS / f"schemathesis-{run}.xml"),
    ]
    # The hooks log in as the admin (and, for each logout, into a session of its own).
    env = {
        **os.environ,
        "THERAPY_FUZZ_USERNAME": ADMIN_USERNAME,
        "THERAPY_FUZZ_PASSWORD": ADMIN_PASSWORD,
    }
    result = subprocess.run(  # noqa: S603 - the schemathesis CLI of this environment
        command,
        cwd=PROJECT_ROOT,  # schemathesis.toml names its hooks file relative to it
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600 + 5 * EXAMPLES,  # about 1 s per example on two cores; a hang fails the test
    )
    report = result.stdout + result.stderr
    (ARTIFACTS / f"schemathesis-{run}.txt").write_text(report)
    if result.returncode != 0:
        server_log = live_api.log.read_text()
        pytest.fail(
            f"schemathesis ({run}, seed {SEED}, {EXAMPLES} examples) failed:\n{report}\n"
            f"server log:\n{server_log[-20_000:]}",
            pytrace=False,
        )
    assert f"Selected: {len(operations)}/" in report, report
