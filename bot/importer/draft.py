"""From an article's blocks to a draft knowledge file: one entry per section and per FAQ
pair, the contact block from what the text states. Nothing is added that the text does not
say: a field the text does not give is left empty for the reviewer."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from bot.engine.knowledge import CONTACT
from bot.importer.blocks import Block, Document, Heading, Item, Paragraph

# Well under Telegram's 4,096 characters: a support answer is read on a phone screen.
MAX_ANSWER_CHARS = 1000
MAX_TITLE_CHARS = 120  # the schema's limit
MAX_ID_CHARS = 40  # the schema's id pattern
BULLET = "• "

_FAQ_LABEL = re.compile(
    r"\b(?:cau hoi|hoi dap|hoi va dap|hoi & dap|thac mac|faq|q ?& ?a|questions?)\b"
)
_QUESTION_PREFIX = re.compile(
    r"^(?:(?:câu hỏi|hỏi|question|q)\s*(?:số\s*)?\d*\s*[:.)\-–]\s*|\d{1,2}[.)]\s+)", re.IGNORECASE
)
_ANSWER_PREFIX = re.compile(r"^(?:đáp|trả lời|answer|a)\s*[:.\-–]\s*", re.IGNORECASE)
# A sentence ends at . ! ? … before a capital letter or the end; "Đ.", "P.", "TP." are
# abbreviations (street, ward, city in an address), not the end of a sentence.
_SENTENCE_STOP = re.compile(r"[.!?…]+(?=\s+[\"“(]?[A-ZĐÀ-Ỹ0-9]|\s*$)")
_PHONE_LABEL = re.compile(r"điện thoại|sđt|sdt|hotline|phone|tel\b|gọi|zalo", re.IGNORECASE)
_PHONE = re.compile(r"(?<![\w+])\+?\(?\d[\d ().\-]{6,18}\d(?![\w/])")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_ADDRESS_LABEL = re.compile(r"(?:địa chỉ|trụ sở|address)(?:\s+\w+)?\s*:\s*", re.IGNORECASE)
_HOURS_LABEL = re.compile(
    r"(?:giờ (?:làm việc|mở cửa|hoạt động)|thời gian (?:làm việc|mở cửa|hoạt động)|"
    r"opening hours|hours)\s*:\s*",
    re.IGNORECASE,
)
_ALWAYS_OPEN = re.compile(r"(?<![\d/])24\s*/\s*(7|24)(?![\d/])")
_COMPANY = re.compile(
    r"\b(?:Công ty|Cty)\s+(?:TNHH|Cổ phần|CP)?\s*[^\s,.;:()]+(?:\s+[A-ZĐÀ-Ỹ0-9][^\s,.;:()]*)*"
)
# A name in quotation marks, every word capitalised: how an article names its publisher
# ("Hãy cùng “Tên Trang” phân tích"). Only a guess, and the summary says so.
_QUOTED_NAME = re.compile(r"[“\"«]([A-ZĐÀ-Ỹ0-9][^”\"»\n]{2,58})[”\"»]")


@dataclass(frozen=True)
class Unit:
    """What becomes one entry: a section under its heading, or an FAQ pair."""

    faq: bool
    heading: str
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class Draft:
    data: dict[str, Any]  # the knowledge file, ready for json.dump
    sections: tuple[str, ...]
    faq: tuple[str, ...]
    empty_headings: tuple[str, ...] = ()  # headings with no text of their own
    lead_chars: int = 0  # text before the first heading, in no entry
    unanswered: tuple[str, ...] = ()  # FAQ questions the text gives no answer to
    shortened: tuple[str, ...] = ()  # ids whose answer was cut to MAX_ANSWER_CHARS
    missing_contact: tuple[str, ...] = ()
    hidden_email: bool = False
    organization_guessed: bool = False
    contact_section: str = ""  # the heading of the section that became the `contact` entry


def fold(text: str) -> str:
    """Lower case ASCII: no diacritics, "đ" as "d"."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def slug(text: str, taken: set[str]) -> str:
    """An id from a heading: ASCII words joined by "_", at most 40 characters, starting
    with a letter, unique among `taken` (which it joins)."""
    words = re.findall(r"[a-z0-9]+", fold(text))
    while len(words) > 1 and words[0].isdigit():  # section numbering: "2.1 Phí giao hàng"
        words.pop(0)
    base = ""
    for word in words:
        candidate = f"{base}_{word}" if base else word
        if len(candidate) > MAX_ID_CHARS:
            break
        base = candidate
    if not base:
        base = words[0][:MAX_ID_CHARS] if words else "muc"
    if not base[0].isalpha():
        base = ("muc_" + base)[:MAX_ID_CHARS].rstrip("_")
    result, n = base, 2
    while result in taken:
        suffix = f"_{n}"
        result = base[: MAX_ID_CHARS - len(suffix)].rstrip("_") + suffix
        n += 1
    taken.add(result)
    return result


