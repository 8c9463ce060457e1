"""One running bot per DATA_DIR: two bots on the same data would both answer the same users
and split a live handoff between them. The lock is the operating system's (flock on POSIX,
a locked byte on Windows) on ``<DATA_DIR>/bot.lock``: it ends with the process however the
process ends, so a crash never leaves a stale lock behind. The file holds the holder's PID,
for the message the next instance prints. Reading commands (stats, unanswered) take no lock.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from bot.storage.database import StorageError

LOCK_NAME = "bot.lock"


class DataDirBusy(Exception):
    """Another running bot holds the DATA_DIR's lock."""

    def __init__(self, data_dir: Path, holder: str) -> None:
        super().__init__(f"{data_dir} is in use by another bot (PID {holder or '?'})")
        self.data_dir = data_dir
        self.holder = holder


if sys.platform == "win32":
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True


@contextlib.contextmanager
def data_dir_lock(data_dir: Path) -> Iterator[None]:
    """Holds DATA_DIR's lock for the block. Raises DataDirBusy when another process holds it,
    StorageError when the lock cannot be taken (no rights, a full disk, no locks there)."""
    path = Path(data_dir) / LOCK_NAME
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StorageError(f"{path}: {exc}") from exc
    try:
        try:
            locked = _try_lock(fd)
        except OSError as exc:
            raise StorageError(f"{path}: {exc}") from exc
        if not locked:
            raise DataDirBusy(Path(data_dir), _holder(fd))
        with contextlib.suppress(OSError):  # the PID is a courtesy, the lock is what counts
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)  # releases the lock


def _holder(fd: int) -> str:
    with contextlib.suppress(OSError):
        os.lseek(fd, 0, os.SEEK_SET)
        return os.read(fd, 32).decode("ascii", "replace").strip()
    return ""
