from pydantic import ConfigDict

from app.core.schemas import BaseSchema


class CalendarFeedRead(BaseSchema):
    url: str

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"url": "https://api.example.org/api/calendars/Xy3Q.ics"}]}
    )
