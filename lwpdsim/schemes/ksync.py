"""K-sync SGD (Dutta et al. 2018): wait for the fastest K of n partition gradients, cancel the rest."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import KRule
from .waiting import WaitForFastest


class KSync(WaitForFastest, KRule):
    name = "ksync"
    color = "#ff7f0e"
    summary = "wait for the fastest K of n, cancel the rest, all restart"
    reuses_gradients = False  # a worker never computes twice at one version

    @classmethod
    def needed(cls, params: Mapping[str, Any], n: int) -> int:
        return int(params["K"])
