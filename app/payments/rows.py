"""The rows the payments' statements return (app.db.repository checks them against the table
when the repository is defined)."""

from datetime import datetime
from decimal import Decimal
from typing import TypedDict


class BillableServiceRow(TypedDict):
    id: int
    code: str
    name: str
    duration_minutes: int
    price: Decimal
    created_at: datetime
    updated_at: datetime
