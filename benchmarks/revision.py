"""Which code a benchmark measured (the commit, and whether bot/ or knowledge/ had changes),
and which interpreter ran it."""

from __future__ import annotations

import functools
import subprocess
import sys

from bot.settings import PROJECT_ROOT


def revision() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=PROJECT_ROOT, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "bot", "knowledge"],
            cwd=PROJECT_ROOT, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" + uncommitted changes in bot/ or knowledge/" if dirty else "")


# Run by the interpreter being described: a venv's python is a link to the real one, and only
# the running process shows whether libpython is a shared library it loaded.
_DESCRIBE = (
    "import os, platform, sys; "
    "maps = open('/proc/self/maps').read() if os.path.exists('/proc/self/maps') else None; "
    "link = 'libpython: unknown' if maps is None else "
    "'libpython shared' if 'libpython' in maps else 'libpython linked in'; "
    "print(f'{os.path.realpath(sys.executable)} (Python {platform.python_version()}, {link})')"
)


@functools.cache
def interpreter(python: str = sys.executable) -> str:
    """The CPython build behind `python`: its real path, version, and whether it loads
    libpython as a shared library (unknown without /proc). Builds differ in speed: the same
    code runs measurably slower on a build with a shared libpython and without profile-guided
    optimisation, so a report names the build it ran on."""
    try:
        return subprocess.run(
            [python, "-c", _DESCRIBE], capture_output=True, text=True, check=True, timeout=30
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return python
