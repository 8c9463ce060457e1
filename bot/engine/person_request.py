"""Does the user ask for a human? ("cho tôi gặp nhân viên", "noi chuyen voi nguoi that")

The FAQ answers such questions with the contact details (the `contact` intent); when live
handoff is on, the bot connects the person to an operator instead. Words are compared
without diacritics, so "gap nhan vien" counts as much as "gặp nhân viên".
"""

from __future__ import annotations

import re

from bot.engine.normalize import clean, fold

# Who the user wants: a person, not the bot.
_PERSON = (
    r"nhan vien|nguoi that|nguoi (?:ho tro|tu van|truc)|tu van vien|ho tro vien|cham soc khach hang"
    r"|cskh|admin|operator|tong dai vien|human|agent|staff|real person|ai do"
)
# What they want to do with them.
_CONTACT_VERB = (
    r"gap|noi chuyen|tro chuyen|chat|ket noi|chuyen|noi may|lien he|goi|nhan tin"
    r"|talk|speak|connect|contact"
)
_ASKS = re.compile(rf"\b(?:{_CONTACT_VERB})\b(?:\s+\w+){{0,3}}?\s+\b(?:{_PERSON})\b")
# The whole message is just the person ("nhân viên ơi", "human please").
_ALONE = re.compile(
    rf"^(?:(?:cho|xin|can|muon|toi|minh|em)\s+)*(?:{_PERSON})(?:\s+(?:oi|a|nhe|please|pls))*$"
)
_WORDS = re.compile(r"[^\w]+")


def asks_for_person(text: str) -> bool:
    words = " ".join(w for w in _WORDS.split(fold(clean(text)).casefold()) if w)
    return bool(_ASKS.search(words) or _ALONE.match(words))
