"""Admin commands, the learning loop: /unanswered (what the bot could not answer, grouped),
/assign (teach it: a question becomes a new phrasing of an intent, live), /reload (the
knowledge file again, without a restart) and /stats.

Only for the user ids in Settings.admin_ids, in their private chat with the bot or in the
operator group. For anyone else (or anywhere else) the IsAdmin filter fails, this router is
skipped, and the commands router answers as for any command the bot does not have: nothing
shows that these commands exist. Their buttons, pressed by anyone else, are stale buttons.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
from datetime import datetime
from typing import TYPE_CHECKING

from aiogram import Bot, Router
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.filters import Command, CommandObject, Filter
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BufferedInputFile,
    CallbackQuery,
    Message,
)

from bot import texts
from bot.engine.assistant import Assistant
from bot.engine.knowledge import Knowledge, KnowledgeError
from bot.settings import Settings
from bot.support import reports
from bot.support.learning import DuplicatePhrasing, LiveKnowledge, PhrasingRejected
from bot.telegram.handlers.common import CommandLike, group_reply_to, send_text
from bot.telegram.keyboards import AssignCb, AssignToCb, assign_keyboard, intents_keyboard
from bot.telegram.text import quote, shorten

if TYPE_CHECKING:
    from bot.storage import QuestionRecord, Storage
    from bot.support.reports import UnansweredGroup

logger = logging.getLogger(__name__)

DAYS = 30  # how far back /unanswered looks
LIST_LIMIT = 20  # groups listed in the /unanswered message (the CSV has them all)
BUTTON_LIMIT = 10  # groups with an assign button
BUTTON_TEXT = 40  # characters of a question shown on a button
QUOTED = 200  # characters of a question quoted in a message
ERROR_TEXT = 3000  # a knowledge-file error, cut so that the reply stays one message
CSV_NAME = "unanswered-{day}.csv"


class IsAdmin(Filter):
    """The sender is an admin (Settings.admin_ids, injected), writing in a private chat with
    the bot or in the operator group: never where others would read the reports."""

    async def __call__(self, event: Message | CallbackQuery, settings: Settings) -> bool:
        user = event.from_user
        if user is None or user.id not in settings.admin_ids:
            return False
        message = event if isinstance(event, Message) else event.message
        if message is None:
            return False
        chat = message.chat
        return chat.type == ChatType.PRIVATE or chat.id == settings.operator_chat_id


# --------------------------------------------------------------------------- helpers


async def _groups(db: Storage) -> list[UnansweredGroup]:
    records = await db.unanswered(days=DAYS)
    # Clustering is pure CPU work: keep the event loop free for other chats.
    return await asyncio.to_thread(reports.group_unanswered, records)


def _group_of(groups: list[UnansweredGroup], question_id: int) -> UnansweredGroup | None:
    return next((g for g in groups if question_id in g.question_ids), None)


def _representative(group: UnansweredGroup) -> QuestionRecord:
    """The question whose text stands for the group (its id goes on the group's button)."""
    for record in group.records:
        if " ".join((record.text or "").split()) == group.representative:
            return record
    return group.records[0]


def _intent_lines(knowledge: Knowledge) -> str:
    return "\n".join(
        texts.ADMIN_INTENT_LINE.format(intent=entry.id, title=entry.title)
        for entry in knowledge.entries
    )


async def _assign(db: Storage, live: LiveKnowledge, record: QuestionRecord, intent: str) -> str:
    """Add question `record` as a phrasing of `intent`, file its group there, and say what
    happened. The group is recomputed now, so questions that arrived since the list was
    shown are filed too."""
    text = record.text or ""
    try:
        knowledge = await live.add_phrasing(intent, text)
        done = texts.ADMIN_ASSIGN_DONE
    except DuplicatePhrasing as exc:
        if exc.intent != intent:
            return str(exc)
        knowledge = live.assistant.knowledge  # it is there already: file the group anyway
        done = texts.ADMIN_ASSIGN_ALREADY
    except PhrasingRejected as exc:
        return str(exc)
    except KnowledgeError as exc:
        return texts.ADMIN_ASSIGN_FAILED.format(error=shorten(str(exc), ERROR_TEXT))
    group = _group_of(await _groups(db), record.id)
    ids = list(group.question_ids) if group is not None else [record.id]
    await db.mark_assigned(ids, intent)
    logger.info("assigned %d question(s) to %s", len(ids), intent)
    return done.format(
        question=shorten(text, QUOTED), title=knowledge.entry(intent).title, count=len(ids)
    )


# --------------------------------------------------------------------------- handlers


async def on_unanswered(
    message: Message, db: Storage, assistant: Assistant, settings: Settings
) -> None:
    reply_to = group_reply_to(message)
    groups = await _groups(db)
    knowledge = assistant.knowledge
    text = reports.unanswered_text(groups, LIST_LIMIT, days=DAYS, knowledge=knowledge)
    if not groups:
        await send_text(message, text, reply_parameters=reply_to)
        return
    buttons = [
        (_representative(g).id, shorten(g.representative, BUTTON_TEXT), g.count)
        for g in groups[:BUTTON_LIMIT]
    ]
    await send_text(
        message,
        f"{text}\n\n{texts.ADMIN_UNANSWERED_PICK}",
        reply_markup=assign_keyboard(buttons),
        reply_parameters=reply_to,
    )
    csv = io.StringIO(newline="")
    reports.write_unanswered_csv(groups, csv, knowledge=knowledge, zone=settings.zone)
    name = CSV_NAME.format(day=datetime.now(settings.zone).date().isoformat())
    await message.answer_document(
        BufferedInputFile(csv.getvalue().encode("utf-8"), filename=name),
        caption=quote(texts.ADMIN_CSV_CAPTION),
    )


async def on_assign_group(
    callback: CallbackQuery, callback_data: AssignCb, db: Storage, assistant: Assistant
) -> None:
    """A group's button under /unanswered: the intents to file it under."""
    message = callback.message
    if not isinstance(message, Message):
        await callback.answer(texts.STALE_BUTTON)
        return
    group = _group_of(await _groups(db), callback_data.q)
    record = await db.question(callback_data.q)
    if group is None or record is None or record.text is None:
        await callback.answer(texts.ADMIN_ASSIGN_GONE)
        return
    await callback.answer()
    intents = [(entry.id, entry.title) for entry in assistant.knowledge.entries]
    await send_text(
        message,
        texts.ADMIN_ASSIGN_PICK.format(
            id=record.id, question=shorten(record.text, QUOTED), count=group.count
        ),
        reply_markup=intents_keyboard(record.id, intents, group.best_guess),
    )


async def on_assign_intent(
    callback: CallbackQuery,
    callback_data: AssignToCb,
    db: Storage,
    live_knowledge: LiveKnowledge,
) -> None:
    """An intent chosen for a group: the phrasing is added, the picker shows the outcome."""
    message = callback.message
    if not isinstance(message, Message):
        await callback.answer(texts.STALE_BUTTON)
        return
    record = await db.question(callback_data.q)
    if record is None or record.text is None:
        await callback.answer(texts.ADMIN_ASSIGN_NO_QUESTION.format(id=callback_data.q))
        return
    await callback.answer()
    outcome = await _assign(db, live_knowledge, record, callback_data.intent)
    try:  # the picker becomes the outcome, so it cannot be pressed again
        await message.edit_text(quote(outcome), reply_markup=None)
    except TelegramBadRequest as exc:  # too old to edit: say it in a new message
        logger.info("assign picker not edited: %s", exc.message)
        await send_text(message, outcome)


async def on_assign_command(
    message: Message,
    command: CommandObject,
    db: Storage,
    live_knowledge: LiveKnowledge,
) -> None:
    """`/assign <question id> <intent id>`; anything else shows how, with the intent ids."""
    reply_to = group_reply_to(message)
    args = (command.args or "").split()
    # At most 18 ASCII digits: an id SQLite can hold ("²" is a digit to str.isdigit, and a
    # longer number overflows the database driver).
    if len(args) != 2 or not re.fullmatch(r"#?[0-9]{1,18}", args[0]):
        usage = f"{texts.ADMIN_ASSIGN_USAGE}\n{_intent_lines(live_knowledge.assistant.knowledge)}"
        await send_text(message, usage, reply_parameters=reply_to)
        return
    question_id, intent = int(args[0].lstrip("#")), args[1]
    record = await db.question(question_id)
    if record is None or record.text is None:
        outcome = texts.ADMIN_ASSIGN_NO_QUESTION.format(id=question_id)
    else:
        outcome = await _assign(db, live_knowledge, record, intent)
    await send_text(message, outcome, reply_parameters=reply_to)


async def on_reload(message: Message, live_knowledge: LiveKnowledge) -> None:
    """The knowledge file again; a broken one leaves the running knowledge as it was."""
    try:
        knowledge = await live_knowledge.reload()
    except KnowledgeError as exc:
        text = texts.ADMIN_RELOAD_FAILED.format(error=shorten(str(exc), ERROR_TEXT))
    else:
        text = texts.ADMIN_RELOAD_DONE.format(
            entries=len(knowledge.entries),
            questions=sum(len(entry.questions) for entry in knowledge.entries),
        )
    await send_text(message, text, reply_parameters=group_reply_to(message))


async def on_stats(message: Message, db: Storage, assistant: Assistant, settings: Settings) -> None:
    stats = await db.stats(zone=settings.zone)
    text = reports.stats_text(
        stats, knowledge=assistant.knowledge, fault=db.write_fault, zone=settings.zone
    )
    await send_text(message, text, reply_parameters=group_reply_to(message))


async def set_admin_menu(bot: Bot, settings: Settings) -> None:
    """Start-up: each admin's own command menu lists the admin commands too (everyone else's
    menu stays texts.COMMANDS). An admin who never opened a chat with the bot is skipped."""
    commands = [
        BotCommand(command=name, description=text)
        for name, text in (*texts.COMMANDS, *texts.ADMIN_COMMANDS)
    ]
    for admin_id in sorted(settings.admin_ids):
        try:
            await bot.set_my_commands(commands, scope=BotCommandScopeChat(chat_id=admin_id))
        except TelegramAPIError as exc:
            logger.warning("admin menu not set for %s: %s", admin_id, exc)


def build_router() -> Router:
    router = Router(name="admin")
    is_admin = IsAdmin()
    for observer in (router.message, router.edited_message):
        observer.filter(CommandLike(), is_admin)
        observer.register(on_unanswered, Command("unanswered", ignore_case=True))
        observer.register(on_assign_command, Command("assign", ignore_case=True))
        observer.register(on_reload, Command("reload", ignore_case=True))
        observer.register(on_stats, Command("stats", ignore_case=True))
    router.callback_query.filter(is_admin)
    router.callback_query.register(on_assign_group, AssignCb.filter())
    router.callback_query.register(on_assign_intent, AssignToCb.filter())
    router.startup.register(set_admin_menu)
    return router
