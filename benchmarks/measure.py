"""Measuring helpers shared by the benchmarks: percentiles, CPU time and memory of processes,
one-core pinning, and a description of the conditions of a run."""

from __future__ import annotations

import contextlib
import os
import platform
import resource
from collections.abc import Iterator, Sequence
from pathlib import Path


def percentile(sorted_values: Sequence[float], share: float) -> float:
    """Nearest rank: the ceil(n * share)-th smallest value."""
    rank = max(1, -(-len(sorted_values) * share // 1))
    return sorted_values[int(rank) - 1]


def proc_status(pid: int | str = "self") -> dict[str, int]:
    """kB figures of /proc/<pid>/status (VmHWM, VmRSS...)."""
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        name, _, value = line.partition(":")
        parts = value.split()
        if len(parts) == 2 and parts[1] == "kB":
            fields[name] = int(parts[0])
    return fields


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def processes_cpu(name: str, cmdline_has: str = "") -> dict[int, float]:
    """CPU seconds so far of every process called `name` (its comm) whose command line
    contains `cmdline_has`: a server's processes, readable from /proc whoever owns them."""
    found: dict[int, float] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (proc / "comm").read_text(encoding="utf-8").strip() != name:
                continue
            if cmdline_has and cmdline_has not in (proc / "cmdline").read_text("utf-8", "replace"):
                continue
            found[int(proc.name)] = proc_cpu(int(proc.name))
        except OSError:  # gone meanwhile
            continue
    return found


def cpu_between(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two `processes_cpu` readings by the processes in both: one
    that ended meanwhile takes its CPU time with it, so it is left out rather than counted
    negative."""
    return sum(after[pid] - before[pid] for pid in before.keys() & after.keys())


def self_cpu() -> float:
    """User + system CPU seconds of this process, every thread."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def one_core(enabled: bool = True) -> Iterator[str]:
    """Pin this thread, and the threads it starts meanwhile (the database writer), to one
    CPU: the bot is one asyncio loop, and its figures are per core. Yields a description for
    the report."""
    if not enabled or not hasattr(os, "sched_setaffinity"):
        yield "all cores"
        return
    allowed = os.sched_getaffinity(0)
    core = max(allowed)
    os.sched_setaffinity(0, {core})
    try:
        yield "pinned to one CPU"
    finally:
        os.sched_setaffinity(0, allowed)


def platform_line() -> str:
    """Cores, Python and system, the way the documentation states a run's conditions."""
    return (
        f"{os.cpu_count()} cores, {platform.python_implementation()} "
        f"{platform.python_version()}, {platform.system()} {platform.machine()}"
    )


def load_average() -> float:
    """The 1-minute load average: how many processes wanted a core, on average, lately."""
    return os.getloadavg()[0]


def conditions() -> str:
    """The run's conditions for its results file: platform_line and the load at the start
    (other work on the machine moves wall-clock figures, much less CPU times)."""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{platform_line()}; load average {load} at the start"
