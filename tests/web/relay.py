"""A second desk whose database connection runs through a TCP relay a test can cut: web's
own database gone while the rest of the stack runs on."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import httpx

from shared.devtools.stack import Stack
from tests.web.conftest import Desk


class Relay:
    """A TCP relay to PostgreSQL that can be cut: the desk behind it loses its database."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.open = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while self.open:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if not self.open:
                client.close()
                return
            upstream = socket.create_connection(self.target)
            self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.open = False
        self.server.close()
        for s in self.conns:
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


@contextmanager
def desk_behind_relay(desk: Desk, stack: Stack) -> Iterator[tuple[Desk, Relay]]:
    url = httpx.URL(desk.env["LCS_DATABASE_URL"])
    relay = Relay((url.host or "127.0.0.1", url.port or 5432))
    relayed = str(url.copy_with(port=relay.port))
    proc = stack.add_service("web", instance="web-relayed", LCS_DATABASE_URL=relayed,
                             LCS_SESSION_IDLE_MINUTES="60")
    proc.start()
    try:
        stack.wait_http("web-relayed", "/readyz")
        yield Desk(url=stack.url("web-relayed"), world=desk.world, env=desk.env, passwords=desk.passwords), relay
    finally:
        relay.cut()
        proc.stop()
