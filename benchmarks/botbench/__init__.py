"""The whole-bot benchmark's parts: workloads (the updates sent), session (the Bot API's side
without the socket), in_process and process (driving the bot and measuring), report (the
table). Entry point: `python -m benchmarks.bench_bot`; method: benchmarks/README.md.

Every module here imports aiogram, so the entry point imports this package only after
`bot.telegram.aiogram_import.import_aiogram`, as `python -m bot run` does; importing it before
would measure aiogram built the other way, whatever the setting says.
"""

import sys

if "aiogram" not in sys.modules:
    raise ImportError(
        "import benchmarks.botbench after bot.telegram.aiogram_import.import_aiogram() "
        "(python -m benchmarks.bench_bot does)"
    )
