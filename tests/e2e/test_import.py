"""An article imported the way a support team would: `python -m bot import` on the seed text
and on the same article as a web page served from 127.0.0.1, then `check` and `ask` on the
draft, as separate processes started from an empty directory."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bot import texts
from tests.support.article import DATA, FAQ, SECTIONS
from tests.support.settings_env import clean_env

PROXIES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """The article's web page, served from 127.0.0.1 as text/html."""
    handler = partial(_Quiet, directory=str(DATA))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def _bot(
    cwd: Path, *args: str, stdin: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in clean_env(**env).items() if k.lower() not in PROXIES}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,  # no stray .env
        env=environment,
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=180,
        check=False,
    )


def _import_check_ask(tmp_path: Path, source: str) -> tuple[dict[str, Any], str]:
    draft = tmp_path / "draft.json"
    imported = _bot(tmp_path, "import", source, "--out", str(draft))
    assert imported.returncode == 0, imported.stderr
    assert imported.stderr == ""
    data: dict[str, Any] = json.loads(draft.read_text(encoding="utf-8"))

    checked = _bot(tmp_path, "check", KNOWLEDGE_FILE=str(draft))
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith(f"{draft}: OK")

    asked = _bot(
        tmp_path, "ask", "--json", "-", stdin="\n".join(FAQ) + "\n", KNOWLEDGE_FILE=str(draft)
    )
    assert asked.returncode == 0, asked.stderr
    replies = [json.loads(line) for line in asked.stdout.splitlines()]
    by_title = {entry["title"]: entry for entry in data["entries"]}
    for (question, answer), reply in zip(FAQ.items(), replies, strict=True):
        assert reply["action"] == "answer", (question, reply)
        assert reply["intent"] == by_title[question]["id"]
        assert reply["text"] == answer
    return data, imported.stdout


def test_import_the_seed_text(tmp_path: Path) -> None:
    data, said = _import_check_ask(tmp_path, str(DATA / "cso-vs-cmo-article.txt"))
    titles = {entry["title"] for entry in data["entries"]}
    assert titles == set(SECTIONS) | set(FAQ)
    assert (
        texts.IMPORT_FOUND.format(source=DATA / "cso-vs-cmo-article.txt", sections=7, faq=3) in said
    )


def test_import_the_article_page_by_url(tmp_path: Path, site: str) -> None:
    url = f"{site}/cso-vs-cmo-article.html"
    data, said = _import_check_ask(tmp_path, url)
    titles = {entry["title"] for entry in data["entries"]}
    assert set(SECTIONS) | set(FAQ) <= titles
    # The page's title stands over the article's opening paragraph: one section more.
    assert len(titles) == len(SECTIONS) + len(FAQ) + 1
    assert data["contact"]["organization"] == "Truyền Thông Bóng Đá"
    assert texts.IMPORT_FOUND.format(source=url, sections=8, faq=3) in said


def test_import_of_an_unreachable_url_says_so_in_one_line(tmp_path: Path, site: str) -> None:
    url = f"{site}/no-such-article.html"
    result = _bot(tmp_path, "import", url, "--out", str(tmp_path / "draft.json"))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        texts.IMPORT_UNREADABLE.format(source=url, reason="HTTP 404 File not found") + "\n"
    )
    assert not (tmp_path / "draft.json").exists()
