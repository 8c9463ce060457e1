"""bot.telegram.aiogram_import: aiogram's Telegram types and Bot API methods are built on first
use, and come out the same.

Each test runs in a fresh interpreter, where aiogram has not been imported yet.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

from tests.support.settings_env import clean_env

ROOT = Path(__file__).resolve().parents[2]

USER = {"id": 111, "is_bot": False, "first_name": "Lan", "language_code": "vi"}
BOT = {"id": 123456, "is_bot": True, "first_name": "Support Bot", "username": "cso_bot"}
CHAT = {"id": 111, "type": "private", "first_name": "Lan"}
GROUP = {"id": -100500, "type": "supergroup", "title": "Nhóm", "is_forum": True}
KEYBOARD = {
    "inline_keyboard": [
        [{"text": "👍", "callback_data": "f:cso_role:up:7"}, {"text": "Web", "url": "https://a.vn"}]
    ]
}
BOT_MESSAGE = {
    "message_id": 9,
    "date": 1700000000,
    "chat": CHAT,
    "from": BOT,
    "text": "CSO là giám đốc kinh doanh.",
    "entities": [{"type": "bold", "offset": 0, "length": 3}],
    "reply_markup": KEYBOARD,
}
UPDATES: list[dict[str, Any]] = [
    {
        "update_id": 1,
        "message": {
            "message_id": 10,
            "date": 1700000001,
            "chat": CHAT,
            "from": USER,
            "text": "/start cso",
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    },
    {
        "update_id": 2,
        "message": {
            "message_id": 11,
            "date": 1700000002,
            "chat": GROUP,
            "from": USER,
            "message_thread_id": 4,
            "is_topic_message": True,
            "text": "@cso_bot CMO cần kỹ năng gì?",
            "reply_to_message": BOT_MESSAGE,
        },
    },
    {"update_id": 3, "edited_message": {**BOT_MESSAGE, "edit_date": 1700000100}},
    {
        "update_id": 4,
        "callback_query": {
            "id": "q1",
            "from": USER,
            "chat_instance": "42",
            "data": "f:cso_role:up:7",
            "message": BOT_MESSAGE,
        },
    },
    {
        "update_id": 5,
        "callback_query": {
            "id": "q2",
            "from": USER,
            "chat_instance": "42",
            "data": "t:cmo_role",
            "message": {"message_id": 3, "date": 0, "chat": CHAT},  # inaccessible message
        },
    },
    {
        "update_id": 6,
        "message": {
            "message_id": 12,
            "date": 1700000003,
            "chat": CHAT,
            "from": USER,
            "photo": [{"file_id": "p", "file_unique_id": "u", "width": 90, "height": 90}],
            "caption": "ảnh",
            "contact": {"phone_number": "02838172459", "first_name": "Hỗ trợ"},
            "sticker": {
                "file_id": "s",
                "file_unique_id": "su",
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
            },
        },
    },
    {
        "update_id": 7,
        "my_chat_member": {
            "chat": GROUP,
            "from": USER,
            "date": 1700000004,
            "old_chat_member": {"status": "left", "user": BOT},
            "new_chat_member": {"status": "member", "user": BOT},
        },
    },
]


def spawn(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter, from an empty directory (no .env, no bot setting in
    the environment but ``env``); it must succeed."""
    with tempfile.TemporaryDirectory() as empty:
        done = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            cwd=empty,
            env=clean_env(PYTHONPATH=str(ROOT), **env),
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert done.returncode == 0, done.stderr
    return done


def run(code: str) -> str:
    """``code``'s standard output (`spawn`)."""
    return spawn(code).stdout


DUMP = f"""
import json
from aiogram.methods import SendMessage
from aiogram.methods.base import Response
from aiogram.types import Message, Update
for raw in json.loads({json.dumps(UPDATES)!r}):
    update = Update.model_validate(raw)
    print(json.dumps(update.model_dump(mode="json", exclude_none=True), sort_keys=True))
result = Response[Message].model_validate({{"ok": True, "result": {BOT_MESSAGE!r}}})
print(json.dumps(result.model_dump(mode="json", exclude_none=True), sort_keys=True))
method = SendMessage(chat_id=1, text="x", reply_markup={KEYBOARD!r})
dumped = method.model_dump(warnings=False, exclude_none=True)  # as aiogram's session does
print(json.dumps(dumped, sort_keys=True, default=repr))
"""


def dumps(setup: str, after: str = "") -> list[Any]:
    """What UPDATES, a Response[Message] and a SendMessage look like after ``setup``."""
    out = run(textwrap.dedent(setup) + DUMP + textwrap.dedent(after))
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


@functools.cache
def eager() -> list[Any]:
    """The same, aiogram imported the usual way: ``model_rebuild`` lacks a parameter used."""
    return dumps(
        """
        import bot.telegram.aiogram_import as m
        m.REBUILD_PARAMETERS = m.REBUILD_PARAMETERS | {"_not_in_this_pydantic"}
        assert not m.import_aiogram() and not m.deferred
        from aiogram.types import Message, TelegramObject
        assert Message.__pydantic_complete__ and "model_rebuild" not in vars(TelegramObject)
        assert not m.import_aiogram()  # already imported
        """
    )


