"""An article as a flat run of blocks (headings, paragraphs, list items), from HTML, Markdown
or plain text. Everything after this (sections, FAQ pairs, entries) works on blocks alone,
so the three formats give the same draft for the same article."""

from __future__ import annotations

import re
import unicodedata
import xml.etree.ElementTree as ET
from dataclasses import dataclass

# Cloudflare's e-mail obfuscation leaves this text where an address was: not an address.
_HIDDEN_EMAIL = re.compile(
    r"(?:[,;]?\s*(?:e-?mail|thư điện tử)\s*:?\s*)?\[email\s+protected\]\s*[,;]?", re.IGNORECASE
)
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")


@dataclass(frozen=True)
class Heading:
    level: int  # 1 for a page title; plain text has no levels and uses 2 (3+ for 1.1 numbering)
    text: str


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Item:
    """One item of a bulleted or numbered list."""

    text: str
    depth: int = 0


Block = Heading | Paragraph | Item


@dataclass(frozen=True)
class Document:
    blocks: tuple[Block, ...]
    site_name: str = ""  # the publisher, as the page names itself (HTML metadata)
    hidden_email: bool = False  # the page hid an e-mail address behind an obfuscation


def clean_text(text: str) -> str:
    """One line of text: NFC, no invisible characters, single spaces."""
    text = unicodedata.normalize("NFC", text).translate(_INVISIBLE)
    return _SPACES.sub(" ", text).strip()


def _scrub(text: str) -> tuple[str, bool]:
    scrubbed, count = _HIDDEN_EMAIL.subn(" ", text)
    return (clean_text(scrubbed), True) if count else (text, False)


def _finish(blocks: list[Block], site_name: str = "") -> Document:
    kept: list[Block] = []
    hidden = False
    for block in blocks:
        text, was_hidden = _scrub(block.text)
        hidden = hidden or was_hidden
        if not text:
            continue
        if isinstance(block, Heading):
            kept.append(Heading(block.level, text))
        elif isinstance(block, Item):
            kept.append(Item(text, block.depth))
        else:
            kept.append(Paragraph(text))
    return Document(tuple(kept), site_name=clean_text(site_name), hidden_email=hidden)


# ------------------------------------------------------------------------------ HTML


