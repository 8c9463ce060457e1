"""Telegram's HTML parse mode, as the Bot API stand-in applies it to text and captions.

``parse_html`` turns Telegram-flavoured HTML into (plain text, entities) or raises
``HtmlParseError`` with Telegram's own wording. It follows TDLib's parser: the supported tags,
the four named entities plus numeric ones (any other ``&name;`` stays as it is), and the same
error messages with UTF-8 byte offsets, so that a reply Telegram would refuse fails in tests.
"""

from __future__ import annotations

import re
import string
import urllib.parse
from typing import Any, NamedTuple

__all__ = ["HtmlParseError", "checked_link", "parse_html", "utf16_len"]

JSON = dict[str, Any]


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units, the unit of Telegram's limits and offsets."""
    return sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)


class HtmlParseError(ValueError):
    """Telegram's HTML parse mode rejected the text (the message is Telegram's wording)."""


_HTML_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "span",
        "pre",
        "code",
        "blockquote",
    }
)
_SPACES = frozenset(" \t\r\n\0\v\f")
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_SIMPLE_TAG_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",  # a span is accepted only with class="tg-spoiler"
}
_USER_LINK = re.compile(r"tg://user\?id=(\d+)")


def _numeric_entity(text: str, pos: int) -> tuple[int, int] | None:
    """``&#...`` at ``pos`` (decimal, or hexadecimal after ``x``): (code point, end)."""
    size = len(text)
    end = pos + 2
    base, digits = 10, string.digits
    if end < size and text[end] == "x":
        end += 1
        base, digits = 16, string.hexdigits
    code = 0
    while end < size and text[end] in digits:
        code = code * base + int(text[end], base)
        end += 1
    if code == 0 or code >= 0x10FFFF or end - pos >= 10:
        return None
    return code, end


def _named_entity(text: str, pos: int) -> tuple[int, int] | None:
    size = len(text)
    end = pos + 1
    while end < size and text[end] in string.ascii_letters:
        end += 1
    named = _NAMED_ENTITIES.get(text[pos + 1 : end])
    if named is None:
        return None
    return ord(named), end


def _decode_html_entity(text: str, pos: int) -> tuple[int, int] | None:
    """Decode ``&...;`` at ``pos`` like Telegram: returns (code point, next position) or None."""
    if pos + 1 < len(text) and text[pos + 1] == "#":
        decoded = _numeric_entity(text, pos)
    else:
        decoded = _named_entity(text, pos)
    if decoded is None:
        return None
    code, end = decoded
    if end < len(text) and text[end] == ";":
        end += 1
    return code, end


def checked_link(url: str) -> str | None:
    """The URL as Telegram keeps it for a link (a scheme added, an empty path made ``/``), or
    None when Telegram would not make it a link."""
    if not url or any(ch in _SPACES for ch in url):
        return None
    if url.startswith("tg://"):
        return url
    if "://" not in url:
        if "." not in url.split("/", 1)[0]:
            return None
        url = "http://" + url
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in {"http", "https", "ton", "tonsite"} or not parts.netloc:
        return None
    if not parts.path:
        url = urllib.parse.urlunsplit(
            (parts.scheme, parts.netloc, "/", parts.query, parts.fragment)
        )
    return url


def _tag_argument(tag: str, attribute: str, value: str, current: str) -> str:
    """What an attribute contributes to its tag (a link's target, a code block's language,
    a span's class, a custom emoji's id); any other attribute is ignored."""
    if tag == "a" and attribute == "href":
        return value
    if tag == "code" and attribute == "class" and value.startswith("language-"):
        return value[len("language-") :]
    if tag == "span" and attribute == "class" and value.startswith("tg-"):
        return value[len("tg-") :]
    if tag == "tg-emoji" and attribute == "emoji-id":
        return value
    return current


def _custom_emoji(argument: str) -> JSON:
    if not argument.isdigit() or int(argument) == 0:
        raise HtmlParseError("Invalid custom emoji identifier specified")
    return {"type": "custom_emoji", "custom_emoji_id": argument}


class _OpenTag(NamedTuple):
    tag: str
    argument: str
    offset: int  # UTF-16 offset in the plain text where the tag opened
    out_begin: int  # index into the parser's output pieces where the tag opened


