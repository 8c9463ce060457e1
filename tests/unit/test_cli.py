"""The command line as other tools and people use it: `ask --json`, `ask`, `chat`, `eval`."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.cli import cmd_chat
from bot.engine.assistant import Assistant
from bot.engine.knowledge import load_knowledge
from bot.engine.matcher import Engine
from bot.settings import DEFAULT_KNOWLEDGE
from bot.texts import CHAT_PROMPT
from tests.support.settings_env import clean_env

PHONE = "028 3817 2459"
KEYS = {"action", "intent", "confidence", "suggestions", "text"}


@pytest.fixture(scope="module")
def assistant() -> Assistant:
    knowledge = load_knowledge(DEFAULT_KNOWLEDGE)
    return Assistant(knowledge, Engine(knowledge))


def _bot(tmp_path: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = clean_env()
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=tmp_path,  # no stray .env
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )


def _objects(stdout: str) -> list[dict[str, Any]]:
    # Split on "\n" only: the protocol is one object per "\n"-terminated line.
    assert stdout.endswith("\n")
    objects: list[dict[str, Any]] = []
    for line in stdout[:-1].split("\n"):
        value = json.loads(line)
        assert isinstance(value, dict)
        objects.append(value)
    return objects


def _check_protocol(obj: dict[str, Any]) -> None:
    assert obj.keys() >= KEYS
    assert obj["action"] in {"answer", "suggest", "handoff"}
    assert obj["intent"] is None or isinstance(obj["intent"], str)
    assert isinstance(obj["confidence"], float)
    assert 0.0 <= obj["confidence"] <= 1.0
    assert isinstance(obj["suggestions"], list)
    assert all(isinstance(s, str) for s in obj["suggestions"])
    assert isinstance(obj["text"], str)
    assert obj["text"].strip()
    if obj["action"] == "handoff":
        assert obj["intent"] is None
    if obj["action"] == "suggest":
        assert obj["suggestions"]
    if obj["action"] == "answer":
        assert obj["intent"]


# -- ask --json - ---------------------------------------------------------------------------------

QUESTIONS = [
    "CSO là gì?",
    "",
    "Tối nay MU đá với ai?",
    "😀🙏🔥",
    unicodedata.normalize("NFD", "Giám đốc tiếp thị cần những kỹ năng gì?"),
    "Số điện thoại là gì?",
    ("Giám đốc kinh doanh cần kỹ năng gì? " * 200)[:5000],
    "<b>CSO</b> và <i>CMO</i> khác nhau thế nào? <script>alert(1)</script>",
    "CSO cần kỹ năng gì?",
    "còn CMO thì sao?",  # each line stands alone: no follow-up from the line before
    "chiến lược",
    "cmo can ky nang gi",
]


def test_ask_json_stdin_answers_every_line_in_order(tmp_path: Path, assistant: Assistant) -> None:
    assert len(QUESTIONS[6]) == 5000
    result = _bot(tmp_path, "ask", "--json", "-", stdin="\n".join(QUESTIONS) + "\n")
    assert result.returncode == 0, result.stderr
    objects = _objects(result.stdout)
    assert len(objects) == len(QUESTIONS)
    for obj in objects:
        _check_protocol(obj)

    # In order: the distinctive questions land on their own lines ...
    by_line = [(o["action"], o["intent"]) for o in objects]
    assert by_line[0] == ("answer", "cso_role")
    assert by_line[2][0] == "handoff"
    assert by_line[4] == ("answer", "cmo_skills")
    assert by_line[5] == ("answer", "contact")
    assert by_line[8] == ("answer", "cso_skills")
    assert by_line[11] == ("answer", "cmo_skills")
    # ... and every line is what the same question alone gets.
    for question, obj in zip(QUESTIONS, objects, strict=True):
        reply = assistant.ask(question)
        assert (obj["action"], obj["intent"], obj["suggestions"]) == (
            reply.decision.action,
            reply.decision.intent,
            list(reply.decision.suggestions),
        ), question[:60]
        assert obj["text"] == reply.text
    assert objects[9]["intent"] != "cmo_skills"
    assert PHONE in objects[2]["text"]


def test_ask_json_stdin_without_a_final_newline(tmp_path: Path) -> None:
    result = _bot(tmp_path, "ask", "--json", "-", stdin="CSO là gì?\nCMO là gì?")
    assert result.returncode == 0, result.stderr
    objects = _objects(result.stdout)
    assert [o["intent"] for o in objects] == ["cso_role", "cmo_role"]


def test_ask_json_one_question(tmp_path: Path) -> None:
    result = _bot(tmp_path, "ask", "--json", "CSO là gì?")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1
    (obj,) = _objects(result.stdout)
    _check_protocol(obj)
    assert (obj["action"], obj["intent"]) == ("answer", "cso_role")


def test_ask_prints_the_answer_text(tmp_path: Path, assistant: Assistant) -> None:
    result = _bot(tmp_path, "ask", "CSO là gì?")
    assert result.returncode == 0, result.stderr
    assert assistant.knowledge.entry("cso_role").answer in result.stdout
    assert not result.stdout.lstrip().startswith("{")


# -- chat -----------------------------------------------------------------------------------------


class Script:
    """Plays the user: hands cmd_chat one line per prompt and records the bot's turns."""

    def __init__(self, lines: list[str], out: io.StringIO) -> None:
        self._lines: Iterator[str] = iter(lines)
        self._out = out
        self._mark = 0
        self.turns: list[str] = []

    def __call__(self, prompt: str) -> str:
        assert prompt == CHAT_PROMPT
        self.end_turn()
        try:
            return next(self._lines)
        except StopIteration:
            raise AssertionError("the chat asked for more input after the script ended") from None

    def end_turn(self) -> None:
        text = self._out.getvalue()
        self.turns.append(text[self._mark :])
        self._mark = len(text)


