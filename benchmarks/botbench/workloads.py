"""What the whole-bot benchmark sends: text questions, button presses and a mix of both, from
many users in private chats, each as the Bot API's JSON text of an update."""

from __future__ import annotations

import itertools
import json
import random
import time
import unicodedata
from typing import Any

from aiogram import Bot
from aiogram.types import Update

from bot.engine.knowledge import SMALL_TALK, Knowledge
from bot.telegram.keyboards import FeedbackCb, TopicCb, Vote

TOKEN = "123456:TEST-bench-token"
BOT_USER: dict[str, Any] = {
    "id": 123456,
    "is_bot": True,
    "first_name": "Support Bot",
    "username": "cso_cmo_support_bot",
}
USERS = 200
FIRST_USER = 10_000
SEED = 20240601
PRESS_SHARE = 3  # mix: one press in every three updates
KINDS = ("text", "buttons", "mix")

OFF_TOPIC = (
    "Lương của CMO khoảng bao nhiêu một tháng?",
    "Tối nay Việt Nam đá với Thái Lan mấy giờ?",
    "Làm sao để được hoàn tiền đơn hàng?",
    "Thời tiết Hà Nội hôm nay thế nào?",
    "Công thức nấu phở bò ngon",
    "Kế toán trưởng cần bằng cấp gì?",
    "CTO làm những việc gì trong công ty?",
    "Cho mình xin số tài khoản ngân hàng để chuyển khoản",
    "Shop có bán giày thể thao không?",
    "Tỷ số trận MU tối qua là bao nhiêu?",
    "mua iphone trả góp ở đâu",
    "Giá vàng hôm nay bao nhiêu?",
    "Ai là chủ tịch FIFA hiện nay?",
    "Cách viết CV xin việc cho sinh viên mới ra trường",
    "Tôi muốn đặt vé máy bay đi Đà Nẵng",
    "Học tiếng Anh ở trung tâm nào tốt?",
    "Bao giờ có lịch thi đấu V-League mùa sau?",
    "Mã giảm giá tháng này là gì?",
)


def fold(text: str) -> str:
    """``text`` without diacritics, the way many people type Vietnamese."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def text_questions(knowledge: Knowledge, seed: int = SEED) -> list[str]:
    """Every phrasing of the knowledge file and the off-topic questions, each also without
    diacritics; distinct, shuffled."""
    phrasings = [q for entry in knowledge.entries for q in entry.questions]
    pool = [*phrasings, *OFF_TOPIC]
    questions = list(dict.fromkeys([*pool, *(fold(q) for q in pool)]))
    random.Random(seed).shuffle(questions)
    return questions


def press_data(knowledge: Knowledge) -> list[tuple[str, str | None]]:
    """(callback data, the 👎 partner of a 👍) for every topic and every answer's 👍."""
    presses: list[tuple[str, str | None]] = [
        (TopicCb(intent=e.id).pack(), None) for e in knowledge.entries
    ]
    presses += [
        (
            FeedbackCb(intent=e.id, vote=Vote.UP).pack(),
            FeedbackCb(intent=e.id, vote=Vote.DOWN).pack(),
        )
        for e in knowledge.entries
        if e.id not in SMALL_TALK
    ]
    return presses


class Updates:
    """Raw updates (the JSON of getUpdates) from ``users`` people in private chats."""

    def __init__(self, knowledge: Knowledge, users: int = USERS, seed: int = SEED) -> None:
        self.questions = text_questions(knowledge, seed)
        self.presses = press_data(knowledge)
        random.Random(seed + 1).shuffle(self.presses)
        self.users = [FIRST_USER + n for n in range(users)]
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._query_ids = itertools.count(1)
        self._texts = itertools.cycle(self.questions)
        self._press = itertools.cycle(self.presses)
        self._user = itertools.cycle(self.users)

    @staticmethod
    def _people(user_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
        name = f"Khách {user_id}"
        user = {"id": user_id, "is_bot": False, "first_name": name, "language_code": "vi"}
        chat = {"id": user_id, "type": "private", "first_name": name}
        return user, chat

    def text(self) -> dict[str, Any]:
        user, chat = self._people(next(self._user))
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": user,
            "text": next(self._texts),
        }
        return {"update_id": next(self._update_ids), "message": message}

    def press(self) -> dict[str, Any]:
        """A press of a button under an earlier message of the bot that carries it."""
        user_id = next(self._user)
        user, chat = self._people(user_id)
        data, partner = next(self._press)
        row = [{"text": "👍", "callback_data": data}]
        if partner is not None:
            row.append({"text": "👎", "callback_data": partner})
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()) - 60,
            "chat": chat,
            "from": BOT_USER,
            "text": "Câu trả lời trước của bot.",
            "reply_markup": {"inline_keyboard": [row]},
        }
        query = {
            "id": str(next(self._query_ids)),
            "from": user,
            "chat_instance": str(user_id),
            "data": data,
            "message": message,
        }
        return {"update_id": next(self._update_ids), "callback_query": query}

    def workload(self, kind: str, count: int) -> list[str]:
        """`count` updates of `kind` (one of KINDS), each as the Bot API's JSON text."""
        if kind == "text":
            made = [self.text() for _ in range(count)]
        elif kind == "buttons":
            made = [self.press() for _ in range(count)]
        elif kind == "mix":
            made = [
                self.press() if n % PRESS_SHARE == PRESS_SHARE - 1 else self.text()
                for n in range(count)
            ]
        else:
            raise ValueError(kind)
        return [json.dumps(update, ensure_ascii=False) for update in made]


def parse_update(raw: str, bot: Bot) -> Update:
    """An update read as the bot reads `getUpdates`: pydantic parses the JSON text in one pass
    (`BotApiSession.read_answer`)."""
    return Update.model_validate_json(raw, context={"bot": bot})
