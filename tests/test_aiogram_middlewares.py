"""bot.aiogram_middlewares: aiogram's middleware chains, built without functools.wraps, behave
as aiogram's own.

conftest.py has already run import_aiogram(), as `python -m bot run` does, so the plain chains
are what these tests (and the whole suite) see.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest
from aiogram import Bot, Dispatcher, Router
from aiogram.dispatcher.middlewares.manager import MiddlewareManager
from aiogram.types import Message, TelegramObject, Update

import bot.aiogram_middlewares as chains
from bot.aiogram_post_init import PROBE_UPDATE

TOKEN = "123456:TEST-middlewares"
Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


def text_update(text: str) -> Update:
    return Update.model_validate(
        {**PROBE_UPDATE, "message": {**PROBE_UPDATE["message"], "text": text}}
    )


def test_the_dispatcher_builds_the_plain_chains() -> None:
    assert MiddlewareManager.wrap_middlewares is chains.wrap_middlewares
    assert chains.install()  # a second call changes nothing


def test_the_plain_chain_does_what_aiogram_s_does() -> None:
    (aiogram_s,) = chains.replaced
    assert chains.probe(aiogram_s, MiddlewareManager) == chains.probe(
        chains.wrap_middlewares, MiddlewareManager
    )


async def test_a_message_passes_every_middleware_in_order_down_to_its_handler() -> None:
    seen: list[str] = []

    def recorder(
        name: str, **extra: Any
    ) -> Callable[[Handler, TelegramObject, dict[str, Any]], Awaitable[Any]]:
        async def middleware(handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
            seen.append(name)
            data.update(extra)
            result = await handler(event, data)
            seen.append(f"/{name}")
            return result

        return middleware

    async def gatekeeper(handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Message)
        if event.text == "stop":
            seen.append("stopped")
            return None
        return await handler(event, data)

    async def on_message(message: Message, tag: str, level: int) -> str:
        seen.append(f"handler {message.text} {tag} {level}")
        return "answered"

    router = Router()
    router.message.outer_middleware(recorder("router outer", level=2))
    router.message.middleware(gatekeeper)
    router.message.middleware(recorder("inner"))
    router.message.register(on_message)
    dp = Dispatcher(disable_fsm=True)
    dp.update.outer_middleware(recorder("update outer", tag="t", level=1))
    dp.include_router(router)
    telegram_bot = Bot(TOKEN)

    assert await dp.feed_update(telegram_bot, text_update("hello")) == "answered"
    assert seen == [
        "update outer",
        "router outer",
        "inner",
        "handler hello t 2",
        "/inner",
        "/router outer",
        "/update outer",
    ]
    seen.clear()
    await dp.feed_update(telegram_bot, text_update("stop"))
    assert seen == ["update outer", "router outer", "stopped", "/router outer", "/update outer"]
    await telegram_bot.session.close()


def reversed_chain(middlewares: Sequence[Any], handler: Callable[..., Any]) -> Any:
    """A chain in the wrong order: what the probe must tell apart."""
    return chains.wrap_middlewares(list(middlewares)[::-1], handler)


@pytest.mark.parametrize(
    "aiogram_s",
    [
        pytest.param(reversed_chain, id="behaves differently"),
        pytest.param(lambda middlewares, handler, extra=None: None, id="other parameters"),
    ],
)
def test_an_aiogram_that_changed_keeps_its_own_chains(
    monkeypatch: pytest.MonkeyPatch, aiogram_s: Callable[..., Any]
) -> None:
    monkeypatch.setattr(MiddlewareManager, "wrap_middlewares", staticmethod(aiogram_s))
    assert not chains.install()
    assert MiddlewareManager.wrap_middlewares is aiogram_s


def test_a_method_that_is_no_longer_static_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    def wrap_middlewares(self: Any, middlewares: Any, handler: Any) -> Any:
        return None

    monkeypatch.setattr(MiddlewareManager, "wrap_middlewares", wrap_middlewares)
    assert not chains.install()
    assert MiddlewareManager.__dict__["wrap_middlewares"] is wrap_middlewares
