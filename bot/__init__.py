"""Vietnamese customer-support FAQ bot for Telegram: CSO vs CMO."""
