"""The instruments' file format, read strictly: a file that loads is one the scoring can trust
(its bands cover its score range, its rules name its items). Adding an instrument is a new file
in app/measures/instruments/, named by its id."""

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.functional_validators import AfterValidator

INSTRUMENTS_DIR = Path(__file__).parent / "instruments"
LOINC_SYSTEM = "http://loinc.org"


class InstrumentFileError(Exception):
    """An instrument file that does not load: the message names the file and each problem."""


def _loinc_check_digit(digits: str) -> int:
    """LOINC's mod 10 check digit (Luhn's): a mistyped code fails here, not in a partner's EHR."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2 == 0:
            digit *= 2
            digit = digit - 9 if digit > 9 else digit
        total += digit
    return (10 - total % 10) % 10


def _loinc_code(code: str) -> str:
    number, check = code.split("-")
    if _loinc_check_digit(number) != int(check):
        raise ValueError(f"{code} is not a LOINC code: its check digit is wrong")
    return code


Name = Annotated[str, Field(min_length=1, max_length=200)]
Text = Annotated[str, Field(min_length=1, max_length=1000)]
Key = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,39}$")]
LoincCode = Annotated[str, Field(pattern=r"^[0-9]{1,7}-[0-9]$"), AfterValidator(_loinc_code)]
LoincAnswer = Annotated[str, Field(pattern=r"^LA[0-9]{1,7}-[0-9]$")]
Score = Annotated[int, Field(ge=0, le=10_000)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class AnswerOption(_Strict):
    value: Score
    text: Name
    loinc: LoincAnswer | None = None


class Item(_Strict):
    link_id: Key
    number: Annotated[int, Field(ge=1)]
    text: Text
    options: Key = Field(description="The name of the item's option set.")
    loinc: LoincCode | None = None
    scored: bool = True
    required: bool = True

    @model_validator(mode="after")
    def _scored_items_are_required(self) -> Self:
        if self.scored and not self.required:
            raise ValueError(f"item {self.link_id} is scored, so it must be required")
        return self


class Scoring(_Strict):
    method: Literal["sum"]
    min: Score
    max: Score
    remission_below: Score | None = Field(
        default=None,
        description="A latest total below this is remission; None: the instrument defines none.",
    )


class Band(_Strict):
    id: Key
    label: Name
    min: Score
    max: Score


class SafetyRule(_Strict):
    """Met when the item's answer is above `above`, whatever the total."""

    id: Key
    item: Key
    above: int
    message: Text


