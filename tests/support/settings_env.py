"""The environment for a test that must see only the settings it sets itself."""

from __future__ import annotations

import os

from bot.settings import Settings

# Derived from the settings class, so a new setting can never leak in from the outside.
SETTINGS_ENV: frozenset[str] = frozenset(name.upper() for name in Settings.model_fields)


def clean_env(**extra: str) -> dict[str, str]:
    """The current environment without any bot setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k.upper() not in SETTINGS_ENV}
    env.update(extra)
    return env
