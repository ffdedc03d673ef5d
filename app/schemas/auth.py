from typing import Literal

from app.schemas.base import BaseSchema


class Token(BaseSchema):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105
    expires_in: int