def _is_question(block: Block) -> bool:
    return block.text.rstrip(" \"'”’»)").endswith("?")


def _style(block: Block) -> tuple[type, int]:
    if isinstance(block, Heading):
        return Heading, block.level
    if isinstance(block, Item):
        return Item, block.depth
    return Paragraph, 0


def _faq_label(block: Block) -> bool:
    """A heading, or a short line standing as one ("Câu hỏi thường gặp:"), that names
    questions and answers."""
    if isinstance(block, Item):
        return False
    if isinstance(block, Paragraph) and (len(block.text) > 80 or block.text[-1] in ".!?…"):
        return False
    return bool(_FAQ_LABEL.search(fold(block.text)))


def _faq_part(
    blocks: tuple[Block, ...], start: int, level: int
) -> tuple[list[tuple[str, list[Block]]], int] | None:
    """The question/answer pairs after the FAQ label at `start`, and where the part ends:
    at a heading as high as the label's `level` that is not one of its questions. The
    first question sets their form (sub-heading, list item or paragraph); the blocks
    between two questions are the first one's answer."""
    index = start + 1
    while index < len(blocks) and not _is_question(blocks[index]):
        if isinstance(blocks[index], Heading):
            return None
        index += 1  # a sentence or two introducing the questions
    if index == len(blocks):
        return None
    style = _style(blocks[index])
    pairs: list[tuple[str, list[Block]]] = []
    while index < len(blocks):
        block = blocks[index]
        if _style(block) == style and _is_question(block):
            pairs.append((_QUESTION_PREFIX.sub("", block.text).strip(), []))
        elif isinstance(block, Heading) and (
            block.level <= level or (style[0] is Heading and block.level <= style[1])
        ):
            break
        else:
            answer = pairs[-1][1]
            if isinstance(block, Heading):
                block = Paragraph(block.text)
            if not answer and isinstance(block, Paragraph | Item):
                text = _ANSWER_PREFIX.sub("", block.text).strip()
                block = Item(text, block.depth) if isinstance(block, Item) else Paragraph(text)
            answer.append(block)
        index += 1
    # Questions the text leaves mostly unanswered are a list of questions, not an FAQ.
    if 2 * sum(1 for _, answer in pairs if answer) < len(pairs):
        return None
    return pairs, index


@dataclass
class _Structure:
    units: list[Unit] = field(default_factory=list)
    empty_headings: list[str] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)
    lead_chars: int = 0


def structure(document: Document) -> _Structure:
    """Sections (a heading and the blocks up to the next heading) and FAQ pairs."""
    blocks = document.blocks
    found = _Structure()
    heading: Heading | None = None
    body: list[Block] = []

    def close() -> None:
        if heading is None:
            found.lead_chars += sum(len(b.text) for b in body)
        elif body:
            found.units.append(Unit(False, heading.text, tuple(body)))
        else:
            found.empty_headings.append(heading.text)

    index = 0
    while index < len(blocks):
        block = blocks[index]
        level = block.level if isinstance(block, Heading) else heading.level if heading else 2
        part = _faq_part(blocks, index, level) if _faq_label(block) else None
        if part is not None:
            close()
            pairs, index = part
            for question, answer in pairs:
                if answer:
                    found.units.append(Unit(True, question, tuple(answer)))
                else:
                    found.unanswered.append(question)
            heading, body = None, []
            continue
        if isinstance(block, Heading):
            close()
            heading, body = block, []
        else:
            body.append(block)
        index += 1
    close()
    return found


def _sentences(text: str) -> list[str]:
    out: list[str] = []
    start = 0
    for match in _SENTENCE_STOP.finditer(text):
        word = text[start : match.start()].rsplit(" ", 1)[-1]
        if match.group() == "." and word.isalpha() and len(word) <= 2:
            continue  # "Đ. Hậu Giang", "TP. Hồ Chí Minh"
        out.append(text[start : match.end()].strip())
        start = match.end()
    if text[start:].strip():
        out.append(text[start:].strip())
    return out


def _cut_words(text: str, limit: int) -> str:
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:–-")
    return cut + "…"


def answer_text(blocks: tuple[Block, ...], limit: int = MAX_ANSWER_CHARS) -> tuple[str, bool]:
    """The section's own text, list items as "• " bullets, cut after whole sentences or
    items to fit `limit`; True when something was left out."""
    lines: list[str] = []
    used = 0
    for block in blocks:
        line = "  " * block.depth + BULLET + block.text if isinstance(block, Item) else block.text
        cost = len(line) + (1 if lines else 0)
        if used + cost <= limit:
            lines.append(line)
            used += cost
            continue
        room = limit - used - (1 if lines else 0)
        kept: list[str] = []
        for sentence in _sentences(line):
            if len(" ".join([*kept, sentence])) > room:
                break
            kept.append(sentence)
        if kept:
            lines.append(" ".join(kept))
        elif not lines:
            lines.append(_cut_words(line, limit))
        return "\n".join(lines), True
    return "\n".join(lines), False


