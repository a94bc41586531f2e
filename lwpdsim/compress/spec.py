"""A ``compress`` table of a scenario, validated: ``{ kind = "topk", k = 10, error_feedback =
true }`` becomes a :class:`CompressSpec`, which builds a compressor once the message length d is
known (:func:`build`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..config.validate import as_bool, as_choice, check_keys
from ..errors import ScenarioError
from .base import Block, Compressor
from .lowrank import LowRank
from .none import NoCompression
from .qsgd import QSGD
from .randk import RandK
from .sign import ScaledSign
from .terngrad import TernGrad
from .topk import TopK

#: The compressors by kind.
REGISTRY: dict[str, type[Compressor]] = {
    cls.kind: cls for cls in (NoCompression, TopK, RandK, QSGD, TernGrad, ScaledSign, LowRank)
}
#: Keys of every ``compress`` table besides the kind's own.
COMMON_KEYS = ("kind", "error_feedback")


@dataclass(frozen=True)
class CompressSpec:
    """A validated ``compress`` table: the kind, its parameters (defaults filled in; ``None`` for
    an absent optional one) and whether error feedback is on."""

    kind: str = "none"
    params: Mapping[str, Any] = field(default_factory=dict)
    error_feedback: bool = False

    @property
    def is_identity(self) -> bool:
        """Whether messages go as they are (kind ``none``: error feedback then changes nothing)."""
        return self.kind == "none"

    def as_dict(self) -> dict[str, Any]:
        """The table it came from, defaults written out (for a saved configuration)."""
        out: dict[str, Any] = {"kind": self.kind}
        out.update({k: v for k, v in self.params.items() if v is not None})
        out["error_feedback"] = self.error_feedback
        return out

    def label(self) -> str:
        """A short label such as ``topk(k=10)+EF``."""
        shown = ",".join(f"{k}={v}" for k, v in self.params.items() if v is not None)
        text = f"{self.kind}({shown})" if shown else self.kind
        return text + ("+EF" if self.error_feedback else "")


#: No compression: messages as they are (the default).
NONE = CompressSpec()


def parse_compress(raw: Any, prefix: str) -> CompressSpec:
    """Validate a ``compress`` table found at ``prefix`` (e.g. ``schemes[0].compress``); ``None``
    (absent) is :data:`NONE`."""
    if raw is None:
        return NONE
    if not isinstance(raw, Mapping):
        raise ScenarioError(prefix, raw, 'a table such as { kind = "topk", k = 10 }')
    if "kind" not in raw:
        raise ScenarioError(
            f"{prefix}.kind", None, f"this key is required: one of {', '.join(REGISTRY)}"
        )
    kind = as_choice(raw["kind"], f"{prefix}.kind", REGISTRY)
    cls = REGISTRY[kind]
    check_keys(raw, (*COMMON_KEYS, *cls.params), prefix)
    own = {k: v for k, v in raw.items() if k not in COMMON_KEYS}
    params = cls.resolve_params(own, prefix)
    ef = as_bool(raw.get("error_feedback", False), f"{prefix}.error_feedback")
    return CompressSpec(kind, params, ef)


def build(
    spec: CompressSpec,
    d: int,
    item_bits: int,
    *,
    blocks: Sequence[Block] = (),
    field: str = "compress",
) -> Compressor:
    """The compressor of ``spec`` for messages of length ``d`` with values of ``item_bits`` bits;
    a parameter that does not fit d (``k > d``) raises a :class:`ScenarioError` at ``field``."""
    return REGISTRY[spec.kind](spec.params, d, item_bits, blocks=blocks, field=field)
