from typing import Annotated

from app.core.ids import id_path

AppointmentIdPath = Annotated[int, id_path("The appointment's id.", 123)]
SeriesIdPath = Annotated[int, id_path("The series' id.", 4)]
