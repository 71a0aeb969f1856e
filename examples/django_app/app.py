"""A one-file Django project with the d8a collector mounted at /d8a.

Run it on Django's own threaded WSGI server (Ctrl-C or SIGTERM stops it)::

    python examples/django_app/app.py --port 8000

or on gunicorn, with the worker thread in its single process::

    gunicorn --chdir examples/django_app 'app:create_application()'

and send a hit the way gtag does, or point gtag's ``transport_url`` at
``http://127.0.0.1:8000/d8a``::

    curl -i 'http://127.0.0.1:8000/d8a/g/collect?v=2&tid=G-1&cid=1.2&en=page_view'

In a Django project of your own, wrap the application in ``wsgi.py`` the same
way (``application = D8AMiddleware(get_wsgi_application(), pipeline)``) and
start the worker there, or run ``d8a worker`` beside the web processes
(``D8A_WORKER_THREAD=false`` here). Rows land in ``events.db`` when a session
closes (30 minutes after its last hit; ``D8A_SESSION_TIMEOUT=5`` to see them
sooner). Backends and settings come from ``D8A_<KEY>`` environment variables,
defaulting to SQLite files in the working directory.
"""

from __future__ import annotations

import argparse
import atexit
import os
import signal
import threading
from typing import TYPE_CHECKING

import django
from django.conf import settings

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

settings.configure(
    DEBUG=False,
    SECRET_KEY="example-only-not-secret",
    ALLOWED_HOSTS=["127.0.0.1", "localhost", "[::1]"],
    ROOT_URLCONF=__name__,  # the URL patterns are below
    INSTALLED_APPS=[],
    MIDDLEWARE=[],
)
django.setup()

from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402  (needs the settings)
from django.http import HttpRequest, HttpResponse  # noqa: E402
from django.urls import path  # noqa: E402

from d8a.config_file import load_config, pipeline_from_config  # noqa: E402
from d8a.integrations.wsgi import D8AMiddleware, start_worker  # noqa: E402

DEFAULTS = {
    "queue": "sqlite:///d8a-queue.db",
    "state": "sqlite:///d8a-state.db",  # open sessions survive a restart
    "warehouse": "sqlite:///events.db",
}


def index(request: HttpRequest) -> HttpResponse:
    return HttpResponse("<p>Hello from Django. d8a collects at <code>/d8a/g/collect</code>.</p>")


urlpatterns = [path("", index)]


def create_application(*, worker: bool | None = None) -> WSGIApplication:
    """Django's WSGI application with d8a in front; ``worker=None`` reads ``D8A_WORKER_THREAD``."""
    if worker is None:
        worker = os.environ.get("D8A_WORKER_THREAD", "true").lower() not in ("0", "false", "no")
    pipeline = pipeline_from_config({**DEFAULTS, **load_config(None, os.environ)})
    if worker:
        # WSGI has no lifespan: the thread is stopped, and the pipeline closed, at exit.
        start_worker(pipeline)
    else:
        atexit.register(pipeline.close)  # publish only; a `d8a worker` process writes
    # Requests to /d8a/g/collect (and /d8a/healthz) go to d8a, the rest to Django.
    return D8AMiddleware(get_wsgi_application(), pipeline, prefix="/d8a")


def main() -> None:
    parser = argparse.ArgumentParser(description="Django with the d8a collector at /d8a")
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--no-worker", action="store_true", help="publish only (d8a worker)")
    args = parser.parse_args()
    server = ThreadedWSGIServer((args.host, args.port), WSGIRequestHandler)
    server.set_app(create_application(worker=not args.no_worker))
    server.daemon_threads = False  # requests in progress finish before the exit

    def on_sigterm(signum: int, frame: object) -> None:
        threading.Thread(target=server.shutdown).start()  # serve_forever returns

    signal.signal(signal.SIGTERM, on_sigterm)
    port = server.server_address[1]
    print(f"Django + d8a on http://{args.host}:{port}/ (collector: /d8a)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    print("stopped", flush=True)


if __name__ == "__main__":
    main()
