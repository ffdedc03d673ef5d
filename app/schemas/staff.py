from typing import Annotated

from pydantic import Field

from app.models.staff import StaffRole
from app.schemas.base import BaseSchema
from app.schemas.fields import Password, Text

Username = Annotated[Text, Field(min_length=1, max_length=150, pattern=r"^[\w.@+-]+$")]


class StaffCreate(BaseSchema):
    username: Username
    password: Password
    role: StaffRole
