"""The SQL of billable services: none written by hand (app.db.repository)."""

from typing import cast

from sqlalchemy import Table

from app.db.repository import Repository
from app.models.payments import BillableService
from app.payments.schemas import BillableServiceRow


class BillableServiceRepository(Repository[BillableServiceRow]):
    table = cast(Table, BillableService.__table__)
    row = BillableServiceRow
    filters = ("code",)
    order_by = ("code", "id")
    deleted_at = "deleted_at"
    updated_at = "updated_at"
