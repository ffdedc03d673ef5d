"""What the three load generators share: the operations, and the captured SQL's file format."""

import base64
import json
import math
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
OUT_DIR = BENCH_DIR / "out"

# A value in captured SQL arguments that each request replaces with its own.
PATIENT = "patient"  # a random seeded patient's id
NEW_ID = "new_id"  # a fresh patient id (create)
PHONE = "phone"  # a phone number nobody has (create)
BALANCE = "balance"  # the balance the statement before returned (update_wallet's ledger row)

# Phone numbers made during a run: a prefix per tool, then a 4-digit salt nobody has used yet,
# so the three tools (and runs against a reused database) never collide, nor with seeded
# numbers, which all start with +1.
PHONE_PREFIX = {"wrk": "+9", "asyncpg": "+8", "pgbench": "+7"}


@dataclass(frozen=True)
class Operation:
    key: str
    label: str
    method: str
    path: str  # {id}: a random seeded patient
    body: dict[str, Any] | None = None


def operations(name: str, phone: str, email: str) -> list[Operation]:
    from urllib.parse import quote

    return [
        Operation("get", "GET by id", "GET", "/api/patients/{id}/"),
        Operation("list_name", f"list ?name={name}", "GET", f"/api/patients/?name={quote(name)}"),
        Operation(
            "list_phone", f"list ?phone={phone}", "GET", f"/api/patients/?phone={quote(phone)}"
        ),
        Operation(
            "list_email", f"list ?email={email}", "GET", f"/api/patients/?email={quote(email)}"
        ),
        Operation("create", "create", "POST", "/api/patients/", CREATE_BODY),
        Operation(
            "update_wallet",
            "update_wallet",
            "POST",
            "/api/patients/{id}/update_wallet/",
            {"amount": "1.00", "reason": "Benchmark"},
        ),
    ]


CREATE_BODY: dict[str, Any] = {
    "password": "bench-password-1",
    "first_name": "Bench",
    "last_name": "Marker",
    "phone_no": None,  # one per request
    "allergies_and_medication": "Penicillin",
    "date_of_birth": "1990-05-17",
    "sex": "F",
    # No e-mail address: one names one patient, and every request creates one.
    "tags": ["anxiety"],
}


# -- captured statements -----------------------------------------------------------------------
# A step is ["ping"], ["begin"], ["commit"], ["rollback"] or ["sql", text, [argument, …]]; an
# argument is a JSON value, or {"$": PATIENT|NEW_ID|PHONE|BALANCE}, or a tagged value below.


def encode_argument(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return {"decimal": str(value)}
    if isinstance(value, datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, date):
        return {"date": value.isoformat()}
    if isinstance(value, bytes):
        return {"bytes": base64.b64encode(value).decode()}
    if isinstance(value, list | tuple):
        return {"list": [encode_argument(item) for item in value]}
    raise TypeError(f"cannot replay an argument of type {type(value).__name__}")


def decode_argument(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    if "decimal" in value:
        return Decimal(value["decimal"])
    if "datetime" in value:
        return datetime.fromisoformat(value["datetime"])
    if "date" in value:
        return date.fromisoformat(value["date"])
    if "bytes" in value:
        return base64.b64decode(value["bytes"])
    if "list" in value:
        return [decode_argument(item) for item in value["list"]]
    return value  # a {"$": …} placeholder


def load_steps(path: Path) -> dict[str, list[list[Any]]]:
    steps: dict[str, list[list[Any]]] = json.loads(path.read_text())
    return steps


@dataclass
class Result:
    """One load generator's figures for one operation."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    note: str = ""

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return math.nan
    index = min(len(sorted_values) - 1, max(0, math.ceil(fraction * len(sorted_values)) - 1))
    return sorted_values[index]
