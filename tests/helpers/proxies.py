"""A broker whose connections a test can cut: a private Tansu that advertises a TCP proxy, so
every client (ingest's and the test's) reaches it only through the proxy."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
import tempfile
from collections.abc import AsyncIterator

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from shared.kafka import EmbeddedBroker, free_port


class Proxy:
    """Forwards TCP to the broker; `cut()` drops every connection and refuses new ones. With
    a server `context`, it accepts TLS and forwards the plaintext (a TLS-terminating proxy)."""

    def __init__(self, port: int, target: int, context: ssl.SSLContext | None = None) -> None:
        self.port = port
        self.target = target
        self.context = context
        self.up = True
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self.port, ssl=self.context
        )

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def cut(self) -> None:
        self.up = False
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def restore(self) -> None:
        self.up = True

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        self._writers -= {writer, up_writer}


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, ConnectionError, ssl.SSLError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.transport.abort()


@contextlib.asynccontextmanager
async def broker_behind_proxy() -> AsyncIterator[tuple[str, Proxy]]:
    """(bootstrap address, proxy) of a fresh Tansu reachable only through the proxy."""
    listen, advertised = free_port(), free_port()
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(
        [
            EmbeddedBroker.binary(),
            "broker",
            "--listener-url",
            f"tcp://127.0.0.1:{listen}",
            "--advertised-listener-url",
            f"tcp://127.0.0.1:{advertised}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    proxy = Proxy(advertised, listen)
    bootstrap = f"127.0.0.1:{advertised}"
    try:
        await proxy.start()
        await _wait_ready(bootstrap)
        yield bootstrap, proxy
    finally:
        await proxy.stop()
        process.terminate()
        process.wait(10)
        log.close()


async def _wait_ready(bootstrap: str, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=2000)
        try:
            await admin.start()
            await admin.list_topics()
            return
        except (KafkaError, OSError):
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)
        finally:
            await admin.close()
