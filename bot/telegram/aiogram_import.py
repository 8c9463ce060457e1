"""Import aiogram without building the schemas of the Telegram types and Bot API methods
the bot never uses. Switched by the AIOGRAM_DEFERRED_IMPORT setting (on by default).

Why: the last lines of ``aiogram/types/__init__.py`` call ``model_rebuild`` on every Telegram
type (about 400 pydantic models) to resolve their forward references. The types are declared
with pydantic's ``defer_build=True``, meant to be built on first use, but ``model_rebuild``
builds each one at once, and each validator embeds the validators of everything it reaches.
That loop costs seconds of CPU and tens of megabytes in every process that imports aiogram
(aiogram issues #1876 and #1891; figures in docs/performance.md, the change that belongs
upstream in docs/upstream.md).

How: ``import_aiogram()`` imports aiogram with ``BaseModel.model_rebuild`` (pydantic's public
class method) briefly replaced so that the loop's calls (a ``_types_namespace`` given for a not
yet built ``aiogram.types`` model with ``defer_build``) only keep that namespace; every other
call goes through. It puts ``BaseModel.model_rebuild`` back, and gives aiogram's three model
bases (``TelegramObject``, ``TelegramMethod``, ``Response``) a ``model_rebuild`` that passes the
kept namespace when none is given. Pydantic builds a deferred model on first use by calling
``cls.model_rebuild()``, so a type is built, with the namespace aiogram would have used, when
it is first validated. ``Message`` and ``Update`` are built right after the import, in that
order: every update needs them, and ``Update``'s build reuses a built ``Message``.

The Bot API methods (``aiogram.methods``) have no ``defer_build`` and were each built as their
class was created: during the import, ``BaseModel``'s config briefly carries
``defer_build=True``, which the classes created then inherit, so a method too is built when
first used (``SendMessage`` on the first answer), through the same ``model_rebuild``.

Guards (each falls back to aiogram's own behaviour):

* switched off, aiogram already imported, or ``model_rebuild`` without the parameters used
  here: a plain ``import aiogram``;
* the loop deferred nothing (aiogram changed it): nothing else is done;
* right after the import, a minimal ``Message`` and ``Update`` are validated and a
  ``SendMessage`` built through the deferred path; if that fails, the class attributes are
  put back and every deferred type and method is built as aiogram does.

Checked against the aiogram range pinned in pyproject.toml. ``tests/unit/test_aiogram_import.py``
checks, in a fresh interpreter, that the deferred path is taken, that every Telegram type and
method still builds and validates as aiogram's own, the switch and the fallbacks.
"""

from __future__ import annotations

import inspect
import logging
import sys
from typing import Any

from pydantic import BaseModel

logger = logging.getLogger(__name__)

REBUILD_PARAMETERS = frozenset(
    {"force", "raise_errors", "_parent_namespace_depth", "_types_namespace"}
)

TYPES_PACKAGE = "aiogram.types."  # the modules whose deferred rebuild is kept for first use

# The Telegram types and Bot API methods whose build was left to their first use.
deferred: list[type[BaseModel]] = []

# Validated right after the import: a failure means the deferred path does not work here.
PROBE_UPDATE: dict[str, Any] = {
    "update_id": 1,
    "message": {
        "message_id": 1,
        "date": 0,
        "chat": {"id": 1, "type": "private"},
        "from": {"id": 1, "is_bot": False, "first_name": "probe"},
        "text": "probe",
    },
}


def _compatible() -> bool:
    try:
        parameters = inspect.signature(BaseModel.model_rebuild).parameters
    except (TypeError, ValueError):
        return False
    return parameters.keys() >= REBUILD_PARAMETERS


def import_aiogram(enabled: bool = True) -> bool:
    """Import aiogram, leaving its types' schemas to be built on first use when `enabled`.

    Returns whether the deferred build is in effect (False: aiogram was imported the usual
    way, because it was switched off, already imported, or a guard fell back)."""
    if not enabled:
        import aiogram  # noqa: F401

        return False
    return _import_deferred()


