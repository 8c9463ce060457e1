"""Vietnamese customer-support FAQ bot for Telegram."""
