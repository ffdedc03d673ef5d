from typing import Annotated

from fastapi import Depends

from app.audit.dependencies import WorkDep
from app.wallet.service import WalletService


async def _wallet_service(work: WorkDep) -> WalletService:
    return WalletService(work)


WalletServiceDep = Annotated[WalletService, Depends(_wallet_service)]
