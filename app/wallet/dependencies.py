from typing import Annotated

from fastapi import Depends

from app.auth.dependencies import CallerDep
from app.wallet.service import WalletService


async def _wallet_service(caller: CallerDep) -> WalletService:
    return WalletService(caller.work)


WalletServiceDep = Annotated[WalletService, Depends(_wallet_service)]