class _Parser:
    """One pass over the source; ``self.i`` is the position of the next character to read."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.size = len(source)
        self.i = 0
        self.out: list[str] = []
        self.utf16 = 0
        self.entities: list[JSON] = []
        self.stack: list[_OpenTag] = []
        self.has_surrogate = False

    # ------------------------------------------------------------------ reading

    def at(self, index: int) -> str:
        return self.source[index] if index < self.size else "\0"

    def byte_offset(self, index: int) -> int:
        return len(self.source[:index].encode("utf-8", "surrogatepass"))

    def skip_spaces(self) -> None:
        while self.i < self.size and self.source[self.i] in _SPACES:
            self.i += 1

    def skip_word(self, stops: str) -> None:
        """Past the characters up to a space or one of ``stops``."""
        while (
            self.i < self.size
            and self.source[self.i] not in _SPACES
            and self.source[self.i] not in stops
        ):
            self.i += 1

    def unclosed_start_tag(self, tag: str, begin: int) -> HtmlParseError:
        return HtmlParseError(
            f'Unclosed start tag "{tag}" at byte offset {self.byte_offset(begin)}'
        )

    # ------------------------------------------------------------------ text

    def parse(self) -> tuple[str, list[JSON]]:
        while self.i < self.size:
            ch = self.source[self.i]
            if ch == "&" and self.entity():
                continue
            if ch != "<":
                self.append(ch)
                self.i += 1
                continue
            begin = self.i
            self.i += 1
            if self.at(self.i) == "/":
                self.end_tag(begin)
            else:
                self.start_tag(begin)
        return self.finish()

    def append(self, ch: str) -> None:
        self.out.append(ch)
        self.utf16 += 2 if ord(ch) > 0xFFFF else 1

    def entity(self) -> bool:
        """An HTML entity at the current position, decoded into the text; False if there is
        none (the ``&`` is then an ordinary character)."""
        decoded = _decode_html_entity(self.source, self.i)
        if decoded is None:
            return False
        code, self.i = decoded
        if 0xD800 <= code <= 0xDFFF:
            self.has_surrogate = True
        self.append(chr(code))
        return True

    def finish(self) -> tuple[str, list[JSON]]:
        if self.stack:
            raise HtmlParseError(
                f"Can't find end tag corresponding to start tag {self.stack[-1].tag}"
            )
        if self.has_surrogate:
            raise HtmlParseError(
                "Text contains invalid Unicode characters after decoding HTML entities, check "
                "for unmatched surrogate code units"
            )
        for entity in self.entities:
            if entity["type"] == "code":
                entity.pop("language", None)
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.out), self.entities

    # ------------------------------------------------------------------ start tags

    def start_tag(self, begin: int) -> None:
        self.skip_word(">")
        if self.i >= self.size:
            raise HtmlParseError(f"Unclosed start tag at byte offset {self.byte_offset(begin)}")
        tag = self.source[begin + 1 : self.i].lower()
        if tag not in _HTML_TAGS:
            raise HtmlParseError(
                f'Unsupported start tag "{tag}" at byte offset {self.byte_offset(begin)}'
            )
        argument = self.attributes(tag, begin)
        if tag == "span" and argument != "spoiler":
            raise HtmlParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {self.byte_offset(begin)}'
            )
        self.i += 1  # past '>'
        self.stack.append(_OpenTag(tag, argument, self.utf16, len(self.out)))

    def attributes(self, tag: str, begin: int) -> str:
        """Reads the attributes up to the tag's ``>``; returns the tag's argument."""
        argument = ""
        while self.at(self.i) != ">":
            self.skip_spaces()
            if self.at(self.i) == ">":
                break
            name = self.attribute_name(tag, begin)
            self.skip_spaces()
            if self.at(self.i) != "=":
                self.valueless_attribute(tag, name, begin)
                argument = "1"
                continue
            self.i += 1
            value = self.attribute_value(tag, begin)
            argument = _tag_argument(tag, name, value, argument)
        return argument

    def attribute_name(self, tag: str, begin: int) -> str:
        start = self.i
        self.skip_word("=>")
        name = self.source[start : self.i].lower()
        if not name:
            raise HtmlParseError(
                f'Empty attribute name in the tag "{tag}" at byte offset {self.byte_offset(begin)}'
            )
        return name

    def valueless_attribute(self, tag: str, name: str, begin: int) -> None:
        """Only ``<blockquote expandable>`` may have an attribute without a value."""
        if tag == "blockquote" and name == "expandable" and self.i < self.size:
            return
        if self.i >= self.size:
            raise self.unclosed_start_tag(tag, begin)
        raise HtmlParseError(
            "Expected equal sign in declaration of an attribute of the tag "
            f'"{tag}" at byte offset {self.byte_offset(begin)}'
        )

    def attribute_value(self, tag: str, begin: int) -> str:
        self.skip_spaces()
        if self.i >= self.size:
            raise self.unclosed_start_tag(tag, begin)
        value = self.quoted_value() if self.source[self.i] in "'\"" else self.name_token()
        if self.i >= self.size:
            raise HtmlParseError(f"Unclosed start tag at byte offset {self.byte_offset(begin)}")
        return value

    def name_token(self) -> str:
        start = self.i
        while self.i < self.size and (
            (self.source[self.i].isascii() and self.source[self.i].isalnum())
            or self.source[self.i] in ".-"
        ):
            self.i += 1
        if self.i < self.size and self.source[self.i] not in _SPACES and self.source[self.i] != ">":
            raise HtmlParseError(
                f"Unexpected end of name token at byte offset {self.byte_offset(start)}"
            )
        return self.source[start : self.i].lower()

    def quoted_value(self) -> str:
        quote = self.source[self.i]
        self.i += 1
        chars: list[str] = []
        while self.i < self.size and self.source[self.i] != quote:
            decoded = (
                _decode_html_entity(self.source, self.i) if self.source[self.i] == "&" else None
            )
            if decoded is not None:
                chars.append(chr(decoded[0]))
                self.i = decoded[1]
                continue
            chars.append(self.source[self.i])
            self.i += 1
        if self.i < self.size:
            self.i += 1  # past the closing quote
        return "".join(chars)

    # ------------------------------------------------------------------ end tags

    def end_tag(self, begin: int) -> None:
        if not self.stack:
            raise HtmlParseError(f"Unexpected end tag at byte offset {self.byte_offset(begin)}")
        self.skip_word(">")
        end_tag = self.source[begin + 2 : self.i].lower()
        self.skip_spaces()
        if self.at(self.i) != ">":
            raise HtmlParseError(f"Unclosed end tag at byte offset {self.byte_offset(begin)}")
        self.i += 1
        opened = self.stack.pop()
        if end_tag and end_tag != opened.tag:
            raise HtmlParseError(
                f"Unmatched end tag at byte offset {self.byte_offset(begin)}, "
                f'expected "</{opened.tag}>", found "</{end_tag}>"'
            )
        length = self.utf16 - opened.offset
        if length <= 0:
            return
        fields = self.entity_fields(opened, length)
        if fields is not None:
            self.entities.append({"offset": opened.offset, "length": length, **fields})

    def entity_fields(self, opened: _OpenTag, length: int) -> JSON | None:
        """The closed tag's entity (its type and type's fields), or None when it adds none
        (a link Telegram does not accept, or a pre/code pair merged into one entity)."""
        tag, argument = opened.tag, opened.argument
        if tag in _SIMPLE_TAG_TYPES:
            return {"type": _SIMPLE_TAG_TYPES[tag]}
        if tag == "blockquote":
            return {"type": "expandable_blockquote" if argument else "blockquote"}
        if tag == "tg-emoji":
            return _custom_emoji(argument)
        if tag == "a":
            return self.link(argument, opened.out_begin)
        if tag == "pre":
            return self.pre(opened.offset, length)
        return self.code(argument, opened.offset, length)

    def link(self, argument: str, out_begin: int) -> JSON | None:
        url = argument or "".join(self.out[out_begin:])
        match = _USER_LINK.fullmatch(url.strip())
        if match:
            user = {"id": int(match.group(1)), "is_bot": False, "first_name": ""}
            return {"type": "text_mention", "user": user}
        checked = checked_link(url)
        if checked is None:
            return None
        return {"type": "text_link", "url": checked}

    def last_entity_at(self, kind: str, offset: int, length: int) -> JSON | None:
        """The entity closed last, if it is a `kind` over exactly the same text."""
        last = self.entities[-1] if self.entities else None
        if last is None or last["type"] != kind:
            return None
        return last if (last["offset"], last["length"]) == (offset, length) else None

    def pre(self, offset: int, length: int) -> JSON | None:
        """``<pre><code class="language-x">`` is one pre entity with a language."""
        inner = self.last_entity_at("code", offset, length)
        if inner is not None and inner.get("language"):
            inner["type"] = "pre"
            return None
        return {"type": "pre"}

    def code(self, argument: str, offset: int, length: int) -> JSON | None:
        """``<code class="language-x">`` right around a pre's text gives the pre its
        language; elsewhere a code entity (its language dropped when no pre takes it)."""
        outer = self.last_entity_at("pre", offset, length)
        if outer is not None and argument:
            outer["language"] = argument
            return None
        if argument:
            return {"type": "code", "language": argument}
        return {"type": "code"}


def parse_html(source: str) -> tuple[str, list[JSON]]:
    """Parse Telegram-flavoured HTML into (plain text, entities), or raise ``HtmlParseError``."""
    return _Parser(source).parse()
