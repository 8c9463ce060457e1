"""The answer engine: Vietnamese text in, an answer, choices or a handoff out.

It knows nothing of Telegram or of storage, so the CLI, the tests and the bot share it."""
