"""The notebooks in docs/notebooks/ run from top to bottom, and are stored without outputs.

Each notebook runs in a fresh kernel (nbclient) of this interpreter: the kernel spec ipykernel
writes for ``sys.executable`` into a temporary folder, the only folder searched, so that a
"python3" kernel spec a user installed for another Python cannot be picked up (ipykernel is in the
``test`` extra: nothing to install by hand). The working directory is a temporary folder, so that whatever a notebook writes lands there and not in the
repository. The notebooks find the scenarios through ``LWPDSIM_SCENARIOS``; ``LWPDSIM_KNOBS=static``
runs their knobs as small multiples, since nbclient is no frontend that could show sliders.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "docs" / "notebooks").glob("*.ipynb"))
NAMES = [p.stem for p in NOTEBOOKS]


def test_the_notebooks_exist() -> None:
    assert {"tutorial", "lecture", "lwpd"} <= set(NAMES)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], (
                f"{path.name}: cell {i} has outputs; clear all outputs and save"
            )
            assert cell.execution_count is None, f"{path.name}: cell {i} has an execution count"
        assert "widgets" not in cell.metadata, f"{path.name}: cell {i} stores widget metadata"
    assert "widgets" not in nb.metadata, f"{path.name} stores widget state"


def kernel_env(**extra: str) -> dict[str, str]:
    """The kernel's environment: this one, the repository first on the path (so a kernel started
    from a worktree imports its lwpdsim), the inline backend (no MPLBACKEND from elsewhere)."""
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["LWPDSIM_SCENARIOS"] = str(ROOT / "scenarios")
    env["LWPDSIM_KNOBS"] = "static"
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def kernels(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A kernel spec manager that knows one kernel, "python3": ipykernel on this interpreter."""
    from ipykernel.kernelspec import write_kernel_spec
    from jupyter_client.kernelspec import KernelSpecManager

    root = tmp_path_factory.mktemp("kernels")
    write_kernel_spec(str(root / "python3"))
    return KernelSpecManager(kernel_dirs=[str(root)], ensure_native_kernel=False)


def run(nb: Any, cwd: Path, kernels: Any, **env: str) -> Any:
    """Execute ``nb`` in place in a fresh kernel whose working directory is ``cwd``."""
    from jupyter_client.manager import AsyncKernelManager

    km = AsyncKernelManager(kernel_name="python3", kernel_spec_manager=kernels)
    client = nbclient.NotebookClient(
        nb, km=km, timeout=120, resources={"metadata": {"path": str(cwd)}}
    )
    client.execute(env=kernel_env(**env))
    return nb


def execute(path: Path, cwd: Path, kernels: Any, **env: str) -> Any:
    return run(nbformat.read(path, as_version=4), cwd, kernels, **env)


def outputs(nb: Any) -> list[tuple[int, dict[str, Any]]]:
    return [
        (i, out)
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        for out in cell.outputs
    ]


def images(nb: Any) -> list[int]:
    """Indices of the cells that displayed a PNG image."""
    return sorted({i for i, out in outputs(nb) if "image/png" in out.get("data", {})})


def text_of(nb: Any) -> str:
    parts = []
    for _, out in outputs(nb):
        parts.append(out.get("text", ""))
        parts.append(out.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def test_the_kernel_is_this_interpreter(kernels: Any) -> None:
    assert kernels.find_kernel_specs().keys() == {"python3"}
    spec = kernels.get_kernel_spec("python3")
    assert spec.language == "python"
    assert spec.argv[:3] == [sys.executable, "-m", "ipykernel_launcher"]


@pytest.mark.slow
def test_tutorial_notebook_runs(tmp_path: Path, kernels: Any) -> None:
    nb = execute(NOTEBOOKS[NAMES.index("tutorial")], tmp_path, kernels)
    text = text_of(nb)
    # the measured run is the tutorial's: kbatchasync first, at 6.45 simulated seconds
    assert "first to the target: kbatchasync(K=4) at 6.45 simulated s" in text
    assert len(images(nb)) >= 2  # the loss and the timeline figures
    assert (tmp_path / "results" / "notebook-tutorial" / "summary.csv").is_file()


@pytest.mark.slow
def test_lecture_notebook_runs(tmp_path: Path, kernels: Any) -> None:
    nb = execute(NOTEBOOKS[NAMES.index("lecture")], tmp_path, kernels)
    knob_cell = max(i for i, cell in enumerate(nb.cells) if "knobs(" in cell.source)
    assert knob_cell in images(nb), "the static knobs figure was not drawn"
    assert len(images(nb)) >= 2
    assert list(tmp_path.iterdir()) == []  # it writes no file


@pytest.mark.slow
def test_lwpd_notebook_runs(tmp_path: Path, kernels: Any) -> None:
    nb = execute(NOTEBOOKS[NAMES.index("lwpd")], tmp_path, kernels)
    text = text_of(nb)
    assert "partials sum to g: True" in text
    assert "any 5 rows have rank 4" in text
    assert "the runs start at loss 2.3018; at section 2's θ0 it is 2.3018" in text
    knob_cell = max(i for i, cell in enumerate(nb.cells) if "knobs(" in cell.source)
    assert knob_cell in images(nb)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_knobs_show_sliders_in_a_kernel(tmp_path: Path, kernels: Any) -> None:
    """With LWPDSIM_KNOBS=widgets, a kernel displays an interact widget and draws the default
    setting once (what a live frontend would show before any slider moves)."""
    pytest.importorskip("ipywidgets")
    source = (
        "from lwpdsim.knobs import knobs\n"
        "calls = []\n"
        "def draw(ax, n=8, K=4):\n"
        "    calls.append((n, K))\n"
        "    ax.plot([0, 1], [n, K])\n"
        "knobs(draw, {'n': [4, 8], 'K': [2, 4]}, {'n': 8, 'K': 2})\n"
        "print(calls)\n"
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    run(nb, tmp_path, kernels, LWPDSIM_KNOBS="widgets")
    data = [out.get("data", {}) for _, out in outputs(nb)]
    assert any("application/vnd.jupyter.widget-view+json" in d for d in data)
    assert "[(8, 2)]" in text_of(nb)