def _chat(assistant: Assistant, lines: list[str]) -> tuple[int, list[str]]:
    out = io.StringIO()
    script = Script(lines, out)
    code = cmd_chat(assistant, script, out)
    script.end_turn()
    # turns[0] is the welcome; turns[i] answers lines[i - 1].
    return code, script.turns


def test_chat_numbered_choice_answers_that_choice(assistant: Assistant) -> None:
    suggested = assistant.ask("chiến lược").decision
    assert suggested.action == "suggest"
    assert len(suggested.suggestions) >= 2
    second = suggested.suggestions[1]
    code, turns = _chat(assistant, ["chiến lược", "2", "thoát"])
    assert code == 0
    assert "1. " in turns[1]
    assert "2. " in turns[1]
    assert assistant.knowledge.entry(second).title in turns[1]
    assert assistant.knowledge.entry(second).answer in turns[2]


def test_chat_follow_up_uses_the_previous_answer(assistant: Assistant) -> None:
    code, turns = _chat(assistant, ["CSO cần kỹ năng gì?", "còn CMO thì sao?", "thoát"])
    assert code == 0
    assert assistant.knowledge.entry("cso_skills").answer in turns[1]
    assert assistant.knowledge.entry("cmo_skills").answer in turns[2]


def test_chat_handoff_gives_the_phone_number(assistant: Assistant) -> None:
    code, turns = _chat(assistant, ["Tối nay MU đá với ai?", "thoát"])
    assert code == 0
    assert PHONE in turns[1]


def test_chat_exit_word_ends_the_conversation(assistant: Assistant) -> None:
    code, turns = _chat(assistant, ["thoát"])
    assert code == 0
    assert len(turns) == 2
    assert turns[1].strip()  # a goodbye


def test_chat_end_of_input_ends_the_conversation(assistant: Assistant) -> None:
    def read(prompt: str) -> str:
        raise EOFError

    assert cmd_chat(assistant, read, io.StringIO()) == 0


# -- eval -----------------------------------------------------------------------------------------


def test_eval_prints_metrics_and_failures(tmp_path: Path) -> None:
    cases = [
        {"q": "CSO là gì?", "expect": ["cso_role"], "kind": "canonical"},
        {"q": "Tối nay MU đá với ai?", "expect": ["handoff"], "kind": "off_topic"},
        # Labelled wrongly on purpose, so that the failures section has something to list.
        {"q": "Số điện thoại là gì?", "expect": ["summary"], "kind": "contact"},
    ]
    path = tmp_path / "cases.jsonl"
    path.write_text(
        "\n".join(json.dumps(c, ensure_ascii=False) for c in cases) + "\n", encoding="utf-8"
    )
    result = _bot(tmp_path, "eval", str(path))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for name in ("answered-correct", "confidently-wrong", "off-topic handoff", "recovered"):
        assert name in out
    assert "Failures (1)" in out
    failures = out[out.index("Failures") :]
    assert "Số điện thoại là gì?" in failures
    assert "CSO là gì?" not in failures
