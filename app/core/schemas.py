from pydantic import BaseModel, ConfigDict


class BaseSchema(BaseModel):
    """Unknown and read-only fields in a request body are ignored, as DRF does."""

    model_config = ConfigDict(from_attributes=True, extra="ignore")
