"""Running the collector inside a web app, or standalone.

* :mod:`d8a.integrations.asgi`: ``collector_app`` and ``D8AMiddleware`` for ASGI
  (Starlette, FastAPI, ``d8a serve`` on uvicorn), with the worker thread run by
  ASGI lifespan;
* :mod:`d8a.integrations.wsgi`: the same for WSGI (Flask, Django), with
  ``start_worker`` since WSGI has no lifespan.

Neither imports a web framework: they speak the bare ASGI and WSGI interfaces.
"""

from __future__ import annotations

__all__: list[str] = []
