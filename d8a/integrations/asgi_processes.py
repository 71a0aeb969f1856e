"""``d8a serve --workers N``: N collector processes on one socket, the worker in the parent.

A Python process serves HTTP on about one core (the GIL), so more cores need
more processes. The parent binds the socket, starts the pipeline's worker
thread (unless ``--no-worker``) and has uvicorn's process supervisor run N
collector processes that accept on the shared socket and publish to the
queue, which must therefore be one that processes share (SQLite or Redis).
Each collector process builds its pipeline from the same configuration,
passed in the environment variable :data:`PROCESS_SPEC` as JSON.

SIGTERM to the parent stops the collector processes (each finishes its
requests in flight and publishes its batched hits), then the worker thread
consumes what is queued; open protosessions stay in the state store.
``/metrics`` answers with the sum of every process's counters and the worker's
gauges: each process writes its snapshot to a shared temporary folder (see
:mod:`d8a.integrations.process_metrics`).
"""

from __future__ import annotations

import atexit
import inspect
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Callable
from typing import Any

from d8a.config_file import builder_from_config
from d8a.errors import ConfigurationError
from d8a.integrations.asgi import stop_worker
from d8a.integrations.process_metrics import SnapshotFiles
from d8a.integrations.responses import worker_snapshot
from d8a.pipeline import Pipeline
from d8a.runner import BackgroundLoop

__all__ = ["PROCESS_SPEC", "collector_process_app", "serve_processes"]

PROCESS_SPEC = "D8A_SERVE_PROCESS"
"""The environment variable that hands the configuration to the collector processes."""


def collector_process_app() -> Any:
    """The ASGI app of one collector process (an uvicorn app factory)."""
    from d8a.cli_serve import batch_in_background, configure_logging
    from d8a.integrations.asgi import collector_app

    spec = json.loads(os.environ[PROCESS_SPEC])
    configure_logging(spec["log_level"], spec["log_format"])
    pipeline = builder_from_config(spec["config"]).build()
    batch_in_background(pipeline, spec["batch"], spec["batch_delay"])
    files = SnapshotFiles(spec["metrics_dir"], pipeline.metrics)
    files.start()
    atexit.register(files.stop)  # the final counts, once uvicorn's process ends
    return collector_app(
        pipeline, prefix=spec["prefix"], worker=False, metrics=True, metrics_snapshot=files.merged
    )


def serve_processes(
    pipeline: Pipeline,
    sock: socket.socket,
    spec: dict[str, Any],
    *,
    processes: int,
    worker: Callable[[], BackgroundLoop] | None,
    uvicorn_options: dict[str, Any],
) -> None:
    """Run ``processes`` collector processes on ``sock`` until SIGTERM/SIGINT, with the
    worker loop ``worker`` makes (if any) in a thread of this process."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    metrics_dir = tempfile.mkdtemp(prefix="d8a-metrics-")
    try:
        os.environ[PROCESS_SPEC] = json.dumps({**spec, "metrics_dir": metrics_dir})
    except TypeError as exc:
        shutil.rmtree(metrics_dir, ignore_errors=True)
        raise ConfigurationError(f"--workers: the configuration is not JSON: {exc}") from None
    config = uvicorn.Config(
        "d8a.integrations.asgi_processes:collector_process_app",
        factory=True,
        workers=processes,
        lifespan="on",
        log_config=None,
        **uvicorn_options,
    )
    loop = worker() if worker is not None else None
    if loop is not None:
        loop.start()
    files = SnapshotFiles(metrics_dir, lambda: worker_snapshot(pipeline, loop))
    files.start()
    try:
        supervisor: Any
        if "target" in inspect.signature(Multiprocess).parameters:  # older uvicorn
            supervisor = Multiprocess(  # type: ignore[call-arg]  # the older signature
                config, target=uvicorn.Server(config).run, sockets=[sock]
            )
        else:
            supervisor = Multiprocess(config, sockets=[sock])
        supervisor.run()
    finally:
        pipeline.storage.flush()
        if loop is not None:
            stop_worker(pipeline, loop)  # consumes what the collectors published while stopping
        files.stop()
        shutil.rmtree(metrics_dir, ignore_errors=True)