def _import_deferred() -> bool:
    if "aiogram" in sys.modules or not _compatible():
        import aiogram

        return False

    original = BaseModel.__dict__["model_rebuild"]
    rebuild = original.__func__
    namespace: dict[str, Any] = {}
    kept: list[type[BaseModel]] = []

    def defer(
        cls: type[BaseModel],
        *,
        force: bool = False,
        raise_errors: bool = True,
        _parent_namespace_depth: int = 2,
        _types_namespace: Any = None,
    ) -> bool | None:
        if (
            _types_namespace is not None
            and not force
            and cls.__module__.startswith(TYPES_PACKAGE)
            and cls.model_config.get("defer_build") is True
            and not cls.__pydantic_complete__
        ):
            if not namespace:
                namespace.update(_types_namespace)
            kept.append(cls)
            return None
        result: bool | None = rebuild(
            cls,
            force=force,
            raise_errors=raise_errors,
            _parent_namespace_depth=_parent_namespace_depth + 1,
            _types_namespace=_types_namespace,
        )
        return result

    BaseModel.model_rebuild = classmethod(defer)  # type: ignore[method-assign, assignment]
    config = BaseModel.__dict__["model_config"]
    # The ~170 Bot API methods have no defer_build: each is built as its class is created.
    deferring = config.copy()
    deferring["defer_build"] = True
    BaseModel.model_config = deferring
    try:
        import aiogram  # noqa: F401
    finally:
        BaseModel.model_rebuild = original  # type: ignore[method-assign]
        BaseModel.model_config = config
    if not kept:  # aiogram no longer rebuilds its types at import: its methods are built now
        for cls in _unbuilt_methods():
            rebuild(cls)
        return False

    def build_now(reason: object) -> bool:
        """aiogram's own behaviour: every kept type built at once, with its namespace, then
        every method."""
        logger.warning("aiogram types cannot be built on first use (%s); building them now", reason)
        for base in bases:
            delattr(base, "model_rebuild")
        for cls in kept:
            rebuild(cls, _types_namespace=namespace)
        for cls in _unbuilt_methods():
            rebuild(cls, _types_namespace=namespace)
        return False

    bases: list[type[BaseModel]] = []
    try:
        from aiogram.methods import SendMessage
        from aiogram.methods.base import Response, TelegramMethod
        from aiogram.types import Message, TelegramObject, Update
    except ImportError as exc:  # aiogram moved them
        return build_now(exc)

    def with_namespace(
        cls: type[BaseModel],
        *,
        force: bool = False,
        raise_errors: bool = True,
        _parent_namespace_depth: int = 2,
        _types_namespace: Any = None,
    ) -> bool | None:
        result: bool | None = rebuild(
            cls,
            force=force,
            raise_errors=raise_errors,
            _parent_namespace_depth=_parent_namespace_depth + 1,
            _types_namespace=namespace if _types_namespace is None else _types_namespace,
        )
        return result

    for base in (TelegramObject, TelegramMethod, Response):
        if "model_rebuild" not in vars(base):
            base.model_rebuild = classmethod(with_namespace)  # type: ignore[method-assign, assignment]
            bases.append(base)
    try:
        Message.model_validate(PROBE_UPDATE["message"])  # first: see the module docstring
        Update.model_validate(PROBE_UPDATE)
        SendMessage(chat_id=1, text="probe")
    except Exception as exc:  # any failure, whatever pydantic or aiogram changed
        return build_now(exc)
    deferred.extend(kept)
    deferred.extend(_unbuilt_methods())
    return True


def _unbuilt_methods() -> list[type[BaseModel]]:
    """The Bot API methods (aiogram.methods) not built yet."""
    try:
        import aiogram.methods as methods
    except ImportError:
        return []
    found = (getattr(methods, name, None) for name in methods.__all__)
    return [
        cls
        for cls in found
        if isinstance(cls, type) and issubclass(cls, BaseModel) and not cls.__pydantic_complete__
    ]
