"""The wallet balance, changed only with its ledger row, by the API and the admin alike."""

from app.auth.permissions import Principal
from app.core.conditional import Versions
from app.core.errors import NotFound, ValidationFailed
from app.core.metrics import count_wallet_update
from app.db.counting import Count
from app.models.patient import WALLET_MAX
from app.patients.repository import PatientRepository
from app.patients.schemas import PatientRow
from app.requests.work import UnitOfWork
from app.wallet.repository import WalletRepository
from app.wallet.schemas import LedgerEntryRow, WalletUpdate


class WalletService:
    def __init__(self, work: UnitOfWork) -> None:
        self.work = work
        self.wallets = WalletRepository(work)
        self.patients = PatientRepository(work)

    async def change(
        self, patient_id: str, change: WalletUpdate, actor: Principal, *, versions: Versions = None
    ) -> PatientRow:
        """Add the signed amount; a balance that would leave 0…WALLET_MAX is a 400 on `amount`
        and changes nothing."""
        patient = await self.work.completed_by(
            self.wallets.change(
                patient_id,
                change.amount,
                actor=actor.name,
                actor_kind=actor.kind,
                reason=change.reason,
                versions=versions,
            )
        )
        if patient is not None:
            count_wallet_update(change.amount)
            return patient
        current = await self.patients.unchanged(patient_id, versions)
        if current["wallet_balance"] + change.amount < 0:
            message = "Insufficient balance: the wallet balance cannot go below 0.00."
        else:
            message = f"The wallet balance cannot exceed {WALLET_MAX}."
        raise ValidationFailed.on("amount", message)

    async def count(self, patient_id: str, *, exact_up_to: int | None) -> Count:
        if not await self.patients.exists(patient_id):
            raise NotFound
        return await self.wallets.count(patient_id, exact_up_to=exact_up_to)

    async def transactions(
        self, patient_id: str, *, offset: int, limit: int
    ) -> list[LedgerEntryRow]:
        return await self.work.completed_by(
            self.wallets.transactions(patient_id, offset=offset, limit=limit)
        )
