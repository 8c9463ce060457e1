"""bot.aiogram_unset: aiogram's types and methods are validated without its `remove_unset`
validator, and come out the same (tests/test_aiogram_import.py compares them with aiogram's
own, and checks the fallbacks, in fresh interpreters).

conftest.py has already run import_aiogram(), as `python -m bot run` does.
"""

from __future__ import annotations

import inspect
from unittest.mock import sentinel

import aiogram.methods
import aiogram.types
import pytest
from aiogram.methods import SendMessage
from aiogram.types import CallbackQuery, Message, TelegramObject
from pydantic import BaseModel, ValidationError

import bot.aiogram_unset as unset


def aiogram_models() -> list[type[BaseModel]]:
    found = []
    for module in (aiogram.types, aiogram.methods):
        for name in module.__all__:
            cls = getattr(module, name)
            if inspect.isclass(cls) and issubclass(cls, BaseModel):
                found.append(cls)
    return found


def test_no_aiogram_type_or_method_keeps_the_validator() -> None:
    models = aiogram_models()
    assert len(models) > 500
    for cls in models:
        assert unset.NAME not in cls.__pydantic_decorators__.model_validators, cls.__name__


def test_a_type_built_on_first_use_reads_what_telegram_sends() -> None:
    press = CallbackQuery.model_validate_json(
        '{"id": "1", "from": {"id": 5, "is_bot": false, "first_name": "Lan"},'
        ' "chat_instance": "7", "data": "t:cso_role"}'
    )
    assert CallbackQuery.__pydantic_complete__
    assert unset.NAME not in CallbackQuery.__pydantic_decorators__.model_validators
    assert press.from_user.first_name == "Lan"
    assert press.data == "t:cso_role"


def test_a_class_derived_later_does_not_inherit_it() -> None:
    class Later(TelegramObject):
        text: str

    assert unset.NAME not in Later.__pydantic_decorators__.model_validators
    assert Later(text="x").text == "x"


def test_the_sentinel_aiogram_no_longer_passes_is_refused_like_any_other_value() -> None:
    # What changes: aiogram would have dropped it (and used the bot's default).
    with pytest.raises(ValidationError):
        SendMessage(chat_id=1, text="x", parse_mode=sentinel.UNSET)
    message = {"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"}}
    with pytest.raises(ValidationError):
        Message.model_validate({**message, "text": sentinel.UNSET})


def test_dropping_again_finds_nothing_and_restoring_nothing_changes_nothing() -> None:
    removed = unset.drop()
    assert removed == []
    unset.restore(removed)
    assert unset.NAME not in Message.__pydantic_decorators__.model_validators
