"""A Flask app with the d8a collector mounted at /d8a and the worker in a thread.

Run it (a real HTTP server; Ctrl-C or SIGTERM stops it cleanly)::

    python examples/flask_app.py --port 8000

and send a hit the way gtag does, or point gtag's ``transport_url`` at
``http://127.0.0.1:8000/d8a``::

    curl -i 'http://127.0.0.1:8000/d8a/g/collect?v=2&tid=G-1&cid=1.2&en=page_view'

Rows land in ``events.db`` when a session closes (30 minutes after its last
hit; set ``D8A_SESSION_TIMEOUT=5`` to see them sooner). Backends and settings
come from ``D8A_<KEY>`` environment variables (``D8A_QUEUE``, ``D8A_STATE``,
``D8A_WAREHOUSE``, ``D8A_SESSION_TIMEOUT``, ...), defaulting to SQLite files
in the working directory.

With several processes, publish from all and work the queue in one::

    D8A_WORKER_THREAD=false gunicorn -w 4 'flask_app:create_app()'
    d8a worker --queue sqlite:///d8a-queue.db --state sqlite:///d8a-state.db \\
        --warehouse sqlite:///events.db
"""

from __future__ import annotations

import argparse
import atexit
import os
import signal
import threading

from flask import Flask
from werkzeug.serving import ThreadedWSGIServer

from d8a.config_file import load_config, pipeline_from_config
from d8a.integrations.wsgi import D8AMiddleware, start_worker

DEFAULTS = {
    "queue": "sqlite:///d8a-queue.db",  # one file shared by every web process
    "state": "sqlite:///d8a-state.db",  # open sessions survive a restart
    "warehouse": "sqlite:///events.db",
}


def create_app(*, worker: bool | None = None) -> Flask:
    """The Flask app with d8a in front; ``worker=None`` reads ``D8A_WORKER_THREAD``."""
    if worker is None:
        worker = os.environ.get("D8A_WORKER_THREAD", "true").lower() not in ("0", "false", "no")
    pipeline = pipeline_from_config({**DEFAULTS, **load_config(None, os.environ)})
    app = Flask(__name__)

    @app.get("/")
    def index() -> str:
        return "<p>Hello from Flask. d8a collects at <code>/d8a/g/collect</code>.</p>"

    # Requests to /d8a/g/collect (and /d8a/healthz) go to d8a, the rest to Flask.
    app.wsgi_app = D8AMiddleware(app.wsgi_app, pipeline, prefix="/d8a")  # type: ignore[method-assign]
    if worker:
        # WSGI has no lifespan: the thread is stopped, and the pipeline closed, at exit.
        start_worker(pipeline)
    else:
        atexit.register(pipeline.close)  # publish only; a `d8a worker` process writes
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="Flask with the d8a collector at /d8a")
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--no-worker", action="store_true", help="publish only (d8a worker)")
    args = parser.parse_args()
    app = create_app(worker=not args.no_worker)
    server = ThreadedWSGIServer(args.host, args.port, app)
    server.daemon_threads = False  # requests in progress finish before the exit

    def on_sigterm(signum: int, frame: object) -> None:
        threading.Thread(target=server.shutdown).start()  # serve_forever returns

    signal.signal(signal.SIGTERM, on_sigterm)
    print(f"Flask + d8a on http://{args.host}:{server.port}/ (collector: /d8a)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    print("stopped", flush=True)


if __name__ == "__main__":
    main()
