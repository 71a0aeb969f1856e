"""The ASGI side of a collector request: its path, headers and body, and the answer sent.

:mod:`d8a.integrations.asgi` turns what these read into a request dict
(DESIGN.md) and sends the pipeline's :class:`~d8a.receiver.Response` back with
:func:`send_response`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from d8a.receiver import Response

__all__ = [
    "ASGIApp",
    "BodyTooLarge",
    "Disconnected",
    "Message",
    "Receive",
    "Scope",
    "Send",
    "read_body",
    "route_path",
    "scope_headers",
    "send_response",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyTooLarge(Exception):
    """The body is over the limit (by its ``Content-Length`` or by what arrived)."""


class Disconnected(Exception):
    """The client went away before the whole body arrived."""


def route_path(scope: Scope) -> str:
    """The path inside the app: ``path`` without the ``root_path`` it is mounted at
    (as Starlette's ``Mount`` and uvicorn's ``--root-path`` set it)."""
    path: str = scope.get("path") or "/"
    root: str = scope.get("root_path") or ""
    if root and path.startswith(root):
        path = path[len(root) :] or "/"
    return path


def scope_headers(scope: Scope) -> dict[str, str]:
    """The request headers by their lower-case names; repeated lines are joined
    into one value (with ``", "``, or ``"; "`` for ``cookie``)."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers") or ():
        name = raw_name.decode("latin-1")
        value = raw_value.decode("latin-1")
        if name in headers:  # repeated header lines mean one comma-joined value
            joiner = "; " if name == "cookie" else ", "
            headers[name] = headers[name] + joiner + value
        else:
            headers[name] = value
    return headers


async def read_body(receive: Receive, limit: int, length: str | None) -> bytes:
    """The whole body; raises :class:`BodyTooLarge` beyond ``limit`` bytes (at once
    when the ``Content-Length`` header, ``length``, says so) and
    :class:`Disconnected` if the client leaves first."""
    if length is not None and length.strip().isdigit() and int(length) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected
        chunk: bytes = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge
            chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def send_response(send: Send, response: Response) -> None:
    """Send ``response`` as ``http.response.start`` and one ``http.response.body``,
    with its ``content-length``."""
    headers = [
        (name.encode("latin-1"), value.encode("latin-1"))
        for name, value in response.headers.items()
    ]
    headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})
