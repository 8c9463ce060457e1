"""Reading what `import` is given: a local file, or a page fetched over http(s)."""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from bot import texts
from bot.importer.blocks import Document, parse_html, parse_markdown, parse_plain

Kind = Literal["html", "markdown", "text"]

MAX_BYTES = 5_000_000  # an article page is far smaller; a larger answer is not one
DEFAULT_TIMEOUT = 15.0
_HTML_TYPES = {"text/html", "application/xhtml+xml"}
_MARKDOWN_TYPES = {"text/markdown", "text/x-markdown"}
_MARKDOWN_SUFFIXES = {".md", ".markdown", ".mdown", ".mkd"}
_HTML_SUFFIXES = {".html", ".htm", ".xhtml"}


class SourceError(Exception):
    """The source cannot be read; the message is one line for the person running import."""


@dataclass(frozen=True)
class Source:
    name: str
    kind: Kind
    data: bytes
    charset: str = ""  # declared by the server; HTML finds its own otherwise

    def text(self) -> str:
        try:
            return self.data.decode(self.charset or "utf-8-sig")
        except (UnicodeDecodeError, LookupError):
            raise SourceError(
                texts.IMPORT_UNREADABLE.format(source=self.name, reason=texts.IMPORT_NOT_UTF8)
            ) from None

    def document(self) -> Document:
        if self.kind == "html":
            return parse_html(self.data)
        if self.kind == "markdown":
            return parse_markdown(self.text())
        return parse_plain(self.text())


def _sniff(data: bytes) -> Kind | None:
    head = data[:1024].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html", b"<?xml")) or b"<body" in head:
        return "html"
    return None


def _kind(suffix: str, data: bytes) -> Kind:
    if suffix in _HTML_SUFFIXES:
        return "html"
    if suffix in _MARKDOWN_SUFFIXES:
        return "markdown"
    return _sniff(data) or "text"


def _unreadable(name: str, reason: str) -> SourceError:
    return SourceError(texts.IMPORT_UNREADABLE.format(source=name, reason=reason))


def read_file(path: Path) -> Source:
    name = str(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise _unreadable(name, texts.IMPORT_NO_FILE) from None
    except IsADirectoryError:
        raise _unreadable(name, texts.IMPORT_IS_DIRECTORY) from None
    except OSError as exc:
        raise _unreadable(name, exc.strerror or str(exc)) from None
    if len(data) > MAX_BYTES:
        raise _unreadable(name, texts.IMPORT_TOO_LARGE.format(mb=MAX_BYTES // 1_000_000))
    return Source(name, _kind(path.suffix.lower(), data), data)


def fetch(url: str, timeout: float = DEFAULT_TIMEOUT) -> Source:
    """GET `url` (http or https), following redirects, within `timeout` seconds a step."""
    request = urllib.request.Request(
        url,
        headers={
            "User-Agent": "faq-bot-import/1 (+knowledge draft)",
            "Accept": "text/html,application/xhtml+xml,text/markdown,text/plain;q=0.9",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            headers: Message = response.headers
            data = response.read(MAX_BYTES + 1)
            final = response.geturl()
    except urllib.error.HTTPError as exc:
        raise _unreadable(url, f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            raise _unreadable(url, texts.IMPORT_TIMEOUT.format(seconds=f"{timeout:g}")) from None
        raise _unreadable(url, str(getattr(reason, "strerror", None) or reason)) from None
    except TimeoutError:
        raise _unreadable(url, texts.IMPORT_TIMEOUT.format(seconds=f"{timeout:g}")) from None
    except (OSError, ValueError) as exc:  # a connection reset, a malformed answer
        raise _unreadable(url, str(exc) or type(exc).__name__) from None
    if len(data) > MAX_BYTES:
        raise _unreadable(url, texts.IMPORT_TOO_LARGE.format(mb=MAX_BYTES // 1_000_000))
    content_type = headers.get_content_type()
    charset = headers.get_content_charset() or ""
    suffix = Path(urlsplit(final).path).suffix.lower()
    if content_type in _HTML_TYPES:
        return Source(url, "html", data, charset)
    if content_type in _MARKDOWN_TYPES:
        return Source(url, "markdown", data, charset)
    if content_type == "text/plain":  # also what a missing Content-Type reads as
        kind = "markdown" if suffix in _MARKDOWN_SUFFIXES else _sniff(data) or "text"
        return Source(url, kind, data, charset)
    raise _unreadable(url, texts.IMPORT_NOT_TEXT.format(content_type=content_type))


def read_source(source: str, timeout: float = DEFAULT_TIMEOUT) -> Source:
    """A local path, or an http(s) URL; SourceError with one line when it cannot be read."""
    scheme = urlsplit(source).scheme.lower()
    if scheme in {"http", "https"}:
        return fetch(source, timeout)
    if "://" in source:
        raise _unreadable(source, texts.IMPORT_SCHEME)
    return read_file(Path(source))
