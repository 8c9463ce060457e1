"""The floors file CI installs (.ci/constraints-floor.txt) pins every dependency of
pyproject.toml at the lowest version pyproject allows, so the floor run tests the floors."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOT_IN_FLOOR_RUN = {"ruff", "mypy"}  # tools of the lint step, not of the tests
REQUIREMENT = re.compile(r"\s*([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*>=\s*([0-9][^,;\s]*)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def floors_in_pyproject() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    floors: dict[str, str] = {}
    for requirement in requirements:
        match = REQUIREMENT.match(requirement)
        assert match, f"no floor (>=) for {requirement!r}"
        floors[canonical(match[1])] = match[2]
    return floors


def pinned_in_constraints() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / ".ci" / "constraints-floor.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[canonical(name)] = version.strip()
    return pins


def same_version(a: str, b: str) -> bool:
    def parts(version: str) -> list[int]:
        numbers = [int(part) for part in version.split(".")]
        while numbers and numbers[-1] == 0:
            numbers.pop()
        return numbers

    return parts(a) == parts(b)


def test_every_dependency_is_pinned_at_its_floor() -> None:
    floors = floors_in_pyproject()
    pins = pinned_in_constraints()
    for name, floor in floors.items():
        if name in NOT_IN_FLOOR_RUN:
            continue
        assert name in pins, f"{name} is missing from .ci/constraints-floor.txt"
        assert same_version(pins[name], floor), f"{name}: floor {floor}, pinned {pins[name]}"
    assert set(pins) <= set(floors), "a pin for a package pyproject does not ask for"


def test_ci_runs_the_tests_at_the_floors() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "-c .ci/constraints-floor.txt" in ci
    assert ".venv-floor/bin/pytest" in ci
