"""Gradient compression: compressors, error feedback and the measured compression error.

A compressor (one module per kind, all named in :data:`REGISTRY`) turns a vector into a
:class:`Message`: what the master adds and the message's exact size in bits. :mod:`.feedback`
keeps the per-worker residuals of error feedback (and the master's, for the downlink) and says
when they change; :mod:`.stats` measures ``||C(x) - x||^2 / ||x||^2``. See docs/compression.md.
"""

from __future__ import annotations

from .base import Block, Compressor, Message
from .feedback import Downlink, ErrorFeedback, Pending, Uplink
from .spec import NONE, REGISTRY, CompressSpec, build, parse_compress
from .stats import ErrorMean, relative_error

__all__ = [
    "NONE",
    "REGISTRY",
    "Block",
    "CompressSpec",
    "Compressor",
    "Downlink",
    "ErrorFeedback",
    "ErrorMean",
    "Message",
    "Pending",
    "Uplink",
    "build",
    "parse_compress",
    "relative_error",
]
