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
from bot.engine.knowledge import PLACEHOLDER_EMAIL, KnowledgeError, load_knowledge
from bot.engine.matcher import Engine
from bot.engine.replies import HANDOFF
from bot.settings import DEFAULT_KNOWLEDGE, PROJECT_ROOT, load_settings
from bot.support.learning import add_phrasing
from tests.support.contract import INTENT_IDS
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


def _bad_id(data: Data) -> None:
    entry = copy.deepcopy(data["entries"][_index(data, "cso_role")])
    entry["id"] = "Giờ mở cửa"
    entry["related"] = []
    data["entries"].append(entry)


def _long_button(data: Data) -> None:
    data["entries"][_index(data, "summary")]["button"] = "Một nút bấm dài hơn hai mươi tư ký tự"


def _unknown_menu_id(data: Data) -> None:
    data["menu"] = ["summary", "opening_hours"]


def _unknown_vocabulary_field(data: Data) -> None:
    data["vocabulary"] = {"synonym": {"hóa đơn": ["hđ"]}}


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
        (_empty_questions, "summary", "questions", "at least 1"),
        (_bad_id, "Giờ mở cửa", "id", "pattern"),
        (_long_button, "summary", "button", "24"),
        (_unknown_menu_id, "menu", "opening_hours", "unknown"),
        (_unknown_vocabulary_field, "vocabulary", "synonym", "extra"),
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


# -- any business's file ----------------------------------------------------------------------

INTERNET = PROJECT_ROOT / "tests" / "data" / "domains" / "internet" / "knowledge.json"


def _shop() -> Data:
    """A small shop's file as a support team would start it: two topics, no small talk."""
    return {
        "contact": {
            "organization": "Tiệm bánh Hoa Mai",
            "phone": "0909123456",
            "address": "12 Lý Thường Kiệt, Hà Nội",
            "hours": "8:00–21:00",
        },
        "entries": [
            {
                "id": "opening_hours",
                "title": "Giờ mở cửa của tiệm bánh vào các ngày trong tuần",
                "questions": ["Tiệm mở cửa mấy giờ?", "Chủ nhật tiệm có mở không?"],
                "answer": "Tiệm mở cửa từ 8:00 đến 21:00 tất cả các ngày.",
            },
            {
                "id": "delivery_fee_inner",
                "title": "Phí giao hàng nội thành",
                "questions": ["Phí ship nội thành bao nhiêu?"],
                "answer": "Giao nội thành 20.000đ.",
                "subject": "nội thành",
                "aspect": "phí giao hàng",
            },
        ],
    }


def test_another_business_file_is_accepted_as_it_comes(tmp_path: Path) -> None:
    knowledge = load_knowledge(INTERNET)
    assert "plans_prices" in knowledge.by_id
    result = _check(tmp_path, INTERNET)
    assert result.returncode == 0, result.stderr
    assert "OK (21 entries)" in result.stdout


def test_check_warns_but_accepts_an_entry_with_few_phrasings(tmp_path: Path) -> None:
    result = _check(tmp_path, _write(tmp_path / "shop.json", _shop()))
    assert result.returncode == 0, result.stderr
    warnings = result.stderr.splitlines()
    assert len(warnings) == 2, result.stderr
    assert "opening_hours" in warnings[0]
    assert "warning" in warnings[0]
    assert "delivery_fee_inner" in warnings[1]


def test_a_missing_button_is_the_title_cut_at_a_word(tmp_path: Path) -> None:
    knowledge = load_knowledge(_write(tmp_path / "shop.json", _shop()))
    assert knowledge.entry("opening_hours").button == "Giờ mở cửa của tiệm bánh"
    assert knowledge.entry("delivery_fee_inner").button == "Phí giao hàng nội thành"
    for entry in knowledge.entries:
        assert 0 < len(entry.button) <= 24


def test_small_talk_works_in_a_file_without_it(tmp_path: Path) -> None:
    knowledge = load_knowledge(_write(tmp_path / "shop.json", _shop()))
    assistant = Assistant(knowledge, Engine(knowledge))
    help_text = assistant.choose("help").text
    assert "Tiệm bánh Hoa Mai" in help_text
    assert "Phí giao hàng nội thành" in help_text
    for question, intent in [("xin chào", "greeting"), ("cảm ơn nhé", "thanks")]:
        reply = assistant.ask(question)
        assert (reply.decision.action, reply.decision.intent) == ("answer", intent)
        assert reply.text


