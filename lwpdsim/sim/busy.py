"""The master's own work, when it takes simulated time (``cluster.master_flops`` finite).

Every :class:`~lwpdsim.schemes.base.Decision` carries ``ops``, the floating-point operations the
master spent reaching it (decoding, solving, combining). With ``cluster.master_flops = F`` the
master is busy for ``ops / F`` simulated seconds after it decides, and the decision (its step, its
cancellations and the parameters it sends) takes effect only when that work is done, so a step's
parameters become current, and restarted workers receive them, ``ops / F`` after the result that
completed it arrived.

Queueing: the master handles one thing at a time, in arrival order (FIFO). A result that arrives
while it is busy waits in :attr:`MasterWork.waiting`, and so does a worker's recovery; the rule sees
them only when the master is free, one after the other, each decision's work done before the next is
looked at. A decision that costs nothing takes effect at once. The arrival itself (the task's
``end`` time) is recorded when the message arrives, not when the master gets to it.

With the default ``master_flops = inf`` the cluster never builds this object and applies every
decision the moment it is made (the master's work is free), exactly as before it existed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from functools import partial

import simpy

from ..schemes.base import Decision


class MasterWork:
    """A master that does one thing at a time at ``flops`` operations per simulated second.

    ``apply`` is the cluster's way of making a decision take effect, ``stopped`` says whether the
    run has ended (then nothing more is decided); ``submit`` hands the master a piece of work (a
    function returning the rule's :class:`Decision`, e.g. ``on_result`` of an arrived result).
    After the run, :attr:`ops` holds the operations done and :attr:`busy` the simulated seconds
    spent on them."""

    def __init__(
        self,
        env: simpy.Environment,
        flops: float,
        apply: Callable[[Decision], None],
        stopped: Callable[[], bool],
    ) -> None:
        self.env, self.flops, self.apply, self.stopped = env, flops, apply, stopped
        self.waiting: deque[Callable[[], Decision]] = deque()
        self.working = False  # deciding, or doing a decision's work
        self.ops = 0.0
        self.busy = 0.0

    def submit(self, decide: Callable[[], Decision]) -> None:
        """Queue ``decide``; the master calls it as soon as everything before it is done."""
        self.waiting.append(decide)
        if not self.working:
            self._work()

    def _work(self) -> None:
        """Handle what is waiting until the queue is empty or a decision's work takes time."""
        self.working = True
        while self.waiting and not self.stopped():
            decision = self.waiting.popleft()()
            ops = float(decision.ops)
            self.ops += ops
            seconds = ops / self.flops
            if seconds > 0:
                self.busy += seconds
                self.env.timeout(seconds).callbacks.append(partial(self._done, decision))
                return  # still working: the queue waits for _done
            self.apply(decision)
        self.working = False

    def _done(self, decision: Decision, _: simpy.Event) -> None:
        """The work of ``decision`` is done: it takes effect."""
        self.apply(decision)
        self._work()