def test_the_types_are_built_on_first_use() -> None:
    out = run(
        """
        from bot.telegram.aiogram_import import deferred, import_aiogram
        assert import_aiogram()
        from aiogram.types import CallbackQuery, Message, Update
        assert len(deferred) > 300, len(deferred)
        assert Message.__pydantic_complete__ and Update.__pydantic_complete__  # the probe's
        assert not CallbackQuery.__pydantic_complete__
        user = {"id": 1, "is_bot": False, "first_name": "Lan"}
        CallbackQuery.model_validate({"id": "1", "from": user, "chat_instance": "1"})
        assert CallbackQuery.__pydantic_complete__
        from aiogram.methods import SendContact, SendMessage
        assert SendMessage.__pydantic_complete__  # built once, as a probe
        assert not SendContact.__pydantic_complete__ and SendContact in deferred
        card = SendContact(chat_id=1, phone_number="028 3817 2459", first_name="Hỗ trợ")
        assert SendContact.__pydantic_complete__ and card.phone_number == "028 3817 2459"
        print("ok")
        """
    )
    assert out.strip() == "ok"


def test_deferred_types_validate_as_aiogram_s_own_and_all_build() -> None:
    deferred = dumps(
        """
        from bot.telegram.aiogram_import import import_aiogram
        assert import_aiogram()
        """,
        after="""
        import inspect
        import aiogram.methods, aiogram.types
        from pydantic import BaseModel
        for module in (aiogram.types, aiogram.methods):
            for name in module.__all__:
                cls = getattr(module, name)
                if inspect.isclass(cls) and issubclass(cls, BaseModel):
                    cls.model_rebuild()
                    assert cls.__pydantic_complete__, name
        """,
    )
    assert deferred == eager()
    assert len(deferred) == len(UPDATES) + 2
    assert deferred[3]["callback_query"]["message"]["reply_markup"] == KEYBOARD


def test_the_bot_defers_the_types() -> None:
    out = run(
        """
        import sys
        from bot.telegram import aiogram_import
        from bot.cli import main
        assert "aiogram" not in sys.modules
        assert main(["run"]) == 2  # no BOT_TOKEN: stops after loading the Telegram layer
        assert "bot.telegram.runner" in sys.modules and aiogram_import.deferred
        print("ok")
        """
    )
    assert out.strip().endswith("ok")


def test_builds_the_methods_at_import_when_no_type_was_deferred() -> None:
    out = run(
        """
        import bot.telegram.aiogram_import as m
        m.TYPES_PACKAGE = "not.aiogram."  # as if aiogram no longer rebuilt its types at import
        assert not m.import_aiogram() and not m.deferred
        from aiogram.methods import SendContact
        assert SendContact.__pydantic_complete__
        card = SendContact(chat_id=1, phone_number="028 3817 2459", first_name="Hỗ trợ")
        print(card.phone_number)
        """
    )
    assert out.strip() == "028 3817 2459"


def test_falls_back_to_building_everything_when_the_probe_fails() -> None:
    fallen_back = dumps(
        """
        import bot.telegram.aiogram_import as m
        m.PROBE_UPDATE = {"update_id": "not a number"}
        assert not m.import_aiogram() and not m.deferred
        from aiogram.methods import SendContact
        from aiogram.methods.base import Response, TelegramMethod
        from aiogram.types import Message, TelegramObject, Update
        assert Message.__pydantic_complete__ and Update.__pydantic_complete__
        assert SendContact.__pydantic_complete__
        bases = (TelegramObject, TelegramMethod, Response)
        assert not any("model_rebuild" in vars(base) for base in bases)
        """
    )
    assert fallen_back == eager()


def test_switched_off_aiogram_is_imported_its_own_way() -> None:
    switched_off = dumps(
        """
        import bot.telegram.aiogram_import as m
        assert not m.import_aiogram(enabled=False) and not m.deferred
        from aiogram.methods.base import Response, TelegramMethod
        from aiogram.types import CallbackQuery, TelegramObject
        assert CallbackQuery.__pydantic_complete__  # built at import, as aiogram does
        bases = (TelegramObject, TelegramMethod, Response)
        assert not any("model_rebuild" in vars(base) for base in bases)
        """
    )
    assert switched_off == eager()


def test_the_bot_says_at_start_up_whether_the_import_is_deferred() -> None:
    code = """
        import sys
        import bot.telegram.aiogram_import as m

        async def no_telegram_here(settings, assistant):  # stop right after the start-up line
            pass

        def import_then_stub(enabled):
            deferred = importing(enabled)
            from bot.telegram import runner

            runner.run_polling = no_telegram_here
            return deferred

        importing, m.import_aiogram = m.import_aiogram, import_then_stub
        from bot.cli import main
        sys.exit(main(["run"]))
        """
    for value, expected in (("true", "built on first use"), ("false", "built at import")):
        done = spawn(
            code,
            BOT_TOKEN="123:" + "a" * 35,
            AIOGRAM_DEFERRED_IMPORT=value,
            TELEGRAM_API_URL="http://127.0.0.1:9",  # never reached: a safety net
            DATA_DIR="data",  # inside spawn's empty working directory
        )
        assert f"AIOGRAM_DEFERRED_IMPORT={value}: aiogram's types are {expected}" in done.stderr
