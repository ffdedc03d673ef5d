from typing import Literal

from pydantic import ConfigDict

from app.schemas import examples
from app.schemas.base import BaseSchema


class Token(BaseSchema):
    """A bearer token for the `Authorization` header, valid for `expires_in` seconds."""

    # token_type has a default but is always sent: the response schema says it is required.
    model_config = ConfigDict(
        json_schema_extra={"examples": [examples.TOKEN]},
        json_schema_serialization_defaults_required=True,
    )

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105
    expires_in: int
