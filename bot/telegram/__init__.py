"""The Telegram side: the Bot API session, the dispatcher and its routers, polling and webhook."""
