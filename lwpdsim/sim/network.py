"""The links between the master and its workers: how long a message takes, the master's shared
link, and lost messages.

A message of ``nbytes`` is serialised for ``nbytes / bandwidth`` (holding the master's one link
while it does, when that link is shared: messages queue for it, a SimPy ``Resource``), then
travels for ``latency``. It is lost with probability ``loss`` (one generator per worker); a lost
message is re-sent after ``retry_after``, or never when that is ``inf``: the task is then lost for
good.

Bytes are counted when a transmission begins, i.e. when the message holds its link: at once on a
private link, when granted on the shared one (``began(task, upload, nbytes)``). A message whose
task ends while it is still queued is never transmitted and counts nothing; one cut off while
serialising has begun and counts whole; every resend is a new transmission and counts again.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import simpy

if TYPE_CHECKING:
    from ..config import Network

#: A step of a task: called as ``then(task, worker)``.
Then = Callable[[int, int], None]
#: The cluster's scheduler: ``after(delay, then, task, worker)`` calls ``then(task, worker)``
#: ``delay`` from now unless the task has ended by then.
After = Callable[[float, Then, int, int], None]


def is_free(spec: Network) -> bool:
    """Whether messages cost nothing and are never lost (then the cluster skips them)."""
    return spec.latency == 0 and math.isinf(spec.bandwidth) and spec.loss == 0


class Links:
    """Sends the messages of tasks. A message's task may end (cancelled, failed) at any time:
    what is still pending for it then does nothing, and a place it holds or awaits on the shared
    link is given up (:meth:`release`).

    The cluster passes its scheduler ``after``, its ``running`` tasks (worker -> task), and what
    to do when a message is lost (``lost(task, worker, for_good)``; ``for_good`` when it will
    not be re-sent) and when a transmission begins (``began(task, upload, nbytes)``: count its
    bytes)."""

    def __init__(
        self,
        env: simpy.Environment,
        spec: Network,
        loss_rngs: list[np.random.Generator],
        *,
        after: After,
        running: dict[int, int],
        lost: Callable[[int, int, bool], None],
        began: Callable[[int, bool, int], None],
    ) -> None:
        self.latency, self.bandwidth = spec.latency, spec.bandwidth
        self.loss, self.retry_after = spec.loss, spec.retry_after
        self.loss_rngs = loss_rngs
        self.shared = simpy.Resource(env, capacity=1) if spec.shared_master_link else None
        self.requests: dict[int, simpy.resources.resource.Request] = {}  # task -> link place
        self._after, self._running, self._began, self._lost = after, running, began, lost

    def send(self, task: int, worker: int, nbytes: int, upload: bool, then: Then) -> None:
        """Send a message of ``task``, then call ``then(task, worker)`` when it has arrived. Its
        bytes are counted (``began``) when its transmission begins."""
        after = self._after
        busy = 0.0 if math.isinf(self.bandwidth) else nbytes / self.bandwidth

        def sent(task: int, worker: int) -> None:
            if self.shared is not None:
                self.release(task)
            if self.latency > 0:
                after(self.latency, arrived, task, worker)
            else:
                arrived(task, worker)

        def arrived(task: int, worker: int) -> None:
            if not self.dropped(worker):
                then(task, worker)
                return
            for_good = math.isinf(self.retry_after)
            self._lost(task, worker, for_good)
            if not for_good:
                after(self.retry_after, resend, task, worker)

        def resend(task: int, worker: int) -> None:
            self.send(task, worker, nbytes, upload, then)

        if busy > 0 and self.shared is not None:
            request = self.shared.request()
            self.requests[task] = request

            def granted(_: simpy.Event) -> None:
                if self._running.get(worker) == task:  # else it ended while queued: nothing sent
                    self._began(task, upload, nbytes)
                    after(busy, sent, task, worker)

            request.callbacks.append(granted)
            return
        self._began(task, upload, nbytes)
        if busy > 0:
            after(busy, sent, task, worker)
        else:
            sent(task, worker)

    def release(self, task: int) -> None:
        """Give up ``task``'s place on the shared link, held or still queued (as leaving ``with``
        does), if it has one."""
        request = self.requests.pop(task, None)
        if request is not None:
            request.cancel()
            assert self.shared is not None
            self.shared.release(request)

    def dropped(self, worker: int) -> bool:
        """Whether the message just sent on ``worker``'s link was lost."""
        return self.loss > 0 and bool(self.loss_rngs[worker].random() < self.loss)
