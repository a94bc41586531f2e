"""A rule's uplink compression in a run: the :class:`~lwpdsim.compress.Uplink` the cluster sends
its workers' messages through, and the numbers the run summary records about it.

The cluster (:mod:`.cluster`) reports each finished compute to the uplink, gives the rule the
decoded message and charges the links the message's exact size; see docs/compression.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..compress import Uplink, build
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
    read = uplink.read
    return {
        "compression_error": read.mean,
        "compression_error_stderr": read.stderr,
        "compression_error_pooled": read.pooled,
        "compressed_messages": read.count + read.zero_inputs,
        "compressed_zero_inputs": read.zero_inputs,
        "bits_per_coordinate": uplink.compressor.bits() / n_params,
    }
