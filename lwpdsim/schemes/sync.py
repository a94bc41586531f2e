"""Synchronous gradient descent: wait for all n workers, step with the exact full gradient."""

from __future__ import annotations

from .waiting import WaitForFastest


class Sync(WaitForFastest):
    """Waits for every worker: :meth:`WaitForFastest.needed` as it is, ``n``."""

    name = "sync"
    color = "#1f77b4"
    summary = "wait for all n workers, then step with the full gradient"
    reuses_gradients = False  # a worker never computes twice at one version
