"""Scaling out on Redis: partition leases and a worker that runs only its partitions.

Import :mod:`d8a.scaleout.leases` or :mod:`d8a.scaleout.worker`; this package
imports nothing, so that ``import d8a.scaleout`` stays light.
"""

from __future__ import annotations

__all__: list[str] = []
