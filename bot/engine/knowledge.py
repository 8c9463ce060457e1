"""The knowledge file: its schema, and loading it with one clear message when it is wrong.

Any business can write one: entries with ids of its own, a contact block, and optionally
the texts that name the business (greeting, help, topic menu) and its own vocabulary
(synonyms, subjects it does not cover, look-alikes of what it does cover). Small talk
(greeting, thanks, goodbye, help) works without entries of its own: generic defaults fill
the ids the file leaves out.
"""

from __future__ import annotations

import json
import re
from functools import cached_property
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot import texts

SMALL_TALK: frozenset[str] = frozenset({"greeting", "thanks", "goodbye", "help"})
CONTACT = "contact"
PLACEHOLDER_EMAIL = "[email protected]"
ID_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
BUTTON_MAX = 24
FEW_QUESTIONS = 5  # `check` warns below this many phrasings: the matcher needs variety
MENU_SIZE = 8


class KnowledgeError(Exception):
    """The knowledge file cannot be used; the message names the file, entry and field."""


def _no_blank(values: list[str]) -> list[str]:
    values = [v.strip() for v in values]
    if any(not v for v in values):
        raise ValueError("contains an empty string")
    return values


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
        # A web page may hide its address behind this placeholder: it is not an email.
        if value and ("@" not in value or "protected" in value):
            raise ValueError("not a real email address (leave it empty and set CONTACT_EMAIL)")
        return value


def button_from_title(title: str) -> str:
    """A button label from a title: cut at a word boundary to BUTTON_MAX characters."""
    title = " ".join(title.split()).rstrip("?!.:;,… ")
    if len(title) <= BUTTON_MAX:
        return title
    cut = title[: BUTTON_MAX + 1].rsplit(" ", 1)[0] if " " in title[:BUTTON_MAX] else ""
    cut = cut.rstrip(",;:–-—/&( ")
    return cut if cut else title[: BUTTON_MAX - 1].rstrip() + "…"


class Entry(BaseModel):
    # Extra fields are kept (a file may carry notes of its own, or older fields).
    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)

    id: str = Field(pattern=ID_PATTERN)
    title: str = Field(min_length=1, max_length=120)
    questions: list[str] = Field(min_length=1)
    answer: str = Field(min_length=1)
    button: str = Field(default="", max_length=BUTTON_MAX)
    keywords: list[str] = Field(default_factory=list)
    related: list[str] = Field(default_factory=list)
    # Facets for follow-ups: "còn X thì sao?" after an answer about one subject's aspect
    # means the same aspect of subject X (and "còn Y?" the same subject's aspect Y).
    subject: str | None = None
    aspect: str | None = None

    _no_blank = field_validator("questions", "keywords")(_no_blank)

    @model_validator(mode="after")
    def _default_button(self) -> Entry:
        if not self.button:
            self.button = button_from_title(self.title)
        return self


class Texts(BaseModel):
    """What the bot says that names the business; every field falls back to a generic text."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    start: str | None = Field(default=None, min_length=1)  # /start, after "Xin chào …!"
    help: str | None = Field(default=None, min_length=1)  # when the file has no `help` entry
    about: str | None = Field(default=None, min_length=1)  # "I am …": the bot describes itself
    menu_title: str | None = Field(default=None, min_length=1)
    greeting: str | None = Field(default=None, min_length=1)
    thanks: str | None = Field(default=None, min_length=1)
    goodbye: str | None = Field(default=None, min_length=1)


class Vocabulary(BaseModel):
    """The business's own words. Keys and variants are compared without diacritics."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    # canonical term -> its variants, abbreviations and English equivalents
    synonyms: dict[str, list[str]] = Field(default_factory=dict)
    # subjects the file deliberately does not cover: the bot hands off rather than guess
    out_of_scope: list[str] = Field(default_factory=list)
    # names that look like a covered subject but are not it (another job title, another
    # brand's model): handed off
    look_alikes: list[str] = Field(default_factory=list)
    # words that say nothing about which answer is wanted, in this business
    ignore: list[str] = Field(default_factory=list)

    _no_blank = field_validator("out_of_scope", "look_alikes", "ignore")(_no_blank)

    @field_validator("synonyms")
    @classmethod
    def _groups(cls, groups: dict[str, list[str]]) -> dict[str, list[str]]:
        for term, variants in groups.items():
            if not term.strip():
                raise ValueError("a synonym group has an empty term")
            _no_blank(variants)
        return {term.strip(): [v.strip() for v in variants] for term, variants in groups.items()}


