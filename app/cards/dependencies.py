from typing import Annotated

from fastapi import Path

from app.core.ids import id_path

# An id that cannot exist is simply not found (a 404, app.core.errors): it never reaches the
# database or the processor.
MethodIdPath = Annotated[int, id_path("The card's id (`id` in the list).", 7)]
SetupIntentIdPath = Annotated[
    str,
    Path(
        description="The SetupIntent's id, as `POST …/payment-methods/setup/` answered it.",
        examples=["seti_1QfA2bC3dE4fG5hI"],
        pattern=r"^seti_[A-Za-z0-9]{1,200}$",
    ),
]
