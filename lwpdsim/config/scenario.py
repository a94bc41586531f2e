"""The resolved scenario: frozen, fully defaulted dataclasses, and their plain-data form.

:func:`lwpdsim.config.load_scenario` builds a :class:`Scenario`; :meth:`Scenario.to_dict` writes it
back as TOML/JSON-friendly data that loads into an equal scenario.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from ..compress import CompressSpec
    from ..data import DatasetOptions
    from .failures import FailureProcess

#: ``train.divergence`` by default: a loss a million times the initial one is a divergence.
DEFAULT_DIVERGENCE = 1e6
#: ``train.lr_seeds`` by default: a scenario's step sizes are chosen on three selection runs.
DEFAULT_LR_SEEDS = 3
#: Keys every ``[[schemes]]`` table may have besides its rule's own parameters.
SCHEME_COMMON_KEYS = (
    "name",
    "label",
    "lr",
    "compress",
    "max_staleness",
    "compress_down",
    "decode_error",
)
#: What one draw X of the latency model is the compute time of (``cluster.latency_per``):
#: ``gradient``, one full-batch gradient (a task computing a share f of it takes f·X); ``unit``,
#: one work unit, 1/n of a full gradient (a task of u units takes u·X).
LATENCY_PER = ("gradient", "unit")
#: ``cluster.latency_per`` of a saved configuration that lacks it (written before the key existed).
SAVED_LATENCY_PER = "unit"


def task_share(units: float, latency_per: str, n: int) -> float:
    """The multiple of X that a task of ``units`` work units computes for, on n workers: its share
    of a full gradient, ``units / n``, when X is a full gradient's time, else ``units``."""
    return units / n if latency_per == "gradient" else units


@dataclass(frozen=True)
class Network:
    """Links between the master and each worker: ``latency + bytes / bandwidth`` per message."""

    latency: float = 0.0
    bandwidth: float = math.inf  # bytes per simulated second
    itemsize: int = 4  # bytes per element (4 = float32)
    shared_master_link: bool = False  # messages to and from the master queue on one link
    loss: float = 0.0  # probability that a message is dropped
    retry_after: float = math.inf  # a dropped message is re-sent after this long (inf: never)


@dataclass(frozen=True)
class Failure:
    """Worker ``worker`` (or every worker of rack ``rack``, ``worker`` None) goes down at time
    ``at`` and, if ``recover`` is set, comes back then (see :mod:`lwpdsim.config.failures`)."""

    worker: int | None
    at: float
    recover: float | None = None
    rack: int | None = None


@dataclass(frozen=True)
class ClusterSpec:
    """The simulated cluster as the scenario describes it: workers, their speeds, links, failures."""

    workers: int
    latency: Mapping[str, Any]  # canonical latency spec (see lwpdsim.latency)
    network: Network
    slowdown: tuple[float, ...]  # per-worker multiplier of compute time (1 = nominal)
    stragglers: tuple[int, ...]  # persistent stragglers ...
    straggler_factor: float  # ... whose compute time is multiplied by this
    failures: tuple[Failure, ...]
    cost: str
    latency_per: str = "gradient"  # see LATENCY_PER
    # the coding-cost model (docs/schemes.md): the master's floating-point operations per
    # simulated second (inf: its work is free), and whether a task's encoding is charged
    master_flops: float = math.inf
    charge_encoding: bool = False
    # correlated failures (lwpdsim.config.failures): groups of workers, and an up/down process
    racks: tuple[tuple[int, ...], ...] = ()
    failure_process: FailureProcess | None = None

    def worker_slowdown(self) -> tuple[float, ...]:
        """Effective compute-time multiplier of each worker (slowdown times straggler factor)."""
        return tuple(
            s * (self.straggler_factor if w in self.stragglers else 1.0)
            for w, s in enumerate(self.slowdown)
        )


@dataclass(frozen=True)
class ModelSpec:
    """The model to train and the dataset it learns from."""

    kind: str
    dataset: str
    hidden: int
    test_fraction: float
    samples: int
    features: int
    classes: int
    noise: float
    label_noise: float = 0.0  # fraction of classification labels redrawn uniformly at random


@dataclass(frozen=True)
class SchemeSpec:
    """One update rule to run: its registry name, a unique label, its step size and parameters.

    ``lr`` is None for a rule whose step size is chosen from ``train.lr_grid`` when the run
    starts (:mod:`lwpdsim.tune`); a rule's own ``lr`` is fixed. ``compress`` is its uplink
    compression (docs/compression.md); None when the entry has no ``compress`` table.
    ``max_staleness`` is the bounded delay tau of an asynchronous rule (results more than tau
    versions old are discarded, docs/schemes.md); None when absent (unbounded).
    ``compress_down`` is the compression of the master's broadcast (docs/compression.md §8); None
    when the entry has no ``compress_down`` table (the parameters are sent whole).
    ``decode_error``: whether the master records each step's decoding error (the entry's key, or
    the rule's :attr:`~lwpdsim.schemes.base.Scheme.measures_decode_error`; docs/schemes.md)."""

    name: str
    label: str
    lr: float | None
    params: Mapping[str, Any]
    compress: CompressSpec | None = None
    max_staleness: int | None = None
    compress_down: CompressSpec | None = None
    decode_error: bool = False


