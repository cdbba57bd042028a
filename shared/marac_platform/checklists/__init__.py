"""Versioned DASH checklists: reference data shared by the referral and risk services.

`model` defines a checklist and which answers it accepts (`validate_answers`); `loader`
reads the shipped versions from `data/*.yaml`. Referral rejects bad answers at submit time
with the same rules risk applies before scoring.
"""

from marac_platform.checklists.loader import (
    ChecklistError,
    ChecklistSchema,
    QuestionSchema,
    UnknownChecklistVersion,
    get_checklist,
    largest_checklist_length,
    load_checklist_file,
    load_checklists,
    parse_checklist,
    shipped_checklists,
)
from marac_platform.checklists.model import (
    ANSWERS,
    AUDIENCES,
    HIGH_WEIGHT_FACTORS,
    INVALID_ANSWER,
    UNKNOWN_QUESTION,
    Answer,
    AnswerProblem,
    Audience,
    Checklist,
    ChecklistAnswersError,
    IncompleteChecklist,
    InvalidAnswers,
    Question,
    validate_answers,
)

__all__ = [
    "ANSWERS",
    "AUDIENCES",
    "HIGH_WEIGHT_FACTORS",
    "INVALID_ANSWER",
    "UNKNOWN_QUESTION",
    "Answer",
    "AnswerProblem",
    "Audience",
    "Checklist",
    "ChecklistAnswersError",
    "ChecklistError",
    "ChecklistSchema",
    "IncompleteChecklist",
    "InvalidAnswers",
    "Question",
    "QuestionSchema",
    "UnknownChecklistVersion",
    "get_checklist",
    "largest_checklist_length",
    "load_checklist_file",
    "load_checklists",
    "parse_checklist",
    "shipped_checklists",
    "validate_answers",
]
