"""The compressor interface: a configured compressor turns a vector into a :class:`Message`.

A compressor ``C`` is a policy on one message of length ``d``: ``compress(x, rng, state)`` returns
the vector the master adds (:attr:`Message.decoded`, length ``d``) and the message's exact size in
bits (:attr:`Message.bits`). Random compressors draw only from ``rng``; stateful ones (low rank)
take the sender's state and return the next one in :attr:`Message.state`, which the caller
commits (:mod:`.feedback` says when). Every size is fixed by the configuration and ``d``
(:meth:`Compressor.bits`), so a link's time per message can be fixed when a run starts.

To add a kind: one module with a :class:`Compressor` subclass setting :attr:`~Compressor.kind`,
:attr:`~Compressor.params` (key -> default, or ``REQUIRED``), :meth:`~Compressor.check_params`,
:meth:`~Compressor.bits` and :meth:`~Compressor._compress` (of a finite vector); then list it in :data:`lwpdsim.compress.REGISTRY`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..config.validate import get
from . import bits as bitcount


@dataclass(frozen=True, slots=True)
class Block:
    """A matrix-shaped block of the flat parameter vector: entries ``start : start + rows * cols``
    read row-major as a ``rows x cols`` matrix."""

    start: int
    rows: int
    cols: int

    @property
    def stop(self) -> int:
        return self.start + self.rows * self.cols


@dataclass(frozen=True, slots=True)
class Message:
    """A compressed message: what the master adds, and what crosses the link.

    ``decoded`` is the receiver's reconstruction (float64, length d; the values are kept at full
    precision, as the simulator keeps uncompressed messages, while their bits are counted at the
    item size). ``bits`` is the fixed-width size that link time and byte counts use.
    :attr:`entropy_bits` is an entropy-coded size when the kind defines one (QSGD's Elias code),
    for information only, computed when first read. ``state`` is the sender's next state (stateful kinds), to commit or drop."""

    decoded: np.ndarray
    bits: int
    state: Any = None
    entropy: Callable[[], int] | None = dataclasses.field(
        default=None, repr=False
    )  # computes entropy_bits

    @property
    def entropy_bits(self) -> int | None:
        """The entropy-coded size, computed when asked (None when the kind defines none)."""
        return None if self.entropy is None else self.entropy()

    @property
    def nbytes(self) -> int:
        """Bytes on the link: ``ceil(bits / 8)``."""
        return bitcount.to_bytes(self.bits)


class Compressor:
    """Base class of the compressors: one configured instance per message length ``d``.

    ``item_bits`` is the size of one value on the link (8 x the scenario's item size);
    ``blocks`` the matrix-shaped parameter blocks (only :mod:`.lowrank` reads them); ``field`` the
    configuration path of the ``compress`` table, for errors found once ``d`` is known."""

    kind: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    params: ClassVar[dict[str, Any]] = {}
    #: Whether ``E[C(x)] = x`` for every x (over the compressor's own random draws).
    unbiased: ClassVar[bool] = False
    #: Whether the compressor draws random numbers.
    random: ClassVar[bool] = False
    #: Whether the compressor keeps a state from one message to the next of a sender.
    stateful: ClassVar[bool] = False

    @classmethod
    def resolve_params(cls, raw: Mapping[str, Any], prefix: str) -> dict[str, Any]:
        """Validate the kind's own keys of a ``compress`` table (``kind`` and
        ``error_feedback`` already removed) and fill in defaults; the caller checked unknown keys."""
        values = {key: get(raw, key, default, prefix) for key, default in cls.params.items()}
        return cls.check_params(values, prefix)

    @classmethod
    def check_params(cls, values: dict[str, Any], prefix: str) -> dict[str, Any]:
        return values

    def __init__(
        self,
        params: Mapping[str, Any],
        d: int,
        item_bits: int,
        *,
        blocks: Sequence[Block] = (),
        field: str = "compress",
    ) -> None:
        if d < 1:
            raise ValueError(f"a message has at least one coordinate, not {d}")
        if item_bits < 1:
            raise ValueError(f"a value has at least one bit, not {item_bits}")
        self.p = dict(params)
        self.d = int(d)
        self.item_bits = int(item_bits)
        self.blocks = tuple(blocks)
        self.field = field
        self._configure()

    def _configure(self) -> None:
        """What a kind derives from its parameters, d and blocks once they are set (checks
        included; a :class:`~lwpdsim.errors.ScenarioError` names ``self.field``'s keys)."""

    def bits(self) -> int:
        """The exact size in bits of every message of this compressor."""
        raise NotImplementedError

    def initial_state(self) -> Any:
        """A sender's state before its first message (stateless kinds: None)."""
        return None

    def compress(self, x: np.ndarray, rng: np.random.Generator, state: Any = None) -> Message:
        """The message of vector ``x`` (float64, length d), drawing from ``rng`` if random.

        A vector with a NaN or an infinite entry (a diverged run's gradient) decodes to NaN
        everywhere, the state unchanged: no compressor hides a divergence by dropping or
        rescaling what is not finite."""
        x = self.check(x)
        if not np.isfinite(x).all():
            return Message(np.full(self.d, np.nan), self.bits(), state=state)
        return self._compress(x, rng, state)

    def _compress(self, x: np.ndarray, rng: np.random.Generator, state: Any) -> Message:
        """:meth:`compress` of a checked, finite ``x``."""
        raise NotImplementedError

    def check(self, x: np.ndarray) -> np.ndarray:
        """``x`` as a float64 vector of length d (raises ``ValueError`` otherwise)."""
        x = np.asarray(x, dtype=np.float64)
        if x.shape != (self.d,):
            raise ValueError(f"{self.kind}: expected a vector of length {self.d}, not {x.shape}")
        return x

    def label(self) -> str:
        shown = ",".join(f"{k}={v}" for k, v in self.p.items() if v is not None)
        return f"{self.kind}({shown})" if shown else self.kind