class Instrument(_Strict):
    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
    name: Name
    title: Name
    version: Annotated[str, Field(pattern=r"^[0-9A-Za-z.+-]{1,32}$")]
    copyright: Text
    lookback: Text
    questionnaire_loinc: LoincCode | None = None
    total_loinc: LoincCode | None = None
    option_sets: dict[Key, tuple[AnswerOption, ...]]
    items: tuple[Item, ...] = Field(min_length=1)
    scoring: Scoring
    bands: tuple[Band, ...] = Field(min_length=1)
    safety_rules: tuple[SafetyRule, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        self._check_option_sets()
        self._check_items()
        self._check_scoring()
        self._check_bands()
        self._check_rules()
        return self

    def _check_option_sets(self) -> None:
        for name, options in self.option_sets.items():
            if not options:
                raise ValueError(f"option set {name!r} has no options")
            values = [option.value for option in options]
            if values != sorted(set(values)):
                raise ValueError(f"option set {name!r}: values must be unique and ascending")
            if len({option.text for option in options}) != len(options):
                raise ValueError(f"option set {name!r}: two options have the same text")
        unused = set(self.option_sets) - {item.options for item in self.items}
        if unused:
            raise ValueError(f"option sets {sorted(unused)} are used by no item")

    def _check_items(self) -> None:
        link_ids = [item.link_id for item in self.items]
        if len(set(link_ids)) != len(link_ids):
            raise ValueError("two items have the same link_id")
        numbers = [item.number for item in self.items]
        if numbers != list(range(1, len(numbers) + 1)):
            raise ValueError("items must be numbered 1, 2, 3, … in order")
        for item in self.items:
            if item.options not in self.option_sets:
                raise ValueError(f"item {item.link_id}: no option set {item.options!r}")
        if not any(item.scored for item in self.items):
            raise ValueError("no item is scored")

    def _check_scoring(self) -> None:
        scored = [self.options_of(item) for item in self.items if item.scored]
        low = sum(options[0].value for options in scored)
        high = sum(options[-1].value for options in scored)
        if (self.scoring.min, self.scoring.max) != (low, high):
            raise ValueError(
                f"scoring: the scored items' sums run from {low} to {high}, not "
                f"{self.scoring.min} to {self.scoring.max}"
            )
        below = self.scoring.remission_below
        if below is not None and not low < below <= high:
            raise ValueError(f"scoring: remission_below must be above {low} and at most {high}")

    def _check_bands(self) -> None:
        expected = self.scoring.min
        for band in self.bands:
            if band.min != expected:
                raise ValueError(
                    f"bands: {band.id!r} starts at {band.min}, but the bands must cover the "
                    f"scores with no gap or overlap, in order: the next starts at {expected}"
                )
            if band.max < band.min:
                raise ValueError(f"bands: {band.id!r} ends before it starts")
            expected = band.max + 1
        if expected - 1 != self.scoring.max:
            raise ValueError(f"bands: the last one ends at {expected - 1}, not {self.scoring.max}")
        for field in ("id", "label"):
            if len({getattr(band, field) for band in self.bands}) != len(self.bands):
                raise ValueError(f"bands: two bands have the same {field}")

    def _check_rules(self) -> None:
        if len({rule.id for rule in self.safety_rules}) != len(self.safety_rules):
            raise ValueError("safety_rules: two rules have the same id")
        for rule in self.safety_rules:
            item = self.item(rule.item)
            if item is None:
                raise ValueError(f"safety rule {rule.id!r}: no item {rule.item!r}")
            values = [option.value for option in self.options_of(item)]
            if not values[0] <= rule.above < values[-1]:
                raise ValueError(
                    f"safety rule {rule.id!r}: `above` must be from {values[0]} to "
                    f"{values[-1] - 1}, or the rule is always or never met"
                )

    def item(self, link_id: str) -> Item | None:
        return next((item for item in self.items if item.link_id == link_id), None)

    def options_of(self, item: Item) -> tuple[AnswerOption, ...]:
        return self.option_sets[item.options]

    def option(self, item: Item, value: int) -> AnswerOption | None:
        return next((option for option in self.options_of(item) if option.value == value), None)

    def band_for(self, total: int) -> Band:
        """The band of a total in the scoring range (a ValueError outside it)."""
        for band in self.bands:
            if band.min <= total <= band.max:
                return band
        raise ValueError(f"{total} is outside {self.id}'s range")


def _load(path: Path) -> Instrument:
    try:
        instrument = Instrument.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'file'}: {error['msg']}"
            for error in exc.errors(include_url=False)
        )
        raise InstrumentFileError(f"Instrument file {path.name}: {problems}") from exc
    if instrument.id != path.stem:
        raise InstrumentFileError(
            f"Instrument file {path.name}: its id is {instrument.id!r}, but a file is named by "
            "its instrument's id"
        )
    return instrument


def load_instruments(folder: Path) -> dict[str, Instrument]:
    """Every `*.json` of `folder`, validated, by id; InstrumentFileError on the first bad one."""
    paths = sorted(folder.glob("*.json"))
    if not paths:
        raise InstrumentFileError(f"No instrument files (*.json) in {folder}")
    return {instrument.id: instrument for instrument in map(_load, paths)}


@cache
def instruments() -> Mapping[str, Instrument]:
    """The instruments the service ships, read once."""
    return MappingProxyType(load_instruments(INSTRUMENTS_DIR))


def check_instruments() -> None:
    """For create_app: a bad instrument file stops the service at startup, not at a patient's
    answer. Raises InstrumentFileError."""
    instruments()
