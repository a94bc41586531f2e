"""The docs: every bash block of the tutorial runs, and every figure the docs show exists.

Markers in docs/tutorial.md (HTML comments, invisible when rendered):
``<!-- test: skip -->`` right before a block leaves it out (e.g. ``pip install``), and
``<!-- test: creates PATH ... -->`` right after a block lists the files it must write.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lwpdsim.cli import main

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
BLOCK = re.compile(
    r"(?P<before><!-- test: skip -->\s*)?```bash\n(?P<body>.*?)```\n"
    r"(?:<!-- test: creates (?P<creates>[^>]*?) -->)?",
    re.S,
)


def bash_blocks(path: Path) -> list[tuple[str, list[str], bool]]:
    """(script, files it creates, skipped) for every ```bash block of a markdown file."""
    out = []
    for m in BLOCK.finditer(path.read_text(encoding="utf-8")):
        creates = (m.group("creates") or "").split()
        out.append((m.group("body"), creates, bool(m.group("before"))))
    return out


def test_tutorial_has_blocks_and_markers() -> None:
    blocks = bash_blocks(DOCS / "tutorial.md")
    assert len(blocks) >= 8
    assert any(skip and "pip install" in body for body, _, skip in blocks)
    assert all("pip install" not in body for body, _, skip in blocks if not skip)
    commands = " ".join(body for body, _, _ in blocks)
    for command in ("run", "plot", "validate", "figures", "sweep", "codes"):
        assert f"lwpdsim {command}" in commands


#: A line the test runs in-process: ``lwpdsim`` and plain words (no shell syntax to interpret).
PLAIN_LWPDSIM = re.compile(r"lwpdsim(?: [^|&;<>$`()*?\\\"'{}]+)?")
HEREDOC = re.compile(r"<<-?\s*['\"]?(\w+)['\"]?")


#: Shell lines whose effect would not carry from one bash process to the next.
STATEFUL = re.compile(r"^\s*(?:cd|export|source|\.|set|alias|\w+=)(?:\s|$)|\$", re.M)


def steps(body: str) -> list[tuple[str, str]]:
    """A bash block cut into steps: ``("lwpdsim", line)`` for each plain ``lwpdsim ...`` line and
    ``("bash", script)`` for the lines between them (a here-document stays in one script). A block
    whose shell lines keep state (``cd``, variables) stays one bash script."""
    out: list[tuple[str, str]] = []
    shell: list[str] = []
    outside: list[str] = []  # the lines outside here-documents
    lines = iter(body.splitlines())
    for line in lines:
        outside.append(line)
        if PLAIN_LWPDSIM.fullmatch(line.strip()):
            if shell:
                out.append(("bash", "\n".join(shell) + "\n"))
                shell = []
            out.append(("lwpdsim", line.strip()))
            continue
        shell.append(line)
        here = HEREDOC.search(line)
        if here:
            for inner in lines:
                shell.append(inner)
                if inner.strip() == here.group(1):
                    break
    if shell:
        out.append(("bash", "\n".join(shell) + "\n"))
    if STATEFUL.search("\n".join(outside)):
        return [("bash", body)]
    return out


def test_steps_keep_every_line_in_order() -> None:
    body = "cat > a.toml <<'EOF'\nlwpdsim run x\nEOF\nlwpdsim validate a.toml\nhead -5 a | wc\n"
    assert steps(body) == [
        ("bash", "cat > a.toml <<'EOF'\nlwpdsim run x\nEOF\n"),
        ("lwpdsim", "lwpdsim validate a.toml"),
        ("bash", "head -5 a | wc\n"),
    ]
    quoted = "lwpdsim run a.toml --set 'x=1'\n"
    assert steps(quoted) == [("bash", quoted)]
    for stateful in ("cd results\nlwpdsim plot .\n", "X=1\nlwpdsim run $X\n"):
        assert steps(stateful) == [("bash", stateful)]


@pytest.mark.slow
def test_tutorial_commands_run(tmp_path: Path, monkeypatch, capfd) -> None:
    """Every block, in order, in one empty folder that sees the repository's scenarios/.

    Plain ``lwpdsim`` lines run in this process through :func:`lwpdsim.cli.main` (a process per
    command would spend most of the test importing), except the tutorial's last command, which runs
    through the installed console script as a reader would; everything else runs in bash."""
    (tmp_path / "scenarios").symlink_to(ROOT / "scenarios", target_is_directory=True)
    script_dir = Path(sys.executable).parent
    lwpdsim = shutil.which("lwpdsim", path=f"{script_dir}{os.pathsep}{os.environ['PATH']}")
    assert lwpdsim, "the lwpdsim command is not installed"
    monkeypatch.setenv("PATH", f"{Path(lwpdsim).parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(tmp_path)
    blocks = bash_blocks(DOCS / "tutorial.md")
    plan = [
        (i, kind, text)
        for i, (body, _, skip) in enumerate(blocks)
        if not skip
        for kind, text in steps(body)
    ]
    last = max(j for j, (_, kind, _) in enumerate(plan) if kind == "lwpdsim")
    plan[last] = (plan[last][0], "bash", plan[last][2] + "\n")
    for j, (i, kind, text) in enumerate(plan):
        if kind == "lwpdsim":
            try:
                code = main(shlex.split(text)[1:])
            except SystemExit as stop:  # argparse's --help, --version and usage errors
                code = stop.code
            out, err = capfd.readouterr()
        else:
            done = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", text],
                capture_output=True,
                text=True,
                timeout=300,
            )
            code, out, err = done.returncode, done.stdout, done.stderr
        assert code == 0, f"block {i} failed:\n{text}\n{out}\n{err}"
        assert "Traceback" not in err
        if j + 1 == len(plan) or plan[j + 1][0] != i:  # the block's last step
            for name in blocks[i][1]:
                assert (tmp_path / name).is_file(), f"block {i} did not write {name}"


@pytest.mark.parametrize("doc", ["tutorial.md", "lecture.md"])
def test_images_and_specs_named_in_the_docs_exist(doc: str) -> None:
    text = (DOCS / doc).read_text(encoding="utf-8")
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert images
    for image in images:
        assert (DOCS / image).resolve().is_file(), image
    from lwpdsim.figures import find_specs, load_spec

    names = {
        load_spec(p).name
        for p in find_specs([ROOT / "scenarios" / "paper", ROOT / "scenarios" / "lecture"])
    }
    for name in re.findall(r"lwpdsim figures[^\n`]*--only ([\w ]+)", text):
        for spec in name.split():
            assert spec in names, spec
