"""The wallet ledger, read side. Rows are written by PatientRepository.change_wallet."""

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.wallet import WalletTransaction
from app.repositories.counting import Count, count_rows


class WalletTransactionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list(
        self, patient_id: str, *, offset: int, limit: int
    ) -> Sequence[WalletTransaction]:
        """Newest first."""
        statement = (
            select(WalletTransaction)
            .where(WalletTransaction.patient_id == patient_id)
            .order_by(WalletTransaction.id.desc())
            .offset(offset)
            .limit(limit)
        )
        return (await self.session.scalars(statement)).all()

    async def count(self, patient_id: str, *, exact_up_to: int | None) -> Count:
        rows = select(WalletTransaction.id).where(WalletTransaction.patient_id == patient_id)
        return await count_rows(self.session, rows, exact_up_to=exact_up_to)
