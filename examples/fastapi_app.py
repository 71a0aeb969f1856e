"""A FastAPI app with the d8a collector mounted at /d8a, served by uvicorn.

Run it (Ctrl-C or SIGTERM stops it cleanly)::

    python examples/fastapi_app.py --port 8000

and send a hit the way gtag does, or point gtag's ``transport_url`` at
``http://127.0.0.1:8000/d8a``::

    curl -i 'http://127.0.0.1:8000/d8a/g/collect?v=2&tid=G-1&cid=1.2&en=page_view'

The middleware runs the worker thread from ASGI lifespan startup to shutdown.
Rows land in ``events.db`` when a session closes (30 minutes after its last
hit; set ``D8A_SESSION_TIMEOUT=5`` to see them sooner). Backends and settings
come from ``D8A_<KEY>`` environment variables (``D8A_QUEUE``, ``D8A_STATE``,
``D8A_WAREHOUSE``, ...), defaulting to SQLite files in the working directory.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket

import uvicorn
from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from d8a.config_file import load_config, pipeline_from_config
from d8a.integrations.asgi import D8AMiddleware
from d8a.pipeline import Pipeline

DEFAULTS = {
    "queue": "sqlite:///d8a-queue.db",
    "state": "sqlite:///d8a-state.db",  # open sessions survive a restart
    "warehouse": "sqlite:///events.db",
}


def create_app(pipeline: Pipeline, *, worker: bool = True) -> FastAPI:
    """The FastAPI app with d8a in front of it."""
    app = FastAPI()

    @app.get("/", response_class=HTMLResponse)
    async def index() -> str:
        return "<p>Hello from FastAPI. d8a collects at <code>/d8a/g/collect</code>.</p>"

    # /d8a/g/collect and /d8a/healthz go to d8a, the rest to FastAPI. With
    # worker=False, run `d8a worker` on the same queue instead.
    app.add_middleware(D8AMiddleware, pipeline=pipeline, prefix="/d8a", worker=worker)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="FastAPI with the d8a collector at /d8a")
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--no-worker", action="store_true", help="publish only (d8a worker)")
    args = parser.parse_args()
    # The script owns the pipeline: the app starts and stops its worker, never closes it.
    with pipeline_from_config({**DEFAULTS, **load_config(None, os.environ)}) as pipeline:
        app = create_app(pipeline, worker=not args.no_worker)
        # Bound here so that --port 0 (any free port) can be printed before serving.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((args.host, args.port))
        sock.listen(2048)  # connections wait in the backlog until uvicorn has started
        port = sock.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning"))

        def stop(signum: int, frame: object) -> None:
            server.should_exit = True

        # uvicorn shuts down gracefully on SIGTERM/SIGINT, then raises the signal
        # again for the handler it found: this one, so the pipeline is closed below.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, stop)
        print(f"FastAPI + d8a on http://{args.host}:{port}/ (collector: /d8a)", flush=True)
        server.run(sockets=[sock])
    print("stopped", flush=True)


if __name__ == "__main__":
    main()
