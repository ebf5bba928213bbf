"""Helpers every benchmark script here shares: a free TCP port and a percentile.

The scripts run as `python bench/<script>.py`, so this folder is on sys.path and they import this
module as `common`.
"""

from __future__ import annotations

import socket


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (the kernel picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0 < q ≤ 1) of `values` by nearest rank: the round(q·n)-th smallest, at least
    the first and at most the last. `pct(latencies_ms, 0.99)` is the p99 the README tables give."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]
