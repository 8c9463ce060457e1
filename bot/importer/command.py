"""`python -m bot import SOURCE --out FILE`: write the draft, say what was found and what
the reviewer has to add."""

from __future__ import annotations

import json
import os
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TextIO

from bot import texts
from bot.engine.knowledge import FEW_QUESTIONS
from bot.importer.draft import MAX_ANSWER_CHARS, Draft, build_draft
from bot.importer.source import DEFAULT_TIMEOUT, SourceError, read_source

EXIT_UNREADABLE = 2  # as a bad setting: nothing was written


def summary(draft: Draft, source: str, out: Path) -> list[str]:
    """What was found, then what the reviewer should add or check, one line each."""
    entries = draft.data["entries"]
    lines = [
        texts.IMPORT_FOUND.format(source=source, sections=len(draft.sections), faq=len(draft.faq)),
        texts.IMPORT_WRITTEN.format(entries=len(entries), out=out),
        texts.IMPORT_REVIEW,
    ]
    fewest = min(len(entry["questions"]) for entry in entries)
    lines.append(
        texts.IMPORT_PHRASINGS.format(
            count=fewest, more=max(FEW_QUESTIONS - fewest, 1), minimum=FEW_QUESTIONS
        )
    )
    if draft.missing_contact:
        names = ", ".join(texts.IMPORT_FIELD_NAMES[name] for name in draft.missing_contact)
        lines.append(texts.IMPORT_CONTACT_MISSING.format(fields=names))
    if draft.hidden_email:
        lines.append(texts.IMPORT_EMAIL_HIDDEN)
    if draft.organization_guessed:
        lines.append(
            texts.IMPORT_ORGANIZATION_GUESS.format(name=draft.data["contact"]["organization"])
        )
    if draft.contact_section:
        lines.append(texts.IMPORT_CONTACT_ENTRY.format(title=draft.contact_section))
    if draft.shortened:
        lines.append(
            texts.IMPORT_SHORTENED.format(limit=MAX_ANSWER_CHARS, ids=", ".join(draft.shortened))
        )
    if draft.unanswered:
        quoted = ", ".join(f"«{q}»" for q in draft.unanswered)
        lines.append(texts.IMPORT_UNANSWERED.format(questions=quoted))
    if draft.empty_headings:
        quoted = ", ".join(f"«{h}»" for h in draft.empty_headings)
        lines.append(texts.IMPORT_EMPTY_HEADINGS.format(titles=quoted))
    if draft.lead_chars:
        lines.append(texts.IMPORT_LEAD.format(chars=draft.lead_chars))
    lines.append(texts.IMPORT_CHECK_HINT.format(out=out))
    return lines


def _write(path: Path, content: str) -> None:
    """All of the file or none of it: a reviewer never finds half a draft."""
    directory = path.parent if str(path.parent) else Path()
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(content)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def run_import(
    source: str,
    out: Path,
    *,
    force: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    stdout: TextIO,
    stderr: TextIO,
) -> int:
    if out.exists() and not force:
        stderr.write(texts.IMPORT_OUT_EXISTS.format(out=out) + "\n")
        return EXIT_UNREADABLE
    try:
        read = read_source(source, timeout)
        document = read.document()
    except SourceError as exc:
        stderr.write(f"{exc}\n")
        return EXIT_UNREADABLE
    except (ValueError, ET.ParseError) as exc:  # text no extractor could make sense of
        stderr.write(texts.IMPORT_UNREADABLE.format(source=source, reason=exc) + "\n")
        return EXIT_UNREADABLE
    draft = build_draft(document)
    if not draft.data["entries"]:
        stderr.write(texts.IMPORT_NOTHING.format(source=read.name) + "\n")
        return EXIT_UNREADABLE
    try:
        _write(out, json.dumps(draft.data, ensure_ascii=False, indent=2) + "\n")
    except OSError as exc:
        reason = exc.strerror or str(exc)
        stderr.write(texts.IMPORT_OUT_FAILED.format(out=out, reason=reason) + "\n")
        return EXIT_UNREADABLE
    stdout.write("\n".join(summary(draft, read.name, out)) + "\n")
    return 0
