"""What ``lwpdsim run`` would refuse once it knows the dataset, refused when a scenario is loaded.

:func:`check_runnable` takes the dataset's shape (:func:`lwpdsim.data.dataset_shape`: known for the
bundled datasets, arithmetic for the synthetic ones, read within bounds for a file) and refuses a
model that cannot learn it, label noise on a regression dataset, more workers than training rows,
and sizes whose run would need more memory or time than :mod:`.sizes` allows (naming the field,
its value and what it would need). :func:`~lwpdsim.config.load_scenario` and every grid point of a
sweep call it, so ``validate``, ``run`` and ``sweep`` refuse the same scenarios.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ScenarioError
from .sizes import WORKER_BYTES, Need, check_needs

if TYPE_CHECKING:
    from ..data import DatasetShape
    from .memo import ParseMemo
    from .scenario import Scenario

_SYNTHETIC = ("synthetic_regression", "synthetic_classification")


def _f(value: int) -> float:
    """A count as a float for estimates (capped, so that products of counts stay finite)."""
    return float(min(value, 10**30))


def check_runnable(
    scenario: Scenario, *, missing_file_ok: bool = False, memo: ParseMemo | None = None
) -> None:
    """Raise a :class:`ScenarioError` for anything a run of ``scenario`` would refuse once its
    dataset is known, or whose run would need more memory or time than allowed.

    With ``missing_file_ok`` a dataset file that does not exist yet is no error and the checks
    that need it are skipped (a sweep's plan may be made before its dataset file is written).
    With a ``memo`` (scenarios sharing their parsed sections, see
    :class:`~lwpdsim.config.memo.ParseMemo`) each distinct combination of what the checks read
    (the model, the scenario's folder, the number of workers and the schemes) is checked once."""
    if memo is None:
        _check_runnable(scenario, missing_file_ok)
        return
    model, schemes = scenario.model, scenario.schemes
    key = (
        "runnable",
        id(model),
        scenario.base_dir,
        scenario.cluster.workers,
        missing_file_ok,
        *map(id, schemes),
    )
    memo.by_key(key, (model, schemes), lambda: _check_runnable(scenario, missing_file_ok))


def _check_runnable(scenario: Scenario, missing_file_ok: bool) -> None:
    from ..data import check_parts, dataset_file, dataset_shape
    from ..models import check_fits

    m = scenario.model
    base_dir = Path(scenario.base_dir) if scenario.base_dir else None
    file = dataset_file(m.dataset, base_dir)
    if missing_file_ok and file is not None and not file.exists():
        return
    shape = dataset_shape(m.dataset, **scenario.dataset_options())
    check_fits(m.kind, shape.task, m.dataset)
    if m.label_noise > 0 and shape.task == "regression":
        raise ScenarioError(
            "model.label_noise", m.label_noise, "0 for a regression dataset (labels are numbers)"
        )
    check_parts(shape.n_train(m.test_fraction), scenario.cluster.workers)
    check_needs(run_needs(scenario, shape))


def run_needs(scenario: Scenario, shape: DatasetShape) -> list[Need]:
    """The memory and work a run of ``scenario`` on a dataset of ``shape`` needs (estimates)."""
    from ..codes.gradient_coding import construction_cost, decoding_flops
    from ..codes.lwpd import code_cost
    from ..models import param_count

    m, n = scenario.model, scenario.cluster.workers
    rows, cols, classes = shape.n_rows, shape.n_features, shape.n_classes
    hidden = m.hidden if m.kind == "mlp" else 0
    params = param_count(m.kind, cols, classes, m.hidden)
    data_field, param_field = _fields(scenario, shape)
    vectors = max(64, 4 * n) + 2 * n + 16
    vector_field = ("cluster.workers", n) if 6 * n >= params else param_field
    output_field = data_field if rows >= (classes or 1) + hidden else param_field
    work = 1.0
    needs = [
        Need(
            data_field[0],
            data_field[1],
            f"the dataset ({rows} rows x {cols + 1} columns of float64, with its shuffled, "
            "split and standardised copies)",
            nbytes=40.0 * _f(rows) * _f(cols + 1),
        ),
        Need(
            output_field[0],
            output_field[1],
            f"the model's outputs on {rows} rows",
            nbytes=32.0 * _f(rows) * _f((classes or 1) + hidden),
        ),
        Need(
            vector_field[0],
            vector_field[1],
            f"{vectors} vectors of {params} parameters (cached gradients and messages)",
            nbytes=8.0 * vectors * _f(params),
        ),
        Need("cluster.workers", n, f"{n} simulated workers", nbytes=float(WORKER_BYTES) * n),
    ]
    for i, spec in enumerate(scenario.schemes):
        prefix, p = f"schemes[{i}]", spec.params
        if spec.name == "gc":
            s = int(p["s"])
            work = max(work, s + 1.0)
            nbytes, flops = construction_cost(n, s, str(p["construction"]))
            field = (f"{prefix}.s", s) if s * s > n else ("cluster.workers", n)
            needs.append(
                Need(
                    *field,
                    f"the code matrix of {spec.label}",
                    nbytes,
                    flops,
                    step=f"building the code of {spec.label}",
                )
            )
            needs.append(
                Need(
                    "cluster.workers",
                    n,
                    f"decoding one update of {spec.label}",
                    0.0,
                    decoding_flops(n),
                )
            )
        elif spec.name == "lwpd":
            k = int(p["k"])
            nbytes, flops = code_cost(n, k, int(p["t"]), params)
            needs.append(
                Need(f"{prefix}.k", k, f"the code and decoding of {spec.label}", nbytes, flops)
            )
    needs.append(
        Need(
            *(data_field if rows >= params else param_field),
            f"the gradients of one update ({rows} rows x {params} parameters)",
            flops=6.0 * _f(rows) * _f(params) * work,
        )
    )
    return needs


def _fields(scenario: Scenario, shape: DatasetShape) -> tuple[tuple[str, Any], tuple[str, Any]]:
    """The fields that set the data's size and the model's size, for the messages."""
    m = scenario.model
    if m.dataset in _SYNTHETIC:
        rows_field: tuple[str, Any] = ("model.samples", m.samples)
        cols_field: tuple[str, Any] = ("model.features", m.features)
        data = rows_field if m.samples >= m.features else cols_field
    else:
        data = cols_field = ("model.dataset", m.dataset)
    param = cols_field
    if m.kind == "mlp" and m.hidden >= shape.n_features:
        param = ("model.hidden", m.hidden)
    elif (
        m.kind in ("softmax", "mlp")
        and m.dataset == "synthetic_classification"
        and m.classes > shape.n_features
    ):
        param = ("model.classes", m.classes)
    return data, param