def test_the_file_names_its_own_texts_and_menu(tmp_path: Path) -> None:
    data = _shop()
    data["texts"] = {"help": "Tiệm bánh Hoa Mai trả lời giờ mở cửa và phí giao hàng."}
    data["menu"] = [{"id": "delivery_fee_inner", "label": "Phí ship"}, "opening_hours"]
    knowledge = load_knowledge(_write(tmp_path / "shop.json", data))
    assert knowledge.entry("help").answer == data["texts"]["help"]
    assert knowledge.menu_items() == [
        ("delivery_fee_inner", "Phí ship"),
        ("opening_hours", "Giờ mở cửa của tiệm bánh"),
    ]


# -- a folder of knowledge files -----------------------------------------------------------------


def _folder(tmp_path: Path) -> Path:
    """The shop's file split in two: one with the contact block, one with a topic."""
    shop = _shop()
    folder = tmp_path / "knowledge"
    folder.mkdir()
    first = {"contact": shop["contact"], "entries": shop["entries"][:1]}
    second = {"entries": shop["entries"][1:], "texts": {"menu_title": "Chọn chủ đề:"}}
    _write(folder / "hours.json", first)
    _write(folder / "delivery.json", second)
    return folder


def test_a_folder_of_files_is_one_knowledge(tmp_path: Path) -> None:
    knowledge = load_knowledge(_folder(tmp_path))
    assert {"opening_hours", "delivery_fee_inner", "greeting"} <= set(knowledge.by_id)
    assert knowledge.texts.menu_title == "Chọn chủ đề:"
    assistant = Assistant(knowledge, Engine(knowledge))
    assert assistant.ask("phí ship nội thành bao nhiêu").decision.intent == "delivery_fee_inner"
    result = _check(tmp_path, tmp_path / "knowledge")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("damage", "named", "detail"),
    [
        (
            lambda f: _write(f / "extra.json", {"entries": [_shop()["entries"][0]]}),
            "extra.json",
            "duplicate id 'opening_hours'",
        ),
        (
            lambda f: _write(f / "extra.json", {"contact": _shop()["contact"], "entries": []}),
            "extra.json",
            "second contact block",
        ),
        (lambda f: (f / "hours.json").unlink(), "knowledge", "contact"),
        (
            lambda f: _write(f / "extra.json", {"entries": [{"id": "x", "title": "X"}]}),
            "extra.json",
            "entries[0] (x): field 'questions'",
        ),
    ],
    ids=["duplicate-id", "two-contacts", "no-contact", "broken-entry"],
)
def test_a_broken_folder_is_refused_naming_the_file(
    tmp_path: Path, damage: Callable[[Path], object], named: str, detail: str
) -> None:
    folder = _folder(tmp_path)
    damage(folder)
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(folder)
    message = str(caught.value)
    assert "\n" not in message
    assert named in message, message
    assert detail in message, message


def test_assign_writes_into_the_file_that_holds_the_intent(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    before = (folder / "hours.json").read_text(encoding="utf-8")
    knowledge = add_phrasing(folder, "delivery_fee_inner", "Ship trong thành phố mất bao nhiêu?")
    assert "Ship trong thành phố mất bao nhiêu?" in knowledge.entry("delivery_fee_inner").questions
    delivery = json.loads((folder / "delivery.json").read_text(encoding="utf-8"))
    assert "Ship trong thành phố mất bao nhiêu?" in delivery["entries"][0]["questions"]
    assert (folder / "hours.json").read_text(encoding="utf-8") == before
    assert load_knowledge(folder).entry("delivery_fee_inner").questions[-1].startswith("Ship")


def _bot(tmp_path: Path, knowledge_file: Path, *args: str, stdin: str = "") -> str:
    result = subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=tmp_path,
        env=clean_env(KNOWLEDGE_FILE=str(knowledge_file)),
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_ask_and_chat_answer_from_another_business_file(tmp_path: Path) -> None:
    knowledge = load_knowledge(INTERNET)
    lines = _bot(
        tmp_path, INTERNET, "ask", "--json", "-", stdin="gói rẻ nhất bao nhiêu một tháng?\n"
    ).splitlines()
    reply = json.loads(lines[0])
    assert set(reply) >= {"action", "intent", "confidence", "suggestions", "text"}
    assert (reply["action"], reply["intent"]) == ("answer", "plans_prices")
    assert reply["text"] == knowledge.entry("plans_prices").answer

    chat = _bot(tmp_path, INTERNET, "chat", stdin="đổi mật khẩu wifi thế nào\nthoát\n")
    assert knowledge.entry("change_wifi_password").answer in chat


def test_eval_scores_another_business_with_the_questions_beside_its_file(tmp_path: Path) -> None:
    out = _bot(tmp_path, INTERNET, "eval", "--knowledge", str(INTERNET))
    assert "queries.jsonl" in out
    assert "answered-correct" in out
    assert "paraphrase" in out  # the table by kind
