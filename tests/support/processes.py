"""The bot as a real process (`python -m bot run|webhook`), for end-to-end tests against
FakeTelegram on 127.0.0.1."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.support.fake_telegram import Call, FakeTelegram
from tests.support.settings_env import clean_env

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "123456:TEST"
STARTUP = 40.0  # importing aiogram takes seconds on a slow machine


class BotProcess:
    """`python -m bot <mode>` in `workdir`, output to files (never a full pipe)."""

    def __init__(self, mode: str, workdir: Path, env: dict[str, str]) -> None:
        self.out = workdir / f"{mode}.out"
        self.err = workdir / f"{mode}.err"
        env = {"DATA_DIR": str(workdir / "data"), **env}  # never the repository's data/
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot", mode], cwd=workdir, env=env, stdout=out, stderr=err
            )

    def output(self) -> str:
        return self.out.read_text("utf-8", "replace") + self.err.read_text("utf-8", "replace")

    def check_alive(self) -> None:
        code = self.proc.poll()
        if code is not None:
            raise AssertionError(f"the bot exited with {code}:\n{self.output()}")

    async def stop(self, within: float = 15.0) -> int:
        """SIGTERM, then the exit code (killed and failed if it does not stop in time)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while self.proc.poll() is None:
            if loop.time() > deadline:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"the bot ignored SIGTERM:\n{self.output()}")
            await asyncio.sleep(0.05)
        return self.proc.returncode

    async def wait_exit(self, within: float = 30.0) -> int:
        """The exit code of a process that is expected to end by itself (killed and failed if
        it is still running after `within` seconds)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while self.proc.poll() is None:
            if loop.time() > deadline:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"the bot was still running after {within}s:\n{self.output()}")
            await asyncio.sleep(0.05)
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def bot_env(**settings: str) -> dict[str, str]:
    """The environment without any of the bot's settings from the developer's shell."""
    return clean_env(PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", LOG_LEVEL="INFO", **settings)


async def wait_call(
    fake: FakeTelegram,
    bot: BotProcess,
    method: str,
    predicate: Callable[[Call], bool] | None = None,
    *,
    after: int = 0,
    within: float = 5.0,
) -> Call:
    """fake.wait_for, failing at once (with the bot's output) if the bot process died."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        bot.check_alive()
        try:
            return await fake.wait_for(method, predicate, timeout=0.25, after=after)
        except AssertionError:
            if loop.time() > deadline:
                raise


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --------------------------------------------------------------------------- webhook instances

WEBHOOK_SECRET = "s3cret-Webhook_token"
WEBHOOK_PATH = "/hook"


class WebhookInstance:
    """`python -m bot webhook` on a port of its own, in a directory of its own (its own
    DATA_DIR), behind the stand-in's delivery."""

    def __init__(self, workdir: Path, api_url: str, **settings: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.url = f"{self.base}{WEBHOOK_PATH}"
        self.data_dir = workdir / "data"
        workdir.mkdir(parents=True, exist_ok=True)
        env = bot_env(
            BOT_TOKEN=TOKEN,
            TELEGRAM_API_URL=api_url,
            WEBHOOK_URL="https://example.invalid/hook",
            WEBHOOK_SECRET=WEBHOOK_SECRET,
            WEBHOOK_HOST="127.0.0.1",
            WEBHOOK_PORT=str(self.port),
            WEBHOOK_PATH=WEBHOOK_PATH,
            **settings,
        )
        self.process = BotProcess("webhook", workdir, env)

    async def health(self) -> tuple[int, str] | None:
        """(status, text) of GET /health, None while nothing listens."""
        from aiohttp import ClientError, ClientSession

        try:
            async with ClientSession() as http, http.get(f"{self.base}/health") as response:
                return response.status, await response.text()
        except ClientError:
            return None

    async def wait_healthy(self, within: float = STARTUP) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while (await self.health()) is None:
            self.process.check_alive()
            if loop.time() > deadline:
                raise AssertionError(f"no /health within {within}s:\n{self.process.output()}")
            await asyncio.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, nothing is released."""
        self.process.kill()


async def start_instances(
    fake: FakeTelegram, workdir: Path, count: int, **settings: str
) -> list[WebhookInstance]:
    """`count` webhook instances started at once (each takes seconds to import aiogram), once
    all answer /health and have set the webhook."""
    instances = [
        WebhookInstance(workdir / f"instance{n}", fake.url, **settings) for n in range(count)
    ]
    try:
        for instance in instances:
            await instance.wait_healthy()
        for instance in instances:
            await wait_call(fake, instance.process, "setWebhook", within=STARTUP)
    except BaseException:
        for instance in instances:
            instance.kill()
        raise
    return instances
