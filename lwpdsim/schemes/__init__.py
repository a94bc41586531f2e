"""The update rules: one module per rule, all named in :data:`REGISTRY`.

A rule is a policy: it says how many work units a worker's task costs, what a worker sends, and how
the master turns arrived messages into a step. It knows nothing of SimPy; ``lwpdsim.sim`` drives it.
To add a rule, write one module with a :class:`~lwpdsim.schemes.base.Scheme` subclass and add it below
(or, outside the package, register it as a plugin: :mod:`lwpdsim.plugins`, docs/plugins.md).
"""

from __future__ import annotations

from .approx_gc import ApproxGC
from .base import Scheme
from .bcc import BatchedCouponCollector
from .deadline import Deadline
from .gc import GradientCoding
from .kasync import KAsync
from .kbatchasync import KBatchAsync
from .ksync import KSync
from .lwpd import LWPD
from .sgc import SGC
from .sync import Sync

REGISTRY: dict[str, type[Scheme]] = {
    cls.name: cls
    for cls in (
        Sync,
        KSync,
        KAsync,
        KBatchAsync,
        GradientCoding,
        LWPD,
        Deadline,
        SGC,
        BatchedCouponCollector,
        ApproxGC,
    )
}

__all__ = ["REGISTRY", "Scheme"]
