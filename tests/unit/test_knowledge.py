"""The knowledge file: the real one loads; a broken one is refused with one clear line."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.cli import build_assistant
from bot.engine.assistant import Assistant
from bot.engine.knowledge import INTENT_IDS, PLACEHOLDER_EMAIL, KnowledgeError, load_knowledge
from bot.engine.replies import HANDOFF
from bot.settings import DEFAULT_KNOWLEDGE, PROJECT_ROOT, load_settings
from tests.support.settings_env import SETTINGS_ENV, clean_env

EVAL_FILE = PROJECT_ROOT / "tests" / "data" / "eval.jsonl"

Data = dict[str, Any]


@pytest.fixture
def good() -> Data:
    data: Data = json.loads(DEFAULT_KNOWLEDGE.read_text(encoding="utf-8"))
    return data


def _index(data: Data, intent: str) -> int:
    ids = [entry["id"] for entry in data["entries"]]
    return ids.index(intent)


def _write(path: Path, data: Data) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


# -- the real file ------------------------------------------------------------------------------


def test_the_real_file_loads_with_every_contract_intent() -> None:
    knowledge = load_knowledge(DEFAULT_KNOWLEDGE)
    ids = [entry.id for entry in knowledge.entries]
    assert len(ids) == 17
    assert sorted(ids) == sorted(INTENT_IDS)
    for entry in knowledge.entries:
        assert len(entry.questions) >= 6, entry.id
        assert len(set(entry.questions)) == len(entry.questions), entry.id


def test_the_real_file_has_the_articles_contact_and_no_invented_email() -> None:
    contact = load_knowledge(DEFAULT_KNOWLEDGE).contact
    assert contact.email == ""
    assert contact.phone == "02838172459"
    assert contact.phone_display == "028 3817 2459"
    assert PLACEHOLDER_EMAIL not in DEFAULT_KNOWLEDGE.read_text(encoding="utf-8")


# -- broken files: one line naming the file, the entry and the field ----------------------------


def _refused(path: Path) -> str:
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(path)
    message = str(caught.value)
    assert "\n" not in message, message
    assert str(path) in message, message
    return message


def test_invalid_json_names_the_line_and_column(tmp_path: Path, good: Data) -> None:
    text = json.dumps(good, ensure_ascii=False, indent=2)
    broken = text.replace('"version": 1,', '"version": 1,,', 1)
    with pytest.raises(json.JSONDecodeError) as parsed:
        json.loads(broken)
    path = tmp_path / "faq.json"
    path.write_text(broken, encoding="utf-8")
    message = _refused(path)
    assert f"line {parsed.value.lineno}" in message
    assert f"column {parsed.value.colno}" in message


def _missing_answer(data: Data) -> None:
    del data["entries"][_index(data, "cso_skills")]["answer"]


def _duplicate_id(data: Data) -> None:
    data["entries"].append(copy.deepcopy(data["entries"][_index(data, "cmo_role")]))


def _unknown_related(data: Data) -> None:
    data["entries"][_index(data, "cso_role")]["related"].append("cfo_role")


def _empty_questions(data: Data) -> None:
    data["entries"][_index(data, "summary")]["questions"] = []


def _five_questions(data: Data) -> None:
    entry = data["entries"][_index(data, "summary")]
    entry["questions"] = entry["questions"][:5]


def _unknown_intent(data: Data) -> None:
    entry = copy.deepcopy(data["entries"][_index(data, "cso_role")])
    entry["id"] = "cto_role"
    entry["related"] = []
    data["entries"].append(entry)


def _no_phone(data: Data) -> None:
    del data["contact"]["phone"]


def _placeholder_email(data: Data) -> None:
    data["contact"]["email"] = "[email protected]"


@pytest.mark.parametrize(
    ("damage", "entry", "field", "detail"),
    [
        (_missing_answer, "cso_skills", "answer", "required"),
        (_duplicate_id, "cmo_role", "id", "duplicate"),
        (_unknown_related, "cso_role", "related", "cfo_role"),
        (_empty_questions, "summary", "questions", "6"),
        (_five_questions, "summary", "questions", "6"),
        (_unknown_intent, "cto_role", "id", "unknown"),
        (_no_phone, "contact", "phone", "required"),
        (_placeholder_email, "contact", "email", "email"),
    ],
    ids=lambda value: value.__name__.strip("_") if callable(value) else None,
)
def test_a_broken_file_is_refused_naming_file_entry_and_field(
    tmp_path: Path,
    good: Data,
    damage: Callable[[Data], None],
    entry: str,
    field: str,
    detail: str,
) -> None:
    damage(good)
    message = _refused(_write(tmp_path / "faq.json", good))
    assert entry in message
    assert repr(field) in message or f"field {field}" in message
    assert detail.casefold() in message.casefold()


def test_an_entry_is_named_by_its_position_too(tmp_path: Path, good: Data) -> None:
    _missing_answer(good)
    message = _refused(_write(tmp_path / "faq.json", good))
    assert f"entries[{_index(good, 'cso_skills')}]" in message


# -- `python -m bot check` ------------------------------------------------------------------------


def _check(tmp_path: Path, knowledge_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "check"],
        cwd=tmp_path,
        env=clean_env(KNOWLEDGE_FILE=str(knowledge_file)),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("damage", [_missing_answer, _unknown_related, _placeholder_email])
def test_check_refuses_a_bad_file_with_exactly_one_line(
    tmp_path: Path, good: Data, damage: Callable[[Data], None]
) -> None:
    damage(good)
    path = _write(tmp_path / "bad.json", good)
    result = _check(tmp_path, path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert str(path) in lines[0]


def test_check_refuses_invalid_json_with_exactly_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"version": 1,\n "contact": {\n', encoding="utf-8")
    result = _check(tmp_path, path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "line" in result.stderr


def test_check_refuses_a_missing_file_with_exactly_one_line(tmp_path: Path) -> None:
    result = _check(tmp_path, tmp_path / "nowhere.json")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr


def test_check_accepts_a_good_file(tmp_path: Path, good: Data) -> None:
    result = _check(tmp_path, _write(tmp_path / "good.json", good))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


# -- the email is a setting ------------------------------------------------------------------------


def _assistant(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, email: str | None) -> Assistant:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in SETTINGS_ENV:
        monkeypatch.delenv(name, raising=False)
    if email is not None:
        monkeypatch.setenv("CONTACT_EMAIL", email)
    return build_assistant(load_settings())


def _every_reply_text(assistant: Assistant) -> list[str]:
    texts = [assistant.choose(intent).text for intent in INTENT_IDS]
    texts.append(assistant.choose(HANDOFF).text)
    for line in EVAL_FILE.read_text(encoding="utf-8").splitlines():
        if line.strip():
            texts.append(assistant.ask(json.loads(line)["q"]).text)
    return texts


def test_contact_email_setting_fills_the_contact_reply(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assistant = _assistant(monkeypatch, tmp_path, "hotro@example.vn")
    assert "hotro@example.vn" in assistant.ask("Cho mình xin email liên hệ").text
    assert "hotro@example.vn" in assistant.choose("contact").text
    assert "hotro@example.vn" in assistant.ask("Tối nay MU đá với ai?").text  # handoff
    assert "028 3817 2459" in assistant.choose("contact").text


def test_without_an_email_setting_no_email_line_is_shown(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assistant = _assistant(monkeypatch, tmp_path, None)
    for text in (assistant.choose("contact").text, assistant.choose(HANDOFF).text):
        assert "028 3817 2459" in text
        assert "email" not in text.casefold()
        assert "@" not in text


def test_the_placeholder_email_never_reaches_a_user(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assistant = _assistant(monkeypatch, tmp_path, None)
    for text in _every_reply_text(assistant):
        assert PLACEHOLDER_EMAIL not in text
        assert "email protected" not in text.casefold()