def title_text(heading: str) -> str:
    return heading if len(heading) <= MAX_TITLE_CHARS else _cut_words(heading, MAX_TITLE_CHARS)


# --------------------------------------------------------------------------- contact


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _phone_ok(number: str) -> bool:
    digits = _digits(number)
    if number.startswith("+"):
        return 10 <= len(digits) <= 13
    if digits.startswith(("1800", "1900")):
        return len(digits) in {8, 10}
    return digits.startswith("0") and 10 <= len(digits) <= 11


def _until_sentence_end(text: str) -> str:
    sentences = _sentences(text)
    return sentences[0].rstrip(".!… ").strip() if sentences else ""


def _quoted_name(texts: list[str]) -> str:
    for text in texts:
        for match in _QUOTED_NAME.finditer(text):
            words = match.group(1).split()
            if 2 <= len(words) <= 6 and all(w[0].isupper() or w[0].isdigit() for w in words):
                return match.group(1)
    return ""


@dataclass(frozen=True)
class ContactFound:
    fields: dict[str, str]
    missing: tuple[str, ...]
    organization_guessed: bool
    texts: tuple[str, ...]  # the blocks that hold the phone, e-mail or address


def contact_block(document: Document) -> ContactFound:
    """The contact fields the text states, and the names of those it does not."""
    texts = [block.text for block in document.blocks]
    phone = display = email = address = hours = ""
    contact_texts: list[str] = []
    for text in texts:
        for match in _PHONE.finditer(text):
            found = match.group().strip(" ().-")
            if not _phone_ok(found):
                continue
            labelled = bool(_PHONE_LABEL.search(text[max(0, match.start() - 40) : match.start()]))
            if not phone or labelled:
                phone = ("+" if found.startswith("+") else "") + _digits(found)
                display = found
                contact_texts.append(text)
            if labelled:
                break
        if not email and (mail := _EMAIL.search(text)):
            email = mail.group().rstrip(".")
            contact_texts.append(text)
        if not address and (label := _ADDRESS_LABEL.search(text)):
            address = _until_sentence_end(text[label.end() :])
            contact_texts.append(text)
        if not hours and (label := _HOURS_LABEL.search(text)):
            hours = _until_sentence_end(text[label.end() :])
    if not hours:
        # "24/7" said beside the phone or address is when the business answers.
        for text in contact_texts:
            if always := _ALWAYS_OPEN.search(text):
                hours = always.group().replace(" ", "")
                break
    organization = document.site_name
    if not organization:
        for text in texts:
            if company := _COMPANY.search(text):
                organization = company.group().strip()
                break
    guessed = False
    if not organization:
        organization = _quoted_name(texts)
        guessed = bool(organization)
    contact = {
        "organization": organization,
        "phone": phone,
        "phone_display": display if display != phone else "",
        "email": email,
        "address": address,
        "hours": hours,
    }
    missing = tuple(
        name for name in ("organization", "phone", "address", "hours") if not contact[name]
    )
    if not email and not document.hidden_email:
        missing = (*missing, "email")
    return ContactFound(contact, missing, guessed, tuple(contact_texts))


# ----------------------------------------------------------------------------- draft


def _contact_unit(units: list[Unit], found: ContactFound) -> int | None:
    """The one section whose own text gives the contact details: the bot's `contact` entry
    (its answer gets the contact card, and /contact shows it)."""
    holders = [
        index
        for index, unit in enumerate(units)
        if not unit.faq and any(block.text in found.texts for block in unit.blocks)
    ]
    return holders[0] if len(holders) == 1 else None


def build_draft(document: Document) -> Draft:
    found = structure(document)
    contact = contact_block(document)
    contact_index = _contact_unit(found.units, contact)
    taken: set[str] = {CONTACT} if contact_index is not None else set()
    entries: list[dict[str, Any]] = []
    shortened: list[str] = []
    for index, unit in enumerate(found.units):
        entry_id = CONTACT if index == contact_index else slug(unit.heading, taken)
        answer, cut = answer_text(unit.blocks)
        if cut:
            shortened.append(entry_id)
        entries.append(
            {
                "id": entry_id,
                "title": title_text(unit.heading),
                "questions": [unit.heading],
                "answer": answer,
            }
        )
    return Draft(
        data={"version": 1, "contact": contact.fields, "entries": entries},
        sections=tuple(u.heading for u in found.units if not u.faq),
        faq=tuple(u.heading for u in found.units if u.faq),
        empty_headings=tuple(found.empty_headings),
        lead_chars=found.lead_chars,
        unanswered=tuple(found.unanswered),
        shortened=tuple(shortened),
        missing_contact=contact.missing,
        hidden_email=document.hidden_email,
        organization_guessed=contact.organization_guessed,
        contact_section=found.units[contact_index].heading if contact_index is not None else "",
    )
