"""The docs: every bash block of the tutorial runs, and every figure the docs show exists.

Markers in docs/tutorial.md (HTML comments, invisible when rendered):
``<!-- test: skip -->`` right before a block leaves it out (e.g. ``pip install``), and
``<!-- test: creates PATH ... -->`` right after a block lists the files it must write.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_tutorial_commands_run(tmp_path: Path) -> None:
    """Every block, in order, in one empty folder that sees the repository's scenarios/."""
    (tmp_path / "scenarios").symlink_to(ROOT / "scenarios", target_is_directory=True)
    script_dir = Path(sys.executable).parent
    lwpdsim = shutil.which("lwpdsim", path=f"{script_dir}{os.pathsep}{os.environ['PATH']}")
    assert lwpdsim, "the lwpdsim command is not installed"
    env = {
        **os.environ,
        "PATH": f"{Path(lwpdsim).parent}{os.pathsep}{os.environ['PATH']}",
        "MPLBACKEND": "Agg",
    }
    for i, (body, creates, skip) in enumerate(bash_blocks(DOCS / "tutorial.md")):
        if skip:
            continue
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", body],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"block {i} failed:\n{body}\n{done.stdout}\n{done.stderr}"
        assert "Traceback" not in done.stderr
        for name in creates:
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
