"""d8a: web-analytics tracking requests in, sessions and warehouse rows out.

The public surface::

    import d8a
    tables = d8a.replay("hits.jsonl", session_timeout=1800)   # notebook / tests
    pipeline = d8a.Pipeline.builder().warehouse("sqlite:///events.db").build()
    pipeline.ingest(request_dict)                              # in a web app
"""

from __future__ import annotations

from d8a.clock import Clock, ManualClock, SystemClock
from d8a.config import Settings
from d8a.errors import (
    BrokenEventError,
    BrokenSessionError,
    ConfigurationError,
    D8AError,
    MissingDependencyError,
    ProtocolError,
    TableNotFoundError,
    TerminalError,
    TransientError,
)
from d8a.pipeline import Pipeline, PipelineBuilder
from d8a.receiver import Response
from d8a.replay import ReplayError, read_requests, replay

__version__ = "0.1.0"

__all__ = [
    "BrokenEventError",
    "BrokenSessionError",
    "Clock",
    "ConfigurationError",
    "D8AError",
    "ManualClock",
    "MissingDependencyError",
    "Pipeline",
    "PipelineBuilder",
    "ProtocolError",
    "ReplayError",
    "Response",
    "Settings",
    "SystemClock",
    "TableNotFoundError",
    "TerminalError",
    "TransientError",
    "__version__",
    "read_requests",
    "replay",
]
