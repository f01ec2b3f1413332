"""Serve a WSGI application with the standard library: one thread per request (a student's check() may wait
for its result while others ask), request lines to the log instead of stderr, without their query strings (the
hub's login sends a one-time code and state in one)."""

from __future__ import annotations

import logging
import re
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.types import WSGIApplication

log = logging.getLogger("servicelab.service.http")


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a waiting request does not hold the service up when it stops
    request_queue_size = 256  # listen backlog: a whole class runs check() at once (socketserver's default is 5)


class _Handler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # the base class's parameter name
        log.info("%s %s", self.address_string(), redacted(format % args))


def redacted(line: str) -> str:
    """A request line without its query string."""
    return re.sub(r"\?\S*", "?...", line)


def make(app: WSGIApplication, host: str, port: int) -> WSGIServer:
    return make_server(host, port, app, server_class=_ThreadingServer, handler_class=_Handler)
