"""The knowledge file: its schema, and loading it with one clear message when it is wrong."""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

# The ids are a contract with evaluation sets written outside the project.
INTENT_IDS: tuple[str, ...] = (
    "cso_vs_cmo", "cso_role", "cso_responsibilities", "cmo_role", "cmo_responsibilities",
    "cso_skills", "cmo_skills", "collaboration", "collaboration_tips", "when_needed",
    "small_business", "summary", "contact", "greeting", "thanks", "goodbye", "help",
)  # fmt: skip
SMALL_TALK: frozenset[str] = frozenset({"greeting", "thanks", "goodbye", "help"})
PLACEHOLDER_EMAIL = "[email protected]"

Role = Literal["cso", "cmo", "both"]


class KnowledgeError(Exception):
    """The knowledge file cannot be used; the message names the file, entry and field."""


class Contact(BaseModel):
    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)

    organization: str = Field(min_length=1)
    phone: str = Field(min_length=6, pattern=r"^\+?[0-9]+$")
    phone_display: str = ""
    email: str = ""
    address: str = Field(min_length=1)
    hours: str = Field(min_length=1)

    @field_validator("email")
    @classmethod
    def _real_email(cls, value: str) -> str:
        # The article's web page hid its address behind this placeholder: it is not an email.
        if value and ("@" not in value or "protected" in value):
            raise ValueError("not a real email address (leave it empty and set CONTACT_EMAIL)")
        return value


class Entry(BaseModel):
    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)

    id: str
    title: str = Field(min_length=1, max_length=60)
    button: str = Field(min_length=1, max_length=24)
    role: Role | None = None
    topic: str = Field(min_length=1)
    questions: list[str] = Field(min_length=6)
    keywords: list[str] = Field(default_factory=list)
    answer: str = Field(min_length=1)
    related: list[str] = Field(default_factory=list)

    @field_validator("questions", "keywords")
    @classmethod
    def _no_blank(cls, values: list[str]) -> list[str]:
        values = [v.strip() for v in values]
        if any(not v for v in values):
            raise ValueError("contains an empty string")
        return values


class Knowledge(BaseModel):
    model_config = ConfigDict(extra="allow")

    version: int = 1
    contact: Contact
    entries: list[Entry] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Knowledge:
        seen: set[str] = set()
        for index, entry in enumerate(self.entries):
            where = f"entries[{index}] ({entry.id})"
            if entry.id not in INTENT_IDS:
                raise ValueError(f"{where}: field 'id': unknown intent id {entry.id!r}")
            if entry.id in seen:
                raise ValueError(f"{where}: field 'id': duplicate id {entry.id!r}")
            seen.add(entry.id)
        for index, entry in enumerate(self.entries):
            for related in entry.related:
                if related not in seen or related == entry.id:
                    raise ValueError(
                        f"entries[{index}] ({entry.id}): field 'related': "
                        f"unknown related id {related!r}"
                    )
        missing = [i for i in INTENT_IDS if i not in seen]
        if missing:
            raise ValueError(f"entries: missing intent ids {', '.join(missing)}")
        return self

    @cached_property
    def by_id(self) -> dict[str, Entry]:
        """intent id -> entry (looked up several times for every reply)."""
        return {entry.id: entry for entry in self.entries}

    def entry(self, intent: str) -> Entry:
        """The entry of `intent`; KeyError for an unknown id."""
        return self.by_id[intent]

    def with_email(self, email: str) -> Knowledge:
        """The contact block with the configured email (the file itself keeps it empty)."""
        if not email:
            return self
        return self.model_copy(update={"contact": self.contact.model_copy(update={"email": email})})


def _describe(error: ValidationError, data: object) -> str:
    first = error.errors()[0]
    loc = list(first["loc"])
    parts: list[str] = []
    if len(loc) >= 2 and loc[0] == "entries" and isinstance(loc[1], int):
        entry_id = "?"
        if isinstance(data, dict):
            entries = data.get("entries")
            if isinstance(entries, list) and loc[1] < len(entries):
                item = entries[loc[1]]
                if isinstance(item, dict):
                    entry_id = str(item.get("id", "?"))
        parts.append(f"entries[{loc[1]}] ({entry_id})")
        loc = loc[2:]
    elif loc and loc[0] == "contact":
        parts.append("contact")
        loc = loc[1:]
    if loc:
        parts.append("field " + repr(".".join(str(p) for p in loc)))
    message = first["msg"].removeprefix("Value error, ")
    return (": ".join(parts) + ": " if parts else "") + message


def read_knowledge_json(path: Path) -> object:
    """The knowledge file's JSON, unvalidated, or KnowledgeError with one readable line."""
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KnowledgeError(f"{path}: cannot read the knowledge file ({exc})") from None
    try:
        data: object = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise KnowledgeError(
            f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    return data


def validate_knowledge(data: object, path: Path) -> Knowledge:
    """`data` (the JSON of the file at `path`) as Knowledge, or KnowledgeError naming the
    file, entry and field."""
    try:
        return Knowledge.model_validate(data)
    except ValidationError as exc:
        raise KnowledgeError(f"{path}: {_describe(exc, data)}") from None


def load_knowledge(path: Path) -> Knowledge:
    """Read and validate the knowledge file, or raise KnowledgeError with one readable line."""
    return validate_knowledge(read_knowledge_json(path), path)
