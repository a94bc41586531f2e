"""A rule's compression in a run: the :class:`~lwpdsim.compress.Uplink` the cluster sends its
workers' messages through, the :class:`~lwpdsim.compress.Downlink` of the master's broadcast, and
the numbers the run summary records about them.

The cluster (:mod:`.cluster`) reports each finished compute to the uplink, gives the rule the
decoded message and charges the links the message's exact size; with a downlink it hands each task
the workers' replica of the parameters and charges the broadcast messages the worker missed; see
docs/compression.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..compress import Downlink, Uplink, build
from ..compress.blocks import blocks_of

if TYPE_CHECKING:
    from ..compress import CompressSpec
    from ..rng import Streams
    from ..schemes.base import Scheme


def make_uplink(
    spec: CompressSpec | None,
    scheme: Scheme,
    itemsize: int,
    streams: Streams,
    field: str,
) -> Uplink | None:
    """The uplink of a rule whose entry has the ``compress`` table ``spec`` (None: no table, no
    uplink, the run exactly as without compression).

    Messages have d = ``scheme.upload_elements(w)`` values (the same for every worker; LWPD's
    block for LWPD) of ``8 * itemsize`` bits; when d is the model's size, the model's matrix
    blocks are given (low rank compresses those). Worker w draws from ``streams``' ``compress``
    stream, index w. A parameter that does not fit d (``k > d``) raises a
    :class:`~lwpdsim.errors.ScenarioError` at ``field`` (e.g. ``schemes[0].compress``)."""
    if spec is None:
        return None
    n = scheme.n
    sizes = {scheme.upload_elements(w) for w in range(n)}
    if len(sizes) != 1:
        raise ValueError(f"{scheme.name}: workers' messages differ in length {sorted(sizes)}")
    d = sizes.pop()
    model = scheme.problem.model
    blocks = blocks_of(model) if d == model.n_params and spec.kind == "lowrank" else ()
    compressor = build(spec, d, 8 * itemsize, blocks=blocks, field=field)
    seeds = [streams.seed_sequence("compress", w) for w in range(n)]
    return Uplink(compressor, seeds, error_feedback=spec.error_feedback)


def summary_of(uplink: Uplink, n_params: int) -> dict[str, Any]:
    """What a run summary records of its uplink compression.

    ``compression_error``: the mean of ``||C(x) - x||^2 / ||x||^2`` over the messages the master
    read (x the compressor's input: the gradient, plus the residual with error feedback);
    ``compression_error_stderr`` its standard error, ``compression_error_pooled`` the ratio of
    the sums; ``compressed_messages`` those messages (``compressed_zero_inputs`` of them had
    input 0 and no ratio); ``bits_per_coordinate``: one message's bits over the model's
    ``n_params`` coordinates (LWPD's uncompressed block of ceil(d/t) values: about 32/t)."""
    bits = {"bits_per_coordinate": uplink.compressor.bits() / n_params}
    return uplink.read.summary() | bits


def make_downlink(
    spec: CompressSpec | None,
    scheme: Scheme,
    theta0: np.ndarray,
    itemsize: int,
    streams: Streams,
    field: str,
) -> Downlink | None:
    """The downlink of a rule whose entry has the ``compress_down`` table ``spec`` (None: the
    parameters go whole to every task, as without the table).

    Messages are the model's d parameters (the model's matrix blocks given to low rank) of
    ``8 * itemsize`` bits; the master draws from the ``compress`` stream, index n (workers use
    0 .. n - 1). Errors name ``field`` (e.g. ``schemes[0].compress_down``)."""
    if spec is None:
        return None
    model = scheme.problem.model
    d = model.n_params
    sizes = {scheme.download_elements(w) for w in range(scheme.n)}
    if sizes != {d}:
        raise ValueError(
            f"{scheme.name}: downloads of {sorted(sizes)} values, not the {d} parameters"
        )
    blocks = blocks_of(model) if spec.kind == "lowrank" else ()
    compressor = build(spec, d, 8 * itemsize, blocks=blocks, field=field)
    seed = streams.seed_sequence("compress", scheme.n)
    return Downlink(compressor, theta0, seed, error_feedback=spec.error_feedback)


def downlink_summary(downlink: Downlink, n_params: int) -> dict[str, Any]:
    """What a run summary records of its downlink: ``compression_down_error``, the mean of
    ``||C(x) - x||^2 / ||x||^2`` over the master's broadcast messages (x the step, plus the
    master's residual with error feedback), its standard error and pooled ratio,
    ``compressed_down_messages`` (one per step; ``compressed_down_zero_inputs`` of them had input
    0) and ``bits_down_per_coordinate``, one message's bits over the ``n_params`` coordinates."""
    bits = {"bits_down_per_coordinate": downlink.compressor.bits() / n_params}
    return downlink.errors.summary("_down") | bits