@dataclass(frozen=True)
class Train:
    """When training stops and how often it is evaluated; ``lr`` is the schemes' default step.

    ``divergence``: a run whose evaluated loss exceeds this multiple of its initial loss (or is not
    finite) stops as ``diverged``; ``inf`` keeps only the second test.

    ``lr_grid``: when not empty, each rule without its own ``lr`` gets the step size of this grid
    that ``lr_select`` prefers on ``lr_seeds`` selection runs (:mod:`lwpdsim.tune`); ``lr`` is then
    None (a shared default would contradict the grid)."""

    lr: float | None
    max_updates: int
    max_time: float
    target_loss: float | None
    eval_every: int
    divergence: float = DEFAULT_DIVERGENCE
    lr_grid: tuple[float, ...] = ()
    lr_seeds: int = DEFAULT_LR_SEEDS
    lr_select: str = "final_loss"


@dataclass(frozen=True)
class Scenario:
    """A fully validated, fully defaulted scenario."""

    name: str
    seed: int
    description: str
    cluster: ClusterSpec
    model: ModelSpec
    schemes: tuple[SchemeSpec, ...]
    train: Train
    source: str | None = field(default=None, compare=False)
    base_dir: str | None = field(default=None, compare=False)
    #: The modules whose rules the scenario may name (``plugins``; see :mod:`lwpdsim.plugins`).
    plugins: tuple[str, ...] = ()

    def dataset_options(self) -> DatasetOptions:
        """The keywords of :func:`~lwpdsim.data.load_dataset` and
        :func:`~lwpdsim.data.dataset_shape` for this scenario's dataset (a relative file name is
        taken from the scenario's folder)."""
        m = self.model
        return {
            "test_fraction": m.test_fraction,
            "samples": m.samples,
            "features": m.features,
            "classes": m.classes,
            "noise": m.noise,
            "base_dir": Path(self.base_dir) if self.base_dir else None,
        }

    def to_dict(self) -> dict[str, Any]:
        """The resolved scenario as plain TOML/JSON-friendly data (infinity written as "inf");
        keys at a default that changes nothing written (``target_loss`` None, ``divergence``
        :data:`DEFAULT_DIVERGENCE`) are left out. Each section's data is that of
        :func:`section_data`."""
        from ..io.jsonable import json_ready

        raw = {
            "name": self.name,
            "seed": self.seed,
            "description": self.description,
            # absent stays absent: saved configurations and sweep run ids are unchanged
            **({"plugins": list(self.plugins)} if self.plugins else {}),
            "cluster": section_data(self.cluster),
            "model": section_data(self.model),
            "schemes": [section_data(s) for s in self.schemes],
            "train": section_data(self.train),
        }
        return cast(dict[str, Any], json_ready(raw))  # a dict in, a dict out


def section_data(section: ClusterSpec | ModelSpec | SchemeSpec | Train) -> dict[str, Any]:
    """One section of :meth:`Scenario.to_dict`: a function of that section alone (so a sweep's
    planner can write each distinct section once)."""
    # lwpdsim.io's one JSON form ("inf" as scenario files write it), imported here so that
    # importing config loads nothing but lwpdsim.errors
    from ..io.jsonable import json_ready

    if isinstance(section, SchemeSpec):
        s = section
        raw = {"name": s.name, "label": s.label, **({} if s.lr is None else {"lr": s.lr})}
        # absent stays absent: saved configurations and sweep run ids are unchanged
        raw |= dict(s.params) | ({} if s.compress is None else {"compress": s.compress.as_dict()})
        if s.max_staleness is not None:
            raw["max_staleness"] = s.max_staleness
        if s.compress_down is not None:
            raw["compress_down"] = s.compress_down.as_dict()
        # off is left out (as before the key existed), unless the rule measures by default
        if s.decode_error or _measures_by_default(s.name):
            raw["decode_error"] = s.decode_error
        return cast(dict[str, Any], json_ready(raw))
    raw = asdict(section)
    if isinstance(section, ClusterSpec):
        _cluster_data(section, raw)
    elif isinstance(section, Train):
        _train_data(section, raw)
    return cast(dict[str, Any], json_ready(raw))  # a dict in, a dict out


def _measures_by_default(rule: str) -> bool:
    """The rule's :attr:`~lwpdsim.schemes.base.Scheme.measures_decode_error` (False for a name
    the registry does not know)."""
    from ..schemes import REGISTRY  # loaded already: the scheme's entry was parsed with it

    cls = REGISTRY.get(rule)
    return cls is not None and cls.measures_decode_error


def _cluster_data(spec: ClusterSpec, cluster: dict[str, Any]) -> None:
    cluster["latency"] = dict(spec.latency)
    cluster["stragglers"] = {"workers": list(spec.stragglers), "factor": spec.straggler_factor}
    del cluster["straggler_factor"]
    cluster["slowdown"] = list(cluster["slowdown"])
    from .failures import failures_data

    failures_data(spec, cluster)
    # the coding-cost model at its defaults (free) is left out, as the divergence rule below
    if cluster["master_flops"] == math.inf:
        del cluster["master_flops"]
    if not cluster["charge_encoding"]:
        del cluster["charge_encoding"]


def _train_data(spec: Train, train: dict[str, Any]) -> None:
    if train["target_loss"] is None:
        del train["target_loss"]
    # the default divergence rule is left out: resolved scenarios (and the sweep run ids
    # hashed from them) stay those of versions before the rule existed
    if train["divergence"] == DEFAULT_DIVERGENCE:
        del train["divergence"]
    # likewise the step-size grid's keys when there is no grid; with one, no shared lr
    if not spec.lr_grid:
        for key in ("lr_grid", "lr_seeds", "lr_select"):
            del train[key]
    if spec.lr is None:
        del train["lr"]
