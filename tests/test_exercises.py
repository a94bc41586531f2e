"""docs/exercises.md: every solution runs and prints the output the page shows, and every number an
answer quotes in bold is one the solution printed.

Tolerances: the solutions print at most 4 decimals of seeded runs. On another CPU or numpy build a
sum may round differently in its last bits, which moves a printed number by at most one unit of its
last digit (a threshold crossing could move it by more, but at these sizes none is that close), so
printed numbers must agree within a relative 0.2% (and integers exactly, unless as large as 500).
A bold number is the printed one rounded: it must be within half a unit of its own last digit of a
printed number.
"""

from __future__ import annotations

import contextlib
import io
import math
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "exercises.md"
TEXT = PAGE.read_text(encoding="utf-8")

SOLUTION = re.compile(r"```python exercise-(\d+)\n(.*?)```", re.S)
OUTPUT = re.compile(r"```text output-(\d+)\n(.*?)```", re.S)
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")
BOLD = re.compile(r"\*\*([^*]+)\*\*")
HEADING = re.compile(r"^## (\d+)\. ", re.M)

SOLUTIONS = {int(n): code for n, code in SOLUTION.findall(TEXT)}
OUTPUTS = {int(n): out.rstrip("\n") for n, out in OUTPUT.findall(TEXT)}


def sections() -> dict[int, str]:
    """Each exercise's text, from its heading to the next one."""
    marks = list(HEADING.finditer(TEXT))
    ends = [m.start() for m in marks[1:]] + [len(TEXT)]
    return {int(m.group(1)): TEXT[m.start() : end] for m, end in zip(marks, ends, strict=True)}


def answer(section: str) -> str:
    return section.split("**Answer.**", 1)[1]


def test_every_exercise_has_a_solution_an_output_and_an_answer() -> None:
    found = sections()
    assert len(found) >= 8
    assert sorted(found) == list(range(1, len(found) + 1))
    assert sorted(SOLUTIONS) == sorted(OUTPUTS) == sorted(found)
    for n, section in found.items():
        assert f"exercise-{n}\n" in section and f"output-{n}\n" in section
        assert "**Answer.**" in section, f"exercise {n} has no answer"
        assert BOLD.findall(answer(section)), f"exercise {n}: its answer quotes no checked number"


def numbers(text: str) -> list[str]:
    return NUMBER.findall(text)


def same_output(actual: str, expected: str) -> str | None:
    """None when ``actual`` matches ``expected`` (same words, numbers within tolerance), else why
    not."""
    if NUMBER.sub("#", actual) != NUMBER.sub("#", expected):
        return f"the text differs:\n{actual}\n--- expected ---\n{expected}"
    for got, want in zip(numbers(actual), numbers(expected), strict=True):
        a, b = float(got), float(want)
        exact = "." not in want and "e" not in want and abs(b) < 500
        if (a != b) if exact else not math.isclose(a, b, rel_tol=2e-3, abs_tol=1e-9):
            return f"printed {got} where the page shows {want}"
    return None


def test_same_output_tolerances() -> None:
    assert same_output("mean 3.7179 s, 13 updates", "mean 3.7183 s, 13 updates") is None
    assert same_output("mean 3.7179 s, 14 updates", "mean 3.7179 s, 13 updates")
    assert same_output("mean 3.80 s", "mean 3.72 s")
    assert same_output("mean 3.72 min", "mean 3.72 s")


def quoted_ok(quoted: str, printed: list[str]) -> bool:
    """``quoted`` (e.g. "3.72") is one of ``printed`` (e.g. "3.7179") rounded to its digits."""
    decimals = len(quoted.split(".")[1]) if "." in quoted else 0
    half = 0.5 * 10.0**-decimals + 1e-12
    return any(abs(float(p) - float(quoted)) <= half for p in printed)


def test_quoted_ok_rounds() -> None:
    assert quoted_ok("3.72", ["3.7179"]) and quoted_ok("20800", ["20800"])
    assert not quoted_ok("3.71", ["3.7179"]) and not quoted_ok("5", ["3.7179", "13"])


def test_bold_numbers_are_printed_numbers() -> None:
    for n, section in sections().items():
        printed = numbers(OUTPUTS[n])
        for bold in BOLD.findall(answer(section)):
            quoted = bold.replace(",", "")
            assert NUMBER.fullmatch(quoted), f"exercise {n}: bold **{bold}** is not a number"
            assert quoted_ok(quoted, printed), (
                f"exercise {n}: the answer quotes {bold}, which the output does not print"
            )


@pytest.fixture
def in_empty_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "scenarios").symlink_to(ROOT / "scenarios", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    return tmp_path


#: Solutions that take over ~2 s (exercise 2: 48 runs to the target).
SLOW = {2}


@pytest.mark.parametrize(
    "n", [pytest.param(n, marks=[pytest.mark.slow] if n in SLOW else []) for n in sorted(SOLUTIONS)]
)
def test_solution_prints_the_output_shown(n: int, in_empty_folder: Path) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(SOLUTIONS[n], f"{PAGE.name}, exercise {n}", "exec"), {"__name__": "exercise"})
    problem = same_output(out.getvalue().rstrip("\n"), OUTPUTS[n])
    assert problem is None, f"exercise {n}: {problem}"
    assert {p.name for p in in_empty_folder.iterdir()} == {"scenarios"}, "it wrote files"