class MenuItem(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: str
    label: str = Field(default="", max_length=BUTTON_MAX)


class Knowledge(BaseModel):
    model_config = ConfigDict(extra="allow")

    version: int = 1
    contact: Contact
    entries: list[Entry] = Field(min_length=1)
    texts: Texts = Field(default_factory=Texts)
    vocabulary: Vocabulary = Field(default_factory=Vocabulary)
    # The /start topic buttons: entry ids, or {"id", "label"}; default: the first topics.
    menu: list[MenuItem] = Field(default_factory=list)

    @field_validator("menu", mode="before")
    @classmethod
    def _menu_items(cls, items: object) -> object:
        if isinstance(items, list):
            return [{"id": item} if isinstance(item, str) else item for item in items]
        return items

    @model_validator(mode="after")
    def _consistent(self) -> Knowledge:
        seen: set[str] = set()
        for index, entry in enumerate(self.entries):
            if entry.id in seen:
                raise ValueError(
                    f"entries[{index}] ({entry.id}): field 'id': duplicate id {entry.id!r}"
                )
            seen.add(entry.id)
        for index, entry in enumerate(self.entries):
            for related in entry.related:
                if related not in seen or related == entry.id:
                    raise ValueError(
                        f"entries[{index}] ({entry.id}): field 'related': "
                        f"unknown related id {related!r}"
                    )
        for index, item in enumerate(self.menu):
            if item.id not in seen and item.id not in SMALL_TALK:
                raise ValueError(f"menu[{index}]: unknown id {item.id!r}")
        self.entries.extend(_default_small_talk(self, seen))
        return self

    @cached_property
    def by_id(self) -> dict[str, Entry]:
        """intent id -> entry (looked up several times for every reply)."""
        return {entry.id: entry for entry in self.entries}

    def entry(self, intent: str) -> Entry:
        """The entry of `intent`; KeyError for an unknown id."""
        return self.by_id[intent]

    def topics(self) -> list[Entry]:
        """The entries that answer a business question (no small talk, no contact)."""
        return [e for e in self.entries if e.id not in SMALL_TALK and e.id != CONTACT]

    def menu_items(self) -> list[tuple[str, str]]:
        """(intent, label) of the /start topic buttons."""
        if self.menu:
            return [(i.id, i.label or self.entry(i.id).button) for i in self.menu]
        chosen = [e.id for e in self.topics()[: MENU_SIZE - 1]]
        if CONTACT in self.by_id:
            chosen.append(CONTACT)
        return [(intent, self.entry(intent).button) for intent in chosen]

    def warnings(self) -> list[str]:
        """What `check` points out without refusing the file."""
        return [
            texts.CHECK_FEW_QUESTIONS.format(
                id=entry.id, count=len(entry.questions), minimum=FEW_QUESTIONS
            )
            for entry in self.entries
            if len(entry.questions) < FEW_QUESTIONS and not getattr(entry, "generic", False)
        ]

    def with_email(self, email: str) -> Knowledge:
        """The contact block with the configured email (the file itself keeps it empty)."""
        if not email:
            return self
        return self.model_copy(update={"contact": self.contact.model_copy(update={"email": email})})


def _default_small_talk(knowledge: Knowledge, present: set[str]) -> list[Entry]:
    """Generic entries for the small-talk ids the file leaves out. Their phrasings live in
    the lexicon (the matcher adds them to every file's small talk); these need none of
    their own beyond the title."""
    own = knowledge.texts
    about = own.about or texts.DEFAULT_ABOUT.format(organization=knowledge.contact.organization)
    topics = [e.title for e in knowledge.entries if e.id not in SMALL_TALK and e.id != CONTACT]
    shown = topics[: texts.HELP_TOPICS_SHOWN]
    help_answer = own.help or "\n".join(
        [about, texts.DEFAULT_HELP_TOPICS, *(f"• {t}" for t in shown), texts.DEFAULT_HELP_END]
    )
    answers = {
        "greeting": own.greeting or texts.DEFAULT_GREETING,
        "thanks": own.thanks or texts.DEFAULT_THANKS,
        "goodbye": own.goodbye or texts.DEFAULT_GOODBYE,
        "help": help_answer,
    }
    entries = []
    for intent in ("greeting", "thanks", "goodbye", "help"):
        if intent in present:
            continue
        title = texts.DEFAULT_SMALL_TALK_TITLES[intent]
        entries.append(
            Entry(id=intent, title=title, questions=[title], answer=answers[intent], generic=True)
        )
    return entries


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
    elif loc and loc[0] in ("contact", "texts", "vocabulary", "menu"):
        parts.append(str(loc[0]))
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


def knowledge_files(folder: Path) -> list[Path]:
    """The knowledge files of a folder: its `*.json` files, in name order."""
    return sorted(p for p in folder.glob("*.json") if p.is_file() and not p.name.startswith("."))


def read_knowledge_folder(folder: Path) -> list[tuple[Path, object]]:
    """Each knowledge file of `folder` with its JSON, unvalidated."""
    files = knowledge_files(folder)
    if not files:
        raise KnowledgeError(f"{folder}: no knowledge file (*.json) in this folder")
    return [(file, read_knowledge_json(file)) for file in files]


_ENTRY_AT = re.compile(r"entries\[(\d+)\]")


def validate_parts(parts: list[tuple[Path, object]], folder: Path) -> Knowledge:
    """Several files as one Knowledge: entries (ids unique across files), texts, vocabulary
    and menus merged; exactly one file holds the contact block. KnowledgeError names the
    file and the entry."""
    merged: dict[str, object] = {"version": 1, "entries": [], "menu": []}
    entries: list[object] = []
    menu: list[object] = []
    texts_seen: dict[str, Path] = {}
    merged_texts: dict[str, object] = {}
    synonyms: dict[str, list[object]] = {}
    lists: dict[str, list[object]] = {"out_of_scope": [], "look_alikes": [], "ignore": []}
    sources: list[tuple[Path, int]] = []
    ids: dict[str, Path] = {}
    contact_file: Path | None = None
    for file, data in parts:
        if not isinstance(data, dict):
            raise KnowledgeError(f"{file}: the file must hold one JSON object")
        for key, value in data.items():
            if key not in ("entries", "menu", "texts", "vocabulary", "contact", "version"):
                merged.setdefault(key, value)
        if "contact" in data:
            if contact_file is not None:
                raise KnowledgeError(
                    f"{file}: contact: a second contact block (the first is in {contact_file})"
                )
            contact_file = file
            merged["contact"] = data["contact"]
        part_entries = data.get("entries", [])
        if not isinstance(part_entries, list):
            raise KnowledgeError(f"{file}: field 'entries': must be a list")
        for index, entry in enumerate(part_entries):
            entry_id = entry.get("id") if isinstance(entry, dict) else None
            if isinstance(entry_id, str) and entry_id in ids:
                raise KnowledgeError(
                    f"{file}: entries[{index}] ({entry_id}): field 'id': duplicate id "
                    f"{entry_id!r} (also in {ids[entry_id]})"
                )
            if isinstance(entry_id, str):
                ids[entry_id] = file
            entries.append(entry)
            sources.append((file, index))
        part_menu = data.get("menu", [])
        menu.extend(part_menu if isinstance(part_menu, list) else [part_menu])
        part_texts = data.get("texts", {})
        if isinstance(part_texts, dict):
            for key, value in part_texts.items():
                if key in texts_seen:
                    raise KnowledgeError(f"{file}: texts: {key!r} is also set in {texts_seen[key]}")
                texts_seen[key] = file
                merged_texts[key] = value
        vocabulary = data.get("vocabulary", {})
        if isinstance(vocabulary, dict):
            for key, value in vocabulary.items():
                if key == "synonyms" and isinstance(value, dict):
                    for term, variants in value.items():
                        synonyms.setdefault(term, []).extend(
                            variants if isinstance(variants, list) else [variants]
                        )
                elif key in lists and isinstance(value, list):
                    lists[key].extend(value)
                else:
                    raise KnowledgeError(f"{file}: vocabulary: unknown or malformed {key!r}")
        version = data.get("version", 1)
        if isinstance(version, int) and isinstance(merged["version"], int):
            merged["version"] = max(merged["version"], version)
    if contact_file is None:
        raise KnowledgeError(f"{folder}: contact: no file of the folder has the contact block")
    merged.update(entries=entries, menu=menu, texts=merged_texts)
    merged["vocabulary"] = {"synonyms": synonyms, **lists}
    try:
        return Knowledge.model_validate(merged)
    except ValidationError as exc:
        message = _describe(exc, merged)
    found = _ENTRY_AT.search(message)
    if found and int(found.group(1)) < len(sources):
        file, local = sources[int(found.group(1))]
        message = message[: found.start()] + f"entries[{local}]" + message[found.end() :]
        raise KnowledgeError(f"{file}: {message.removeprefix(str(file) + ': ')}")
    where = contact_file if message.startswith("contact") else folder
    raise KnowledgeError(f"{where}: {message}")


def file_of(parts: list[tuple[Path, object]], intent: str) -> int | None:
    """Which of the parts holds entry `intent` (its position), if any."""
    for position, (_, data) in enumerate(parts):
        entries = data.get("entries", []) if isinstance(data, dict) else []
        if isinstance(entries, list) and any(
            isinstance(e, dict) and e.get("id") == intent for e in entries
        ):
            return position
    return None


def load_knowledge(path: Path) -> Knowledge:
    """Read and validate the knowledge file, or the folder of them, or raise KnowledgeError
    with one readable line."""
    if path.is_dir():
        return validate_parts(read_knowledge_folder(path), path)
    return validate_knowledge(read_knowledge_json(path), path)
