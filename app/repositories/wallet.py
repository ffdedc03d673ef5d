"""The wallet ledger, read side. Rows are written by PatientRepository.change_wallet."""

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.wallet import WalletTransaction


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

    async def count(self, patient_id: str) -> int:
        statement = select(func.count()).where(WalletTransaction.patient_id == patient_id)
        return (await self.session.execute(statement)).scalar_one()
