"""What a DASH checklist version is (questions, audience) and which answers it accepts.

Plain Python, no I/O: the referral service checks a referrer's answers with it at submit
time and the risk service before scoring, so both reject the same answers for the same reasons.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal, NamedTuple

# --------------------------------------------------------------------------- vocabulary

Answer = Literal["yes", "no", "dont_know"]
ANSWERS: Final[frozenset[str]] = frozenset({"yes", "no", "dont_know"})

Audience = Literal["partner", "police"]
AUDIENCES: Final[frozenset[str]] = frozenset({"partner", "police"})

# Factors practitioners weigh heavily (docs/DOMAIN.md, "The DASH checklist"); a checklist
# question may carry one so the case summary can show which are present.
HIGH_WEIGHT_FACTORS: Final[frozenset[str]] = frozenset(
    {
        "strangulation",
        "threats_to_kill",
        "stalking",
        "separation",
        "pregnancy_new_baby",
        "escalation",
        "weapons",
        "honour_based_abuse",
        "sexual_abuse",
    }
)

# Reason codes of InvalidAnswers; stable identifiers returned to API callers.
UNKNOWN_QUESTION: Final = "unknown_question"
INVALID_ANSWER: Final = "invalid_answer"


# --------------------------------------------------------------------------- errors


class ChecklistAnswersError(Exception):
    """Base of the errors about answers to a checklist; messages carry ids and codes only."""


class IncompleteChecklist(ChecklistAnswersError):
    """Some questions have no answer and the checklist version does not allow that."""

    def __init__(self, missing_question_ids: Sequence[str]) -> None:
        self.missing_question_ids: tuple[str, ...] = tuple(missing_question_ids)
        super().__init__(
            f"{len(self.missing_question_ids)} question(s) unanswered: "
            + ", ".join(self.missing_question_ids)
        )


class AnswerProblem(NamedTuple):
    """One rejected answer: which question id and why (a reason code)."""

    question_id: str
    reason: str


class InvalidAnswers(ChecklistAnswersError):
    """Answers name questions the checklist does not have, or hold values other than the three.

    `problems` lists every rejected (question id, reason code). For `unknown_question` the id
    is whatever the caller sent, so it may be returned to that caller but must not be logged;
    the exception message therefore names only the checklist's own ids and counts the rest.
    The answer values themselves are never kept.
    """

    def __init__(self, problems: Sequence[AnswerProblem]) -> None:
        self.problems: tuple[AnswerProblem, ...] = tuple(problems)
        self.question_ids: tuple[str, ...] = tuple(p.question_id for p in self.problems)
        parts = [
            f"{p.question_id}: {p.reason}" for p in self.problems if p.reason != UNKNOWN_QUESTION
        ]
        unknown = sum(1 for p in self.problems if p.reason == UNKNOWN_QUESTION)
        if unknown:
            parts.append(f"{unknown} unknown question id(s)")
        super().__init__("invalid answers: " + "; ".join(parts))


# --------------------------------------------------------------------------- checklists


@dataclass(frozen=True)
class Question:
    """One yes / no / don't-know question of a checklist version.

    `id` is stable within a version (answers are keyed by it); `number` is its position on
    the form (1..N); `label` is our own short wording, not the form's.
    """

    id: str
    number: int
    label: str
    group: str
    high_weight_factor: str | None = None

    def __post_init__(self) -> None:
        factor = self.high_weight_factor
        if factor is not None and factor not in HIGH_WEIGHT_FACTORS:
            raise ValueError(f"question {self.id}: unknown high-weight factor code")


@dataclass(frozen=True)
class Checklist:
    """One version of a risk checklist (e.g. "dash-partner-2009-v1"), loaded from data."""

    version: str
    title: str
    audience: str
    questions: tuple[Question, ...]
    allow_missing: bool = False

    def __post_init__(self) -> None:
        # Invariants the scoring relies on; the file schema reports the same with field names.
        if self.audience not in AUDIENCES:
            raise ValueError(f"checklist {self.version}: unknown audience")
        if not self.questions:
            raise ValueError(f"checklist {self.version}: no questions")
        ids = [q.id for q in self.questions]
        if len(set(ids)) != len(ids):
            raise ValueError(f"checklist {self.version}: question ids are not unique")
        if [q.number for q in self.questions] != list(range(1, len(self.questions) + 1)):
            raise ValueError(f"checklist {self.version}: questions are not numbered 1..N in order")

    @property
    def question_ids(self) -> tuple[str, ...]:
        return tuple(q.id for q in self.questions)

    def __len__(self) -> int:
        return len(self.questions)


# --------------------------------------------------------------------------- answers


def validate_answers(checklist: Checklist, answers: Mapping[str, str]) -> tuple[str, ...]:
    """Check answers against the checklist; return the unanswered question ids.

    Raises `InvalidAnswers` for unknown question ids or values other than yes / no /
    dont_know (checked first), then `IncompleteChecklist` if questions are unanswered and
    the version does not allow that. A question is unanswered only when its id is absent.
    """
    known = set(checklist.question_ids)
    problems = [
        AnswerProblem(q.id, INVALID_ANSWER)
        for q in checklist.questions
        if q.id in answers and not _is_answer(answers[q.id])
    ]
    problems += sorted(
        (AnswerProblem(str(key), UNKNOWN_QUESTION) for key in answers if key not in known),
        key=lambda p: p.question_id,
    )
    if problems:
        raise InvalidAnswers(problems)
    missing = tuple(q.id for q in checklist.questions if q.id not in answers)
    if missing and not checklist.allow_missing:
        raise IncompleteChecklist(missing)
    return missing


def _is_answer(value: object) -> bool:
    return isinstance(value, str) and value in ANSWERS
