"""A response's score, band and safety rules met, by its instrument's data; and a patient's trend
over their scores. Pure functions: the service stores what they return."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from app.core.errors import ValidationFailed
from app.measures.instruments import Band, Instrument, Item

ANSWERS_FIELD = "answers"
_SHOWN_KEY_LENGTH = 40


@dataclass(frozen=True, slots=True)
class AnswerProblem:
    link_id: str
    message: str


class InvalidAnswers(ValidationFailed):
    """400 `{"answers": ["Item 9 (…): …", …]}`: one message per item at fault, each naming its
    item and saying why, never quoting another item's answer."""

    def __init__(self, problems: Sequence[AnswerProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__({ANSWERS_FIELD: [problem.message for problem in self.problems]})


@dataclass(frozen=True, slots=True)
class RuleMet:
    id: str
    message: str


@dataclass(frozen=True, slots=True)
class Scored:
    instrument_id: str
    total: int
    band: Band
    rules_met: tuple[RuleMet, ...]


def _label(item: Item) -> str:
    return f"Item {item.number} ({item.text})"


def _problem(instrument: Instrument, item: Item, value: object) -> str | None:
    options = instrument.options_of(item)
    choices = ", ".join(str(option.value) for option in options)
    # bool is an int to Python, never an answer.
    if isinstance(value, bool) or not isinstance(value, int):
        return f"{_label(item)}: a whole number is required, one of {choices}."
    if instrument.option(item, value) is None:
        return f"{_label(item)}: {value} is not one of the answers {choices}."
    return None


def validate_answers(instrument: Instrument, answers: Mapping[str, object]) -> dict[str, int]:
    """The answers as the instrument takes them; InvalidAnswers names every item at fault."""
    problems: list[AnswerProblem] = []
    valid: dict[str, int] = {}
    for item in instrument.items:
        if item.link_id not in answers:
            if item.required:
                problems.append(
                    AnswerProblem(item.link_id, f"{_label(item)}: an answer is required.")
                )
            continue
        value = answers[item.link_id]
        problem = _problem(instrument, item, value)
        if problem is not None:
            problems.append(AnswerProblem(item.link_id, problem))
        else:
            assert isinstance(value, int)
            valid[item.link_id] = value
    known = {item.link_id for item in instrument.items}
    for key in sorted(str(key) for key in answers if key not in known):
        shown = key if len(key) <= _SHOWN_KEY_LENGTH else key[:_SHOWN_KEY_LENGTH] + "…"
        problems.append(AnswerProblem(key, f'Item "{shown}" is not an item of {instrument.name}.'))
    if problems:
        raise InvalidAnswers(problems)
    return valid


def score(instrument: Instrument, answers: Mapping[str, object]) -> Scored:
    """The total, band and safety rules met of a complete response (InvalidAnswers otherwise)."""
    valid = validate_answers(instrument, answers)
    total = sum(valid[item.link_id] for item in instrument.items if item.scored)
    rules_met = tuple(
        RuleMet(rule.id, rule.message)
        for rule in instrument.safety_rules
        if rule.item in valid and valid[rule.item] > rule.above
    )
    return Scored(instrument.id, total, instrument.band_for(total), rules_met)


@dataclass(frozen=True, slots=True)
class Trend:
    first: int
    latest: int
    change: int
    """The latest total minus the first: negative is better on PHQ-9 and GAD-7."""
    response: bool
    """A drop of at least half from the first total (never from a first total of 0)."""
    remission: bool | None
    """The latest total below the instrument's remission threshold; None: it has none."""


def trend(instrument: Instrument, totals: Sequence[int]) -> Trend | None:
    """The trend of a patient's totals on one instrument, oldest first; None with no totals."""
    if not totals:
        return None
    first, latest = totals[0], totals[-1]
    below = instrument.scoring.remission_below
    return Trend(
        first=first,
        latest=latest,
        change=latest - first,
        response=first > 0 and 2 * latest <= first,
        remission=None if below is None else latest < below,
    )