def _inline_text(element: ET.Element) -> str:
    """The text of a paragraph-like element; a line break stays a line break."""
    parts: list[str] = [element.text or ""]
    for child in element:
        if child.tag == "lb":
            parts.append("\n")
        elif child.tag not in {"list", "table"}:
            parts.append(_inline_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def _lines(text: str) -> list[str]:
    return [line for line in (clean_text(part) for part in text.split("\n")) if line]


def _walk_xml(element: ET.Element, depth: int, out: list[Block], ranked: list[int]) -> None:
    """`ranked` holds the level of the last heading whose level the page stated."""
    for child in element:
        tag = child.tag
        if tag == "head":
            rend = child.get("rend", "")
            if len(rend) == 2 and rend[0] == "h" and rend[1].isdigit():
                ranked[0] = level = int(rend[1])
            else:  # a heading of no stated level (a <summary>) sits under the last one
                level = min(ranked[0] + 1, 6)
            out.append(Heading(level, clean_text(_inline_text(child))))
        elif tag in {"p", "quote", "code"}:
            out.extend(Paragraph(line) for line in _lines(_inline_text(child)))
        elif tag == "list":
            for item in child:
                if item.tag != "item":
                    continue
                text = clean_text(_inline_text(item))
                if text and item.get("rend", "").startswith("dd"):  # a definition: prose
                    out.append(Paragraph(text))
                elif text:
                    out.append(Item(text, depth))
                _walk_xml(item, depth + 1, out, ranked)  # nested lists
        elif tag == "table":
            for row in child.iter("row"):
                cells = [clean_text(_inline_text(cell)) for cell in row.iter("cell")]
                cells = [cell for cell in cells if cell]
                if cells:
                    out.append(Item(" | ".join(cells), depth))
        elif tag == "div":
            _walk_xml(child, depth, out, ranked)


def parse_html(data: bytes | str) -> Document:
    """The main text of a web page: trafilatura drops menus, sidebars, footers and
    scripts and keeps headings, paragraphs, lists and tables in order."""
    import trafilatura  # its import costs a second: only an HTML import pays for it

    xml = trafilatura.extract(
        data,
        output_format="xml",
        with_metadata=True,
        favor_recall=True,
        include_comments=False,
        include_tables=True,
        include_images=False,
        include_links=False,
        include_formatting=False,
    )
    if not xml:
        return Document(())
    root = ET.fromstring(xml)
    blocks: list[Block] = []
    main = root.find("main")
    if main is not None:
        _walk_xml(main, 0, blocks, [1])
    return _finish(blocks, site_name=root.get("sitename") or "")


# -------------------------------------------------------------------------- Markdown


def parse_markdown(text: str) -> Document:
    """Markdown through markdown-it-py (CommonMark, with tables)."""
    from markdown_it import MarkdownIt

    blocks: list[Block] = []
    depth = -1  # list nesting; -1 outside any list
    in_item = 0
    in_cell = False
    row: list[str] = []
    heading_level = 0
    for token in MarkdownIt("commonmark").enable("table").parse(text):
        kind = token.type
        if kind in {"bullet_list_open", "ordered_list_open"}:
            depth += 1
        elif kind in {"bullet_list_close", "ordered_list_close"}:
            depth -= 1
        elif kind == "list_item_open":
            in_item += 1
        elif kind == "list_item_close":
            in_item -= 1
        elif kind == "heading_open":
            heading_level = int(token.tag[1])
        elif kind == "tr_open":
            row = []
        elif kind in {"th_open", "td_open"}:
            in_cell = True
        elif kind in {"th_close", "td_close"}:
            in_cell = False
        elif kind == "tr_close" and any(row):
            blocks.append(Item(" | ".join(cell for cell in row if cell), max(depth, 0)))
        elif kind == "inline":
            content = "".join(
                child.content
                if child.type in {"text", "code_inline"}
                else "\n"
                if child.type == "hardbreak"
                else " "
                if child.type == "softbreak"
                else ""
                for child in token.children or ()
            )
            if heading_level:
                blocks.append(Heading(heading_level, clean_text(content)))
                heading_level = 0
            elif in_cell:
                row.append(clean_text(content))
            elif in_item:
                blocks.append(Item(" ".join(_lines(content)), max(depth, 0)))
            else:
                blocks.extend(Paragraph(line) for line in _lines(content))
        elif kind in {"fence", "code_block"}:
            blocks.extend(Paragraph(line) for line in _lines(token.content))
    return _finish(blocks)


# ------------------------------------------------------------------------ plain text

_BULLET = re.compile(r"^(\s*)[-*•+–·▪●◦]\s+(\S.*)$")
_NUMBERED = re.compile(r"^(\s*)((?:\d{1,2}\.){1,3}\d{0,2}|\d{1,2}\)|[IVX]{1,4}\.)\s+(\S.*)$")
_FINAL_STOP = ".,;:!…"
# A list item glued to the end of the sentence before it: "… giao hàng. - Đơn hàng…?"
_GLUED_ITEM = re.compile(r"(?<=[.!?…])\s+[-–•]\s+(?=\S)")
_MAX_HEADING_CHARS = 120
_MAX_HEADING_WORDS = 16


@dataclass(frozen=True)
class _Line:
    text: str
    indent: int
    bullet: bool = False
    number: str = ""  # "1.", "2.3", "IV." for a numbered line


def _split_lines(text: str) -> list[_Line | None]:
    """Lines of the text, None for a blank one, list items glued to a sentence split off."""
    out: list[_Line | None] = []
    for raw in unicodedata.normalize("NFC", text).splitlines():
        raw = raw.translate(_INVISIBLE).replace("\t", "    ")
        if not raw.strip():
            out.append(None)
            continue
        indent = len(raw) - len(raw.lstrip())
        for n, piece in enumerate(_GLUED_ITEM.split(raw.strip())):
            out.append(_classify(("- " + piece) if n else piece, indent))
    return out


def _classify(raw: str, indent: int) -> _Line:
    bullet = _BULLET.match(raw)
    if bullet:
        return _Line(clean_text(bullet.group(2)), indent, bullet=True)
    numbered = _NUMBERED.match(raw)
    if numbered:
        return _Line(clean_text(numbered.group(3)), indent, number=numbered.group(2))
    return _Line(clean_text(raw), indent)


def _join_wrapped(lines: list[_Line | None]) -> list[_Line | None]:
    """Paragraphs hard-wrapped at a fixed width become one line again: a line that reaches
    near the width is continued by the next line when that one starts in lower case."""
    widths = [len(line.text) for line in lines if line is not None]
    if not widths:
        return lines
    width = max(widths)
    if width > 100:  # one paragraph a line: nothing was wrapped
        return lines
    out: list[_Line | None] = []
    for line in lines:
        prev = out[-1] if out else None
        if (
            line is not None
            and prev is not None
            and not line.bullet
            and not line.number
            and line.text[:1].islower()
            and len(prev.text) >= 0.6 * width
        ):
            out[-1] = _Line(prev.text + " " + line.text, prev.indent, prev.bullet, prev.number)
        else:
            out.append(line)
    return out


def _heading_like(text: str) -> bool:
    """Short, one phrase, no closing punctuation (a question mark is fine), starts like a
    title: how a heading looks when nothing marks it up."""
    if len(text) > _MAX_HEADING_CHARS or len(text.split()) > _MAX_HEADING_WORDS:
        return False
    if text[-1] in _FINAL_STOP or re.search(r"[.!?…]\s+\S", text):
        return False
    first = text[0]
    return first.isupper() or first.isdigit() or first in "\"“'‘«("


def _number_depth(number: str) -> int:
    return max(1, len([p for p in number.rstrip(".)").split(".") if p]))


def _numbered_list(lines: list[_Line], index: int) -> bool:
    """A numbered line next to another numbered line is a list item, not a heading."""
    line = lines[index]
    return any(
        0 <= other < len(lines)
        and bool(lines[other].number)
        and _number_depth(lines[other].number) == _number_depth(line.number)
        for other in (index - 1, index + 1)
    )


def parse_plain(text: str) -> Document:
    """Plain text whose headings are not marked up: a short line without closing
    punctuation (or ending in "?") that is followed by more text is a heading; so is a
    numbered line ("2.", "2.1", "IV.") standing alone between paragraphs."""
    lines = [line for line in _join_wrapped(_split_lines(text)) if line is not None]
    blocks: list[Block] = []
    base_indent = min((line.indent for line in lines), default=0)
    for index, line in enumerate(lines):
        has_next = index + 1 < len(lines)
        listed = line.number and (_numbered_list(lines, index) or not _heading_like(line.text))
        if line.bullet or listed:
            blocks.append(Item(line.text, max(0, (line.indent - base_indent) // 2)))
        elif line.number and has_next:
            blocks.append(Heading(1 + _number_depth(line.number), line.text))
        elif has_next and _heading_like(line.text):
            blocks.append(Heading(2, line.text))
        else:
            blocks.append(Paragraph(line.text))
    return _finish(blocks)
