#!/usr/bin/env python3
"""An asyncua (PyPI ``asyncua==1.1.5``) OPC UA server exposing the Sinter printer address space.

The interoperability tests run it as a separate process so that sinter-opcua's client talks to a
real, independent OPC UA stack. It exposes the shared contract:

- namespace ``urn:sinter:printers`` (its index is whatever the server assigns; clients read it
  from NamespaceArray);
- Objects → folder ``<ns>:Printers`` (``ns=<ns>;s=Printers``) → one object per printer
  (``ns=<ns>;s=<printer-id>``) whose variables are ``ns=<ns>;s=<printer-id>.<Name>``, all readable
  and writable by anyone: DMLS printers have Temperature (Float matrix 100 × 100, all 25.0),
  PowerKW, VibrationMmS (Double) and State (String); FDM printers have NozzleTempC, BedTempC,
  FilamentFlow, ExtruderLoad, PrintProgress, PowerKW (Double) and State (String);
- SecurityPolicy None only; anonymous sessions, and UserName sessions for the ``--user`` pairs
  (default ``operator:s3cret``) — any other user name or password is refused with
  BadUserAccessDenied.

UserName over SecurityPolicy None: asyncua advertises a ``username`` UserTokenPolicy whose
SecurityPolicyUri is empty, meaning "the endpoint's policy", here None; a client therefore sends
the password in plain text with a null EncryptionAlgorithm, and asyncua's
``InternalServer.check_user_token`` hands such a password (UTF-8 decoded) to the user manager
as it is. Nothing more needs switching on; :class:`PasswordUserManager` below decides.

Buffers: asyncua's ``Server.limits`` (a ``TransportLimits``, 65535 bytes each way by default) is
what it answers a Hello with (``min`` of the client's offer and its own limit), and is copied for
each connection. ``--max-buffer-size N`` sets both its receive and send buffer to N, so chunks
larger than N are refused (ERR BadRequestTooLarge) and responses are chunked to at most N.

Output on stdout, one line each, flushed:
- ``listening opc.tcp://127.0.0.1:<port>`` once clients can connect;
- ``hello receive_buffer=<n> send_buffer=<n> max_message_size=<n> max_chunk_count=<n>`` for every
  client Hello, as the client sent it (the tests check what a client offered);
- ``stopped (<reason>)`` on the way out.

The process ends by itself after ``--lifetime`` seconds (default 120) and on SIGTERM/SIGINT,
with status 0 in both cases.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import signal
import sys
import time

from asyncua import Server, ua
from asyncua.common.connection import TransportLimits
from asyncua.server.users import User, UserRole

NAMESPACE = "urn:sinter:printers"
MATRIX_SIDE = 100
INITIAL_TEMPERATURE = 25.0
DMLS_DOUBLES = ("PowerKW", "VibrationMmS")
FDM_DOUBLES = ("NozzleTempC", "BedTempC", "FilamentFlow", "ExtruderLoad", "PrintProgress", "PowerKW")
MAX_MESSAGE_SIZE = 100 * 1024 * 1024   # asyncua's own default


def say(line: str) -> None:
    print(line, flush=True)


class PasswordUserManager:
    """Anonymous sessions are users; UserName sessions must match one of `users` exactly."""

    def __init__(self, users: dict[str, str]) -> None:
        self.users = users

    def get_user(self, iserver, username=None, password=None, certificate=None):
        if username is None:
            # Anonymous (asyncua passes no user name for an AnonymousIdentityToken).
            return User(role=UserRole.User)
        if username in self.users and self.users[username] == password:
            return User(role=UserRole.User, name=username)
        return None   # → ServiceError(BadUserAccessDenied) in asyncua's activate_session


class ReportingLimits(TransportLimits):
    """TransportLimits that print each client Hello before answering it."""

    def create_acknowledge_and_set_limits(self, msg: ua.Hello) -> ua.Acknowledge:
        say(f"hello receive_buffer={msg.ReceiveBufferSize} send_buffer={msg.SendBufferSize} "
            f"max_message_size={msg.MaxMessageSize} max_chunk_count={msg.MaxChunkCount}")
        return super().create_acknowledge_and_set_limits(msg)


def parse_users(values: list[str]) -> dict[str, str]:
    users = {}
    for value in values:
        name, colon, password = value.partition(":")
        if not colon or not name:
            raise argparse.ArgumentTypeError(f"--user {value!r}: expected NAME:PASSWORD")
        users[name] = password
    return users


def parse_printers(value: str) -> list[str]:
    printers = [p.strip() for p in value.split(",") if p.strip()]
    for printer in printers:
        if not printer.startswith(("dmls-", "fdm-")):
            raise argparse.ArgumentTypeError(f"--printers: {printer!r} is neither dmls-… nor fdm-…")
    if not printers:
        raise argparse.ArgumentTypeError("--printers: no printer named")
    return printers


async def add_printer(folder, ns: int, printer: str) -> None:
    node = await folder.add_object(ua.NodeId(printer, ns), ua.QualifiedName(printer, ns))

    async def variable(name: str, value: ua.Variant) -> None:
        var = await node.add_variable(ua.NodeId(f"{printer}.{name}", ns), ua.QualifiedName(name, ns), value)
        await var.set_writable()

    if printer.startswith("dmls-"):
        matrix = [[INITIAL_TEMPERATURE] * MATRIX_SIDE for _ in range(MATRIX_SIDE)]
        # A nested list makes asyncua infer Dimensions [100, 100] → ValueRank 2, ArrayDimensions [100, 100].
        await variable("Temperature", ua.Variant(matrix, ua.VariantType.Float))
        doubles = DMLS_DOUBLES
    else:
        doubles = FDM_DOUBLES
    for name in doubles:
        await variable(name, ua.Variant(0.0, ua.VariantType.Double))
    await variable("State", ua.Variant("idle", ua.VariantType.String))


async def serve(args: argparse.Namespace) -> int:
    started = time.monotonic()
    server = Server(user_manager=PasswordUserManager(args.users))
    await server.init()
    server.set_server_name("Sinter asyncua peer")
    await server.set_application_uri("urn:sinter:asyncua-peer")
    server.set_endpoint(f"opc.tcp://{args.host}:{args.port}")
    server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    server.set_security_IDs(["Anonymous", "Username"])

    buffer = args.max_buffer_size or server.limits.max_recv_buffer
    server.limits = ReportingLimits(max_recv_buffer=buffer, max_send_buffer=buffer,
                                    max_chunk_count=math.ceil(MAX_MESSAGE_SIZE / buffer),
                                    max_message_size=MAX_MESSAGE_SIZE)

    ns = await server.register_namespace(NAMESPACE)
    folder = await server.nodes.objects.add_folder(ua.NodeId("Printers", ns), ua.QualifiedName("Printers", ns))
    for printer in args.printers:
        await add_printer(folder, ns, printer)

    await server.start()
    port = server.bserver.port
    url = f"opc.tcp://{args.host}:{port}"
    # With --port 0 the endpoint descriptions were made before the port was known: name the real one.
    for endpoint in server.iserver.endpoints:
        endpoint.EndpointUrl = url
        endpoint.Server.DiscoveryUrls = [url]
    logging.getLogger("opcua_peer_server").info("started in %.2f s (namespace index %d)",
                                                time.monotonic() - started, ns)

    stop = asyncio.Event()
    reason = "lifetime over"
    loop = asyncio.get_running_loop()

    def on_signal(name: str) -> None:
        nonlocal reason
        reason = name
        stop.set()

    loop.add_signal_handler(signal.SIGTERM, on_signal, "SIGTERM")
    loop.add_signal_handler(signal.SIGINT, on_signal, "SIGINT")
    say(f"listening {url}")
    try:
        await asyncio.wait_for(stop.wait(), timeout=args.lifetime)
    except asyncio.TimeoutError:
        pass
    try:
        await asyncio.wait_for(server.stop(), timeout=10)
    except asyncio.TimeoutError:
        logging.getLogger("opcua_peer_server").warning("server.stop() did not finish within 10 s")
    say(f"stopped ({reason})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--printers", type=parse_printers, default=parse_printers("dmls-01,fdm-01"),
                        help="comma-separated printer ids, dmls-… or fdm-… (default dmls-01,fdm-01)")
    parser.add_argument("--user", action="append", default=[], metavar="NAME:PASSWORD",
                        help="an accepted UserName identity (repeatable; default operator:s3cret)")
    parser.add_argument("--max-buffer-size", type=int, default=0, metavar="N",
                        help="receive and send buffer size in bytes (default asyncua's 65535); minimum 8192")
    parser.add_argument("--lifetime", type=float, default=120, metavar="S", help="exit after S seconds (default 120)")
    parser.add_argument("--verbose", action="store_true", help="asyncua's INFO logs on stderr")
    args = parser.parse_args(argv)
    if args.max_buffer_size and args.max_buffer_size < 8192:
        parser.error("--max-buffer-size must be at least 8192 (OPC 10000-6 §7.1.2.3)")
    args.users = parse_users(args.user or ["operator:s3cret"])
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("opcua_peer_server").setLevel(logging.INFO)
    return asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
