"""Command line: `python -m bot COMMAND`.

Commands: run, webhook, chat, ask, eval, check, stats, unanswered, import, migrate.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TextIO

from bot import texts
from bot.engine.assistant import Assistant
from bot.engine.evaluation import load_cases, metrics, report, run
from bot.engine.knowledge import Knowledge, KnowledgeError, load_knowledge
from bot.engine.matcher import Engine
from bot.engine.replies import Reply
from bot.settings import PROJECT_ROOT, ConfigError, Settings, load_settings
from bot.storage import QuestionRecord, Stats, Storage, StorageError
from bot.support.reports import group_unanswered, stats_text, unanswered_text, write_unanswered_csv

DEFAULT_EVAL = PROJECT_ROOT / "tests" / "data" / "eval.jsonl"
EXIT_CONFIG = 2


def build_assistant(settings: Settings, knowledge_file: Path | None = None) -> Assistant:
    """The assistant on KNOWLEDGE_FILE, or on `knowledge_file` when a command names one."""
    path = knowledge_file or settings.knowledge_file
    knowledge: Knowledge = load_knowledge(path).with_email(settings.contact_email)
    return Assistant(knowledge, Engine(knowledge, settings.thresholds))


def cmd_check(path: Path, knowledge: Knowledge, out: TextIO, err: TextIO) -> int:
    """OK with the number of entries; what deserves a look (not an error) on stderr."""
    own = [e for e in knowledge.entries if not getattr(e, "generic", False)]
    out.write(texts.CHECK_OK.format(path=path, entries=len(own)) + "\n")
    for warning in knowledge.warnings():
        err.write(texts.CHECK_WARNING.format(path=path, warning=warning) + "\n")
    return 0


def render(reply: Reply) -> str:
    """The reply as a terminal shows it: text, then numbered choices."""
    lines = [reply.text]
    if reply.choices:
        if reply.decision.action == "answer":
            lines.append(texts.RELATED_INTRO)
        lines.extend(f"  {n}. {c.label}" for n, c in enumerate(reply.choices, start=1))
    return "\n".join(lines)


def as_json(reply: Reply) -> str:
    d = reply.decision
    return json.dumps(
        {
            "action": d.action,
            "intent": d.intent,
            "confidence": round(max(0.0, min(1.0, d.confidence)), 4),
            "suggestions": list(d.suggestions),
            "text": reply.text,
        },
        ensure_ascii=False,
    )


def cmd_ask(assistant: Assistant, question: str, as_json_lines: bool, out: TextIO) -> int:
    questions: Iterable[str] = (
        (line.rstrip("\r\n") for line in sys.stdin) if question == "-" else [question]
    )
    for q in questions:
        reply = assistant.ask(q)
        out.write((as_json(reply) if as_json_lines else render(reply)) + "\n")
        out.flush()
    return 0


def cmd_chat(
    assistant: Assistant, read: Callable[[str], str] = input, out: TextIO = sys.stdout
) -> int:
    out.write(texts.CHAT_WELCOME + "\n")
    previous: str | None = None
    choices: tuple[str, ...] = ()
    while True:
        try:
            line = read(texts.CHAT_PROMPT).strip()
        except (EOFError, KeyboardInterrupt):
            out.write("\n" + texts.CHAT_BYE + "\n")
            return 0
        if line.casefold() in texts.CHAT_EXIT_WORDS:
            out.write(texts.CHAT_BYE + "\n")
            return 0
        if not line:
            out.write(texts.CHAT_BOT + texts.EMPTY_QUESTION + "\n")
            continue
        numbered = {str(n): intent for n, intent in enumerate(choices, start=1)}
        if line in numbered:  # not int(line): "²" is a digit, and 5,000 digits raise
            reply = assistant.choose(numbered[line])
        else:
            reply = assistant.ask(line, previous)
        if reply.decision.action == "answer":
            previous = reply.decision.intent
        choices = tuple(c.intent for c in reply.choices)
        out.write(texts.CHAT_BOT + render(reply) + "\n")


def _eval_set(path: Path | None, knowledge: Path | None) -> Path:
    """The labelled questions to score: as given, else those beside the knowledge file."""
    if path is not None:
        return path
    if knowledge is not None:
        beside = (knowledge if knowledge.is_dir() else knowledge.parent) / "queries.jsonl"
        if beside.is_file():
            return beside
    return DEFAULT_EVAL


def cmd_eval(assistant: Assistant, path: Path, out: TextIO) -> int:
    outcomes = run(assistant.engine, load_cases(path))
    out.write(f"{path}\n{report(outcomes)}\n")
    m = metrics(outcomes)
    out.write(
        f"\nanswered-correct {m.answered_correct:.1%}  confidently-wrong "
        f"{m.confidently_wrong:.1%}  off-topic handoff {m.offtopic_handoff:.1%}  "
        f"recovered {m.recovered:.1%}\n"
    )
    return 0


async def _read_stats(settings: Settings) -> Stats:
    storage = await Storage.connect(settings.database, retention_days=settings.retention_days)
    try:
        return await storage.stats(zone=settings.zone)
    finally:
        await storage.close()


async def _read_unanswered(settings: Settings, days: int) -> list[QuestionRecord]:
    storage = await Storage.connect(settings.database, retention_days=settings.retention_days)
    try:
        return await storage.unanswered(days=days)
    finally:
        await storage.close()


def cmd_migrate(settings: Settings, out: TextIO) -> int:
    """Apply the migrations the database lacks; one line with the revision it is at."""
    from bot.storage.location import display
    from bot.storage.upgrade import migrate_database

    try:
        revision = asyncio.run(migrate_database(settings.database))
    except StorageError as exc:
        print(texts.DATABASE_UNAVAILABLE.format(error=exc), file=sys.stderr)
        return EXIT_CONFIG
    out.write(texts.MIGRATED.format(database=display(settings.database), revision=revision) + "\n")
    return 0


def cmd_stats(settings: Settings, knowledge: Knowledge, out: TextIO) -> int:
    """The figures of the database (DATABASE_URL, else DATA_DIR's; a new SQLite file is created
    empty)."""
    try:
        stats = asyncio.run(_read_stats(settings))
    except StorageError as exc:
        print(texts.DATABASE_UNAVAILABLE.format(error=exc), file=sys.stderr)
        return EXIT_CONFIG
    out.write(stats_text(stats, knowledge=knowledge) + "\n")
    return 0


def cmd_unanswered(
    settings: Settings, knowledge: Knowledge, days: int, csv_file: str | None, out: TextIO
) -> int:
    """The unanswered questions, grouped; ``csv_file`` "-" writes only the CSV, to ``out``."""
    try:
        groups = group_unanswered(asyncio.run(_read_unanswered(settings, days)))
    except StorageError as exc:
        print(texts.DATABASE_UNAVAILABLE.format(error=exc), file=sys.stderr)
        return EXIT_CONFIG
    if csv_file == "-":
        if isinstance(out, io.TextIOWrapper):
            out.reconfigure(encoding="utf-8", newline="")
        write_unanswered_csv(groups, out, knowledge=knowledge, zone=settings.zone)
        return 0
    out.write(unanswered_text(groups, days=days, knowledge=knowledge) + "\n")
    if csv_file is not None:
        try:
            rows = write_unanswered_csv(
                groups, Path(csv_file), knowledge=knowledge, zone=settings.zone
            )
        except OSError as exc:
            print(exc, file=sys.stderr)
            return EXIT_CONFIG
        out.write(texts.CSV_WRITTEN.format(rows=rows, file=csv_file) + "\n")
    return 0


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return number


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bot", description=texts.CLI_DESCRIPTION)
    sub = p.add_subparsers(dest="command")
    sub.add_parser("run", help="Telegram bot, long polling")
    sub.add_parser("webhook", help="Telegram bot, webhook server")
    sub.add_parser("chat", help="interactive conversation in the terminal")
    ask = sub.add_parser("ask", help="answer one question ('-' reads one per line from stdin)")
    ask.add_argument("question")
    ask.add_argument("--json", action="store_true", help="one JSON object per question")
    ev = sub.add_parser("eval", help="metrics on a labelled JSONL file")
    ev.add_argument(
        "file",
        nargs="?",
        type=Path,
        help="labelled questions (default: queries.jsonl beside --knowledge, else the article's)",
    )
    ev.add_argument(
        "--knowledge", type=Path, metavar="PATH", help="knowledge file (default KNOWLEDGE_FILE)"
    )
    ck = sub.add_parser("check", help="validate the knowledge file")
    ck.add_argument("path", nargs="?", type=Path, help="knowledge file (default KNOWLEDGE_FILE)")
    sub.add_parser("stats", help="figures from the database")
    un = sub.add_parser("unanswered", help="questions the bot could not answer, grouped")
    un.add_argument("--days", type=_positive_int, default=30, help="look back N days (30)")
    un.add_argument("--csv", metavar="FILE", help="also write one row per question ('-': stdout)")
    im = sub.add_parser("import", help="draft a knowledge file from an article (file or URL)")
    im.add_argument("source", help="a .txt, .md or .html file, or an http(s):// URL")
    im.add_argument("--out", type=Path, required=True, metavar="FILE", help="the draft to write")
    im.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    im.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for a URL (15)")
    sub.add_parser("migrate", help="bring the database (DATABASE_URL) to this version's schema")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "import":  # needs no settings nor knowledge: it writes a new file
        from bot.importer.command import run_import

        return run_import(
            args.source,
            args.out,
            force=args.force,
            timeout=args.timeout,
            stdout=sys.stdout,
            stderr=sys.stderr,
        )
    try:
        settings = load_settings()
        if args.command == "migrate":  # needs no knowledge file
            return cmd_migrate(settings, sys.stdout)
        assistant = build_assistant(
            settings, getattr(args, "knowledge", None) or getattr(args, "path", None)
        )
    except (ConfigError, KnowledgeError) as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    command = args.command
    if command is None:
        command = "run" if settings.bot_token else "chat"
        if command == "chat":
            print(texts.CHAT_NO_TOKEN)
    if command == "check":
        path = args.path or settings.knowledge_file
        return cmd_check(path, assistant.knowledge, sys.stdout, sys.stderr)
    if command == "ask":
        return cmd_ask(assistant, args.question, args.json, sys.stdout)
    if command == "chat":
        return cmd_chat(assistant)
    if command == "stats":
        return cmd_stats(settings, assistant.knowledge, sys.stdout)
    if command == "unanswered":
        return cmd_unanswered(settings, assistant.knowledge, args.days, args.csv, sys.stdout)
    if command == "eval":
        try:
            return cmd_eval(assistant, _eval_set(args.file, args.knowledge), sys.stdout)
        except (OSError, ValueError) as exc:
            print(exc, file=sys.stderr)
            return EXIT_CONFIG
    # The Telegram layer loads only when it is used, its types built on first use.
    from bot.telegram.aiogram_import import import_aiogram

    deferred = import_aiogram(settings.aiogram_deferred_import)
    from bot.telegram.runner import serve

    return serve(settings, assistant, webhook=command == "webhook", deferred_import=deferred)
