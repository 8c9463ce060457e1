"""Changing the knowledge file while the bot runs: a new phrasing for an intent, written so
that a crash at any moment leaves either the old file or the new one, and the running
Assistant switched to it. No Telegram here; the admin handlers and tests call it.

Writing a file atomically: the new content is validated first (the checks of
`load_knowledge`), written to a temporary file in the same directory and fsync'd; the
previous version is kept as `<name>.bak` (written the same way); then `os.replace` puts the
new file in place in one step, and the directory is fsync'd so the rename survives a power
cut. Temporary files are hidden (`.<name>.<random>.tmp`); a crash can leave one behind, never
a half-written knowledge file, and the next write of that file removes what an earlier one
left (once it is an hour old: another process may be writing right now).
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import json
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bot import texts
from bot.engine.assistant import Assistant
from bot.engine.knowledge import (
    Knowledge,
    KnowledgeError,
    file_of,
    load_knowledge,
    read_knowledge_folder,
    read_knowledge_json,
    validate_knowledge,
    validate_parts,
)
from bot.engine.normalize import normalize

BACKUP_SUFFIX = ".bak"
TEMP_SUFFIX = ".tmp"
STALE_TEMP_SECONDS = 3600.0


class PhrasingRejected(KnowledgeError):
    """The phrasing cannot be added; the message says why, for the admin (Vietnamese)."""


class UnknownIntent(PhrasingRejected):
    def __init__(self, intent: str) -> None:
        super().__init__(texts.ADMIN_ASSIGN_UNKNOWN_INTENT.format(intent=intent))
        self.intent = intent


class DuplicatePhrasing(PhrasingRejected):
    """Intent `intent` (titled `title`) already has `existing`, the same as `phrasing`."""

    def __init__(self, phrasing: str, intent: str, title: str, existing: str) -> None:
        super().__init__(
            texts.ADMIN_ASSIGN_DUPLICATE.format(question=phrasing, title=title, existing=existing)
        )
        self.phrasing = phrasing
        self.intent = intent
        self.title = title
        self.existing = existing


class EmptyPhrasing(PhrasingRejected):
    def __init__(self) -> None:
        super().__init__(texts.ADMIN_ASSIGN_EMPTY)


def backup_path(path: Path) -> Path:
    """Where the previous version of `path` is kept: `faq.json` -> `faq.json.bak`."""
    return path.with_name(path.name + BACKUP_SUFFIX)


def phrasing_key(text: str) -> str:
    """A phrasing as the engine compares it (case, punctuation, diacritics, teencode
    ignored): two phrasings with the same key are duplicates."""
    return " ".join(normalize(text).folded)


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # a platform that cannot open directories: nothing more to do
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_temp_files(path: Path, now: float | None = None) -> int:
    """Delete the temporary files of `path` that a crashed write left (an hour old or more);
    how many."""
    cutoff = (time.time() if now is None else now) - STALE_TEMP_SECONDS
    removed = 0
    for temp in path.parent.glob(f".{glob.escape(path.name)}.*{TEMP_SUFFIX}"):
        with contextlib.suppress(OSError):  # gone meanwhile, or not ours to delete
            if temp.stat().st_mtime < cutoff:
                temp.unlink()
                removed += 1
    return removed


def write_atomic(path: Path, content: bytes, mode: int = 0o644) -> None:
    """Replace `path` with `content` in one step: a reader (or a crash) sees the old file or
    the new one, never part of either."""
    remove_stale_temp_files(path)
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        temp.chmod(mode)
        temp.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    _fsync_directory(path.parent)


def write_knowledge(path: Path, data: object, knowledge: Knowledge | None = None) -> Knowledge:
    """Validate `data`, keep the current file as `<name>.bak`, then write `data` to `path`
    atomically (pretty JSON, as the file is laid out by hand). Returns the new Knowledge;
    KnowledgeError when `data` is not valid (nothing written) or the file cannot be written
    (the file is as it was). `knowledge`: `data` already validated (with the rest of its
    folder)."""
    if knowledge is None:
        knowledge = validate_knowledge(data, path)
    content = (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    try:
        mode = 0o644
        if path.exists():
            mode = path.stat().st_mode & 0o777
            write_atomic(backup_path(path), path.read_bytes(), mode)
        write_atomic(path, content, mode)
    except OSError as exc:  # no rights, a full disk: the file is as it was
        raise KnowledgeError(f"{path}: cannot write the knowledge file ({exc})") from None
    return knowledge


def add_phrasing(path: Path, intent: str, question: str) -> Knowledge:
    """Add `question` as a new phrasing of `intent` in the knowledge file at `path`.

    Refuses (PhrasingRejected, nothing written) an unknown intent, an empty question, and a
    question some intent already has (compared after normalisation, so case, diacritics and
    punctuation do not make a new phrasing). KnowledgeError when the file itself is broken.
    The file keeps its layout and every field; only the intent's "questions" list grows.
    """
    parts = read_knowledge_folder(path) if path.is_dir() else [(path, read_knowledge_json(path))]
    current = (
        validate_parts(parts, path) if path.is_dir() else validate_knowledge(parts[0][1], path)
    )
    phrasing = " ".join(question.split())
    if not phrasing or not normalize(phrasing).folded:
        raise EmptyPhrasing()
    if intent not in current.by_id:
        raise UnknownIntent(intent)
    key = phrasing_key(phrasing)
    for entry in current.entries:
        for existing in (*entry.questions, entry.title):
            if phrasing_key(existing) == key:
                raise DuplicatePhrasing(phrasing, entry.id, entry.title, existing)
    # In a folder, the file that holds the intent is the one written.
    position = file_of(parts, intent)
    if position is None:  # a generic small-talk entry: no file of its own to write
        raise UnknownIntent(intent)
    target, data = parts[position]
    assert isinstance(data, dict)  # validated above
    for item in data["entries"]:
        if item.get("id") == intent:
            item["questions"].append(phrasing)
    if not path.is_dir():
        return write_knowledge(target, data)
    return write_knowledge(target, data, validate_parts(parts, path))


class LiveKnowledge:
    """The knowledge file behind a running Assistant.

    Changes happen one at a time (an asyncio.Lock: two /assign presses at once both land,
    neither overwrites the other), the file work runs in a worker thread so the bot keeps
    answering, and the Assistant answers from the new knowledge as soon as it is on disk.
    The contact email setting is applied as at start-up (`bot.cli.build_assistant`).
    """

    def __init__(self, path: Path, assistant: Assistant, contact_email: str = "") -> None:
        self.path = path
        self.assistant = assistant
        self.contact_email = contact_email
        self._lock = asyncio.Lock()
        # Told of each change made here (several instances: bot.cluster.knowledge tells the
        # others); not of the changes it applies for them (announce=False).
        self.on_change: Callable[[KnowledgeChange], Awaitable[None]] | None = None

    def _use(self, knowledge: Knowledge) -> None:
        self.assistant.reload(knowledge.with_email(self.contact_email))

    async def add_phrasing(self, intent: str, question: str, *, announce: bool = True) -> Knowledge:
        """`add_phrasing` on the file, then the Assistant reloaded. Raises as it does."""
        async with self._lock:
            knowledge = await asyncio.to_thread(add_phrasing, self.path, intent, question)
            self._use(knowledge)
        if announce and self.on_change is not None:
            await self.on_change(KnowledgeChange("assign", intent, question))
        return knowledge

    async def reload(self, *, announce: bool = True) -> Knowledge:
        """Read and validate the file again; on KnowledgeError the Assistant keeps its
        current knowledge."""
        async with self._lock:
            knowledge = await asyncio.to_thread(load_knowledge, self.path)
            self._use(knowledge)
        if announce and self.on_change is not None:
            await self.on_change(KnowledgeChange("reload"))
        return knowledge


@dataclass(frozen=True, slots=True)
class KnowledgeChange:
    """What an admin changed: a phrasing added to an intent, or the file reloaded."""

    kind: Literal["assign", "reload"]
    intent: str = ""
    question: str = ""
