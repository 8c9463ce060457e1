"""Every business folder under tests/data/domains keeps the shared format and an honest query set.

Independent of the engine on purpose: these files are measured against it, so they are checked
with plain Python only.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

DOMAINS = Path(__file__).resolve().parents[1] / "data" / "domains"
FOLDERS = sorted(path for path in DOMAINS.iterdir() if path.is_dir())

ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
CONTACT_FIELDS = {"organization", "phone", "phone_display", "email", "address", "hours"}
REQUIRED_FIELDS = {"id", "title", "questions", "answer"}
ENTRY_FIELDS = REQUIRED_FIELDS | {"button", "keywords", "related", "subject", "aspect"}
SMALL_TALK = {"contact", "greeting", "thanks", "goodbye", "help"}
KINDS = {
    "paraphrase",
    "no_diacritics",
    "typo_teencode",
    "short",
    "mixed_english",
    "contact",
    "smalltalk",
    "near_miss",
    "off_topic",
}
# Telegram's limit for one message; a button label longer than this is cut on phones.
MESSAGE_LIMIT = 4096
BUTTON_LIMIT = 24


def folded(text: str) -> str:
    """Lower case, no diacritics (đ included), punctuation as spaces, single spaces."""
    decomposed = unicodedata.normalize("NFD", text.lower().replace("đ", "d"))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(re.sub(r"[^\w]+", " ", bare).replace("_", " ").split())


def load_knowledge(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "knowledge.json").read_text(encoding="utf-8"))
    return data


def load_queries(folder: Path) -> list[dict[str, Any]]:
    lines = (folder / "queries.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def kb_phrasings(knowledge: dict[str, Any]) -> set[str]:
    phrasings: set[str] = set()
    for entry in knowledge["entries"]:
        texts = [entry["title"], entry.get("button", ""), *entry["questions"]]
        texts += entry.get("keywords", [])
        phrasings.update(folded(text) for text in texts if text)
    return phrasings


def test_the_folders_are_there() -> None:
    assert {path.name for path in FOLDERS} >= {"internet", "shop", "clinic"}


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda path: path.name)
def test_folder_holds_the_three_files_in_nfc(folder: Path) -> None:
    for name in ("knowledge.json", "queries.jsonl", "README.md"):
        text = (folder / name).read_text(encoding="utf-8")
        assert unicodedata.is_normalized("NFC", text), name


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda path: path.name)
def test_knowledge_follows_the_shared_format(folder: Path) -> None:
    knowledge = load_knowledge(folder)
    assert set(knowledge) == {"version", "contact", "entries"}
    assert knowledge["version"] == 1

    contact = knowledge["contact"]
    assert set(contact) == CONTACT_FIELDS
    assert all(isinstance(value, str) for value in contact.values())
    assert contact["organization"]
    assert re.fullmatch(r"0\d{9,10}", contact["phone"])
    assert re.sub(r"\D", "", contact["phone_display"]) == contact["phone"]

    entries = knowledge["entries"]
    ids = [entry["id"] for entry in entries]
    assert len(ids) == len(set(ids))
    assert set(ids) >= SMALL_TALK
    for entry in entries:
        where = entry.get("id")
        assert REQUIRED_FIELDS <= set(entry) <= ENTRY_FIELDS, where
        assert ID_PATTERN.match(entry["id"]), where
        assert entry["title"].strip(), where
        if "button" in entry:
            assert 0 < len(entry["button"].strip()) <= BUTTON_LIMIT, where
        assert len(entry["questions"]) >= 5, where
        assert all(isinstance(q, str) and q.strip() for q in entry["questions"]), where
        assert all(isinstance(k, str) and k.strip() for k in entry.get("keywords", [])), where
        assert 0 < len(entry["answer"].strip()) <= MESSAGE_LIMIT, where
        related = entry.get("related", [])
        assert entry["id"] not in related, where
        assert set(related) <= set(ids), where


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda path: path.name)
def test_facets_pair_one_aspect_across_subjects(folder: Path) -> None:
    faceted = [e for e in load_knowledge(folder)["entries"] if "subject" in e or "aspect" in e]
    pairs = [(entry["subject"], entry["aspect"]) for entry in faceted]
    assert len(pairs) == len(set(pairs))
    subjects_per_aspect = Counter(aspect for _, aspect in pairs)
    assert all(count >= 2 for count in subjects_per_aspect.values()), subjects_per_aspect


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda path: path.name)
def test_queries_are_labelled_with_known_ids_and_kinds(folder: Path) -> None:
    ids = {entry["id"] for entry in load_knowledge(folder)["entries"]}
    queries = load_queries(folder)
    assert len(queries) >= 100
    for query in queries:
        assert set(query) == {"q", "expect", "kind"}, query
        assert isinstance(query["q"], str), query
        assert query["q"].strip(), query
        assert query["kind"] in KINDS, query
        expect = query["expect"]
        assert expect, query
        assert len(expect) == len(set(expect)), query
        assert set(expect) <= ids | {"handoff"}, query
    texts = [folded(query["q"]) for query in queries]
    assert len(texts) == len(set(texts)), [t for t, n in Counter(texts).items() if n > 1]


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda path: path.name)
def test_no_query_copies_a_knowledge_phrasing(folder: Path) -> None:
    phrasings = kb_phrasings(load_knowledge(folder))
    copies = [query["q"] for query in load_queries(folder) if folded(query["q"]) in phrasings]
    assert copies == []


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda path: path.name)
def test_readme_counts_match_the_queries(folder: Path) -> None:
    readme = (folder / "README.md").read_text(encoding="utf-8")
    match = re.search(r"Counts per kind: (.+?)\.\s*$", readme, re.MULTILINE)
    assert match, "README.md names the counts per kind"
    stated = {kind: int(n) for kind, n in re.findall(r"(\w+) (\d+)", match.group(1))}
    assert stated == dict(Counter(query["kind"] for query in load_queries(folder)))


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda path: path.name)
def test_off_topic_queries_are_handed_off(folder: Path) -> None:
    for query in load_queries(folder):
        if query["kind"] == "off_topic":
            assert query["expect"] == ["handoff"], query


def test_folding_ignores_case_diacritics_and_punctuation() -> None:
    assert folded("Đổi mật khẩu Wi-Fi?") == "doi mat khau wi fi"
    assert folded("  Giá   bao nhiêu!! ") == "gia bao nhieu"
