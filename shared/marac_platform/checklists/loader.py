"""Loads and validates the versioned risk checklists kept as YAML files in `data/`.

Every `*.yaml` file in the folder is one checklist version; adding a version (a young-person
or older-person variant, DARA) is adding a file, not code. A file's name must be its version
id, so a recorded assessment's version always leads back to exactly one file.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
from marshmallow import (
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates,
)

from marac_platform.checklists.model import AUDIENCES, HIGH_WEIGHT_FACTORS, Checklist, Question

_SLUG = r"^[a-z0-9]+(?:[.-][a-z0-9]+)*$"


class ChecklistError(Exception):
    """A checklist file is unreadable or invalid; names the file and the failing fields."""


class UnknownChecklistVersion(KeyError):
    """No checklist with this version id is shipped."""


class QuestionSchema(Schema):
    id = fields.Str(required=True, validate=[validate.Length(max=64), validate.Regexp(_SLUG)])
    number = fields.Int(required=True, strict=True, validate=validate.Range(min=1))
    label = fields.Str(required=True, validate=validate.Length(min=1, max=120))
    group = fields.Str(required=True, validate=[validate.Length(max=40), validate.Regexp(_SLUG)])
    high_weight_factor = fields.Str(
        load_default=None, allow_none=True, validate=validate.OneOf(sorted(HIGH_WEIGHT_FACTORS))
    )

    @post_load
    def make_question(self, data: dict[str, Any], **_: Any) -> Question:
        return Question(**data)


class ChecklistSchema(Schema):
    """The shape of one checklist file (see data/dash-partner-2009-v1.yaml)."""

    version = fields.Str(required=True, validate=[validate.Length(max=64), validate.Regexp(_SLUG)])
    title = fields.Str(required=True, validate=validate.Length(min=1, max=200))
    audience = fields.Str(required=True, validate=validate.OneOf(sorted(AUDIENCES)))
    allow_missing = fields.Bool(load_default=False)
    questions = fields.List(
        fields.Nested(QuestionSchema), required=True, validate=validate.Length(min=1)
    )

    @validates("questions")
    def check_questions(self, value: list[Question], **_: Any) -> None:
        if not all(isinstance(q, Question) for q in value):
            return  # an invalid question is already reported by QuestionSchema
        problems: list[str] = []
        ids = [q.id for q in value]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            problems.append("Duplicate question ids: " + ", ".join(duplicates) + ".")
        if [q.number for q in value] != list(range(1, len(value) + 1)):
            problems.append(f"Questions must be numbered 1..{len(value)} in order.")
        if problems:
            raise ValidationError(problems)

    @post_load
    def make_checklist(self, data: dict[str, Any], **_: Any) -> Checklist:
        return Checklist(
            version=data["version"],
            title=data["title"],
            audience=data["audience"],
            questions=tuple(data["questions"]),
            allow_missing=data["allow_missing"],
        )


def parse_checklist(data: Mapping[str, Any], *, source: str = "<data>") -> Checklist:
    """Validate one checklist given as a mapping (as read from YAML)."""
    if not isinstance(data, Mapping):
        raise ChecklistError(f"{source}: a checklist file must hold a mapping")
    try:
        checklist: Checklist = ChecklistSchema().load(dict(data))
    except ValidationError as exc:
        raise ChecklistError(f"{source}: {exc.messages}") from exc
    return checklist


def load_checklist_file(path: Path | Traversable) -> Checklist:
    """Read and validate one checklist file; its name must be `<version>.yaml`."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ChecklistError(f"{path.name}: cannot be read as YAML ({type(exc).__name__})") from exc
    checklist = parse_checklist(data, source=path.name)
    if path.name != f"{checklist.version}.yaml":
        raise ChecklistError(f"{path.name}: file name must be {checklist.version}.yaml")
    return checklist


def _default_directory() -> Traversable:
    return resources.files("marac_platform.checklists").joinpath("data")


def load_checklists(directory: Path | Traversable | None = None) -> Mapping[str, Checklist]:
    """Every `*.yaml` checklist in `directory` (default: the shipped ones), by version id."""
    folder = directory if directory is not None else _default_directory()
    files = sorted(
        (f for f in folder.iterdir() if f.is_file() and f.name.endswith(".yaml")),
        key=lambda f: f.name,
    )
    if not files:
        raise ChecklistError(f"{folder.name}: no checklist files")
    loaded = {c.version: c for c in map(load_checklist_file, files)}
    return MappingProxyType(loaded)


@functools.cache
def shipped_checklists() -> Mapping[str, Checklist]:
    """The checklists shipped with the platform, read once per process."""
    return load_checklists()


def get_checklist(version: str) -> Checklist:
    """The shipped checklist with this version id."""
    try:
        return shipped_checklists()[version]
    except KeyError:
        raise UnknownChecklistVersion(version) from None


def largest_checklist_length(checklists: Mapping[str, Checklist] | None = None) -> int:
    """The number of questions of the longest checklist (the shipped ones by default)."""
    source = checklists if checklists is not None else shipped_checklists()
    return max(len(c.questions) for c in source.values())
