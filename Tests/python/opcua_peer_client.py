#!/usr/bin/env python3
"""The OPC UA interoperability check set, run with asyncua's (PyPI ``asyncua==1.1.5``) Client.

    opcua_peer_client.py URL --printer dmls-01 [--username U --password P] [--buffer-size N]
                         [--only name,name] [--timeout S] [--seed N]

Each check prints one JSON line on stdout, ``{"check": name, "ok": bool, "detail": text}``, in
this order: connect, browse_server, read_namespace_array, read_server_status,
translate_browse_path, write_read_matrix, subscription. The exit status is 0 iff every printed
check is ok. ``connect`` always runs (it is printed when selected, or when it fails); when it
fails nothing else runs and the status is 1.

``--buffer-size N`` makes the Hello offer N-byte receive and send buffers (and no limit on the
message size or chunk count). asyncua 1.1.5 has no setting for that: ``UASocketProtocol.send_hello``
always sends ``ua.Hello()``'s defaults (2**31 - 1 for both buffers). So the connection is made
step by step (``connect_socket``, our Hello, ``open_secure_channel``, ``create_session``,
``activate_session``) and our Hello goes through the same protocol object, future map and
transport asyncua uses for its own (:func:`send_hello`). The server's Acknowledge then sets
asyncua's TransportLimits as usual (``update_client_limits``): it refuses received chunks larger
than the acknowledged receive buffer and splits what it sends to the acknowledged send buffer.
The connect detail reports the acknowledged sizes, and the matrix check reports the number and
the largest size of the chunks each way, counted on the wire bytes (:class:`ChunkCounter`).

Writes send a DataValue holding only the Variant (no timestamps), the plainest Write there is.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import json
import logging
import random
import struct
import sys
import time
from datetime import datetime, timezone

from asyncua import Client, ua
from asyncua.common.subscription import Subscription
from asyncua.ua.uaprotocol_hand import MessageType
from asyncua.ua.ua_binary import uatcp_to_binary

NAMESPACE = "urn:sinter:printers"
STANDARD_NAMESPACE = "http://opcfoundation.org/UA/"
CHECKS = ("connect", "browse_server", "read_namespace_array", "read_server_status", "translate_browse_path",
          "write_read_matrix", "subscription")
MATRIX_SIDE = 100
CLOCK_TOLERANCE_SECONDS = 120
NOTIFICATION_WAIT_SECONDS = 5.0
SUBSCRIPTION_WRITES = 5
SUBSCRIPTION_NEEDED = 3
PUBLISHING_INTERVAL_MS = 100.0

log = logging.getLogger("opcua_peer_client")


def matrix_values(seed: int) -> list[float]:
    """10,000 values in 20…80 from a seeded generator, rounded to Float32 so they compare exactly."""
    generator = random.Random(seed)
    return array.array("f", (generator.uniform(20.0, 80.0) for _ in range(MATRIX_SIDE * MATRIX_SIDE))).tolist()


class CheckFailed(Exception):
    """A check ran and its result is wrong (the message is the detail)."""


def describe(error: BaseException) -> str:
    """An exception as a detail string; for OPC UA status errors the status name and code come first."""
    if isinstance(error, ua.UaStatusCodeError):
        code = getattr(error, "code", None)
        name = ua.StatusCode(code).name if code is not None else type(error).__name__
        return f"{name} (0x{code:08X}): {error}" if code is not None else f"{name}: {error}"
    if isinstance(error, asyncio.TimeoutError):
        return "TimeoutError: no answer in time"
    return f"{type(error).__name__}: {error}"


async def send_hello(client: Client, buffer_size: int) -> ua.Acknowledge:
    """Sends a Hello offering `buffer_size`-byte buffers on `client`'s socket and awaits the Acknowledge.

    Mirrors asyncua 1.1.5's ``UASocketProtocol.send_hello`` with the two buffer fields set.
    """
    protocol = client.uaclient.protocol
    hello = ua.Hello()
    hello.EndpointUrl = client.server_url.geturl()
    hello.ReceiveBufferSize = buffer_size
    hello.SendBufferSize = buffer_size
    hello.MaxMessageSize = client.max_messagesize
    hello.MaxChunkCount = client.max_chunkcount
    ack: asyncio.Future = asyncio.get_running_loop().create_future()
    protocol._callbackmap[0] = ack
    protocol.transport.write(uatcp_to_binary(MessageType.Hello, hello))
    result = await asyncio.wait_for(ack, protocol.timeout)
    if isinstance(result, ua.UaStatusCodeError):
        raise result
    return result


class ChunkCounter:
    """Counts the UACP chunks (MSG/OPN/CLO) asyncua sends and receives on one connection, from the wire bytes."""

    def __init__(self, client: Client) -> None:
        protocol = client.uaclient.protocol
        self.sent: list[int] = []
        self.received: list[int] = []
        self._pending = b""
        connection = protocol._connection
        original_to_binary = connection.message_to_binary
        original_data_received = protocol.data_received

        def message_to_binary(*args, **kwargs):
            data = original_to_binary(*args, **kwargs)
            self.sent.extend(self._sizes(data))
            return data

        def data_received(data: bytes):
            self._pending += data
            while len(self._pending) >= 8:
                size = struct.unpack_from("<I", self._pending, 4)[0]
                if size < 8 or len(self._pending) < size:
                    break
                self.received.append(size)
                self._pending = self._pending[size:]
            return original_data_received(data)

        connection.message_to_binary = message_to_binary
        protocol.data_received = data_received

    @staticmethod
    def _sizes(data: bytes) -> list[int]:
        sizes, offset = [], 0
        while offset + 8 <= len(data):
            size = struct.unpack_from("<I", data, offset + 4)[0]
            if size < 8:
                break
            sizes.append(size)
            offset += size
        return sizes

    def mark(self) -> tuple[int, int]:
        return len(self.sent), len(self.received)

    def since(self, mark: tuple[int, int]) -> tuple[list[int], list[int]]:
        return self.sent[mark[0]:], self.received[mark[1]:]


class Runner:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.client = Client(args.url, timeout=args.timeout)
        self.chunks: ChunkCounter | None = None
        self.session_created = False
        self._ns: int | None = None

    # MARK: connect

    async def connect(self) -> str:
        client = self.client
        if self.args.username is not None:
            client.set_user(self.args.username)
            client.set_password(self.args.password or "")
        await client.connect_socket()
        self.chunks = ChunkCounter(client)
        if self.args.buffer_size:
            await send_hello(client, self.args.buffer_size)
        else:
            await client.send_hello()
        limits = client.uaclient.protocol._connection._limits
        await client.open_secure_channel()
        await client.create_session()
        self.session_created = True
        await client.activate_session(username=self.args.username, password=self.args.password)
        identity = f"UserName {self.args.username!r}" if self.args.username is not None else "anonymous"
        return (f"session activated ({identity}); acknowledged receive buffer {limits.max_recv_buffer}, "
                f"send buffer {limits.max_send_buffer}, max message {limits.max_message_size}, "
                f"max chunks {limits.max_chunk_count}")

    async def disconnect(self) -> None:
        client = self.client
        try:
            if self.session_created:
                await asyncio.wait_for(client.close_session(), 5)
        except Exception as error:   # noqa: BLE001 — cleanup is best effort, the checks are already printed
            log.warning("close_session: %s", describe(error))
        try:
            await asyncio.wait_for(client.close_secure_channel(), 5)
        except Exception as error:   # noqa: BLE001
            log.warning("close_secure_channel: %s", describe(error))
        try:
            client.disconnect_socket()
        except Exception as error:   # noqa: BLE001
            log.warning("disconnect_socket: %s", describe(error))

    # MARK: helpers

    async def namespace_index(self) -> int:
        if self._ns is None:
            namespaces = await self.client.get_node(ua.NodeId(ua.ObjectIds.Server_NamespaceArray)).read_value()
            if NAMESPACE not in namespaces:
                raise CheckFailed(f"{NAMESPACE} is not in the NamespaceArray {namespaces}")
            self._ns = namespaces.index(NAMESPACE)
        return self._ns

    async def variable(self, name: str):
        ns = await self.namespace_index()
        return self.client.get_node(ua.NodeId(f"{self.args.printer}.{name}", ns))

    @staticmethod
    def _check_write(results) -> None:
        for status in results:
            if not status.is_good():
                raise ua.UaStatusCodeError(status.value)

    async def write(self, node, variant: ua.Variant) -> None:
        params = ua.WriteParameters()
        item = ua.WriteValue()
        item.NodeId = node.nodeid
        item.AttributeId = ua.AttributeIds.Value
        item.Value = ua.DataValue(variant)
        params.NodesToWrite = [item]
        self._check_write(await self.client.uaclient.write(params))

    # MARK: checks

    async def browse_server(self) -> str:
        node = self.client.get_node(ua.NodeId(ua.ObjectIds.Server))
        references = await node.get_references(refs=ua.ObjectIds.HierarchicalReferences,
                                               direction=ua.BrowseDirection.Forward, includesubtypes=True)
        names = sorted(r.BrowseName.Name for r in references)
        missing = {"ServerStatus", "NamespaceArray", "ServerCapabilities"} - set(names)
        if missing:
            raise CheckFailed(f"missing {sorted(missing)} among {names}")
        return f"{len(names)} forward hierarchical references: {', '.join(names)}"

    async def read_namespace_array(self) -> str:
        namespaces = await self.client.get_node(ua.NodeId(ua.ObjectIds.Server_NamespaceArray)).read_value()
        if not isinstance(namespaces, list) or not namespaces or namespaces[0] != STANDARD_NAMESPACE:
            raise CheckFailed(f"NamespaceArray {namespaces!r} does not start with {STANDARD_NAMESPACE}")
        if NAMESPACE not in namespaces:
            raise CheckFailed(f"{NAMESPACE} missing from NamespaceArray {namespaces}")
        self._ns = namespaces.index(NAMESPACE)
        return f"{NAMESPACE} at index {self._ns} of {namespaces}"

    async def read_server_status(self) -> str:
        status = await self.client.get_node(ua.NodeId(ua.ObjectIds.Server_ServerStatus)).read_value()
        if not isinstance(status, ua.ServerStatusDataType):
            raise CheckFailed(f"ServerStatus decoded as {type(status).__name__}: {status!r}")
        if status.State != ua.ServerState.Running:
            raise CheckFailed(f"ServerStatus.State is {status.State!r}, not Running")
        current = await self.client.get_node(ua.NodeId(ua.ObjectIds.Server_ServerStatus_CurrentTime)).read_value()
        if not isinstance(current, datetime):
            raise CheckFailed(f"CurrentTime is {type(current).__name__} {current!r}, not a DateTime")
        if current.tzinfo is None:
            current = current.replace(tzinfo=timezone.utc)
        skew = (current - datetime.now(timezone.utc)).total_seconds()
        if abs(skew) > CLOCK_TOLERANCE_SECONDS:
            raise CheckFailed(f"CurrentTime {current.isoformat()} is {skew:.1f} s off the local clock")
        product = status.BuildInfo.ProductName if status.BuildInfo else None
        return f"State Running, CurrentTime {skew:+.2f} s from the local clock, product {product!r}"

    async def translate_browse_path(self) -> str:
        ns = await self.namespace_index()
        printer = self.args.printer
        path = ua.BrowsePath()
        path.StartingNode = ua.NodeId(ua.ObjectIds.ObjectsFolder)
        for name in ("Printers", printer, "Temperature"):
            element = ua.RelativePathElement()
            element.ReferenceTypeId = ua.NodeId(ua.ObjectIds.HierarchicalReferences)
            element.IsInverse = False
            element.IncludeSubtypes = True
            element.TargetName = ua.QualifiedName(name, ns)
            path.RelativePath.Elements.append(element)
        text = f"Objects/{ns}:Printers/{ns}:{printer}/{ns}:Temperature"
        results = await self.client.uaclient.translate_browsepaths_to_nodeids([path])
        if len(results) != 1:
            raise CheckFailed(f"{len(results)} results for one browse path")
        result = results[0]
        if not result.StatusCode.is_good():
            raise CheckFailed(f"{text}: {result.StatusCode.name} (0x{result.StatusCode.value:08X})")
        targets = [t.TargetId for t in result.Targets]
        expected = ua.NodeId(f"{printer}.Temperature", ns)
        if len(targets) != 1 or targets[0].NamespaceIndex != ns or targets[0].Identifier != expected.Identifier:
            raise CheckFailed(f"{text} resolved to {[t.to_string() for t in targets]}, expected {expected.to_string()}")
        return f"{text} -> {expected.to_string()}"

    async def write_read_matrix(self) -> str:
        node = await self.variable("Temperature")
        seed = self.args.seed
        flat = matrix_values(seed)
        before = await node.read_data_value(raise_on_bad_status=False)
        if before.Value is not None and isinstance(before.Value.Value, list) and ua.flatten(before.Value.Value) == flat:
            # An earlier run wrote these very values: write others, so that the write must change something.
            seed += 1
            flat = matrix_values(seed)
        rows = [flat[r * MATRIX_SIDE:(r + 1) * MATRIX_SIDE] for r in range(MATRIX_SIDE)]
        mark = self.chunks.mark()
        await self.write(node, ua.Variant(rows, ua.VariantType.Float, Dimensions=[MATRIX_SIDE, MATRIX_SIDE]))
        write_sent, _ = self.chunks.since(mark)
        mark = self.chunks.mark()
        value = await node.read_data_value(raise_on_bad_status=False)
        _, read_received = self.chunks.since(mark)
        if value.StatusCode_ is not None and not value.StatusCode_.is_good():
            raise CheckFailed(f"read status {value.StatusCode_.name} (0x{value.StatusCode_.value:08X})")
        variant = value.Value
        if variant is None or variant.VariantType != ua.VariantType.Float:
            raise CheckFailed(f"read back {variant.VariantType if variant else None}, not Float")
        if list(variant.Dimensions or []) != [MATRIX_SIDE, MATRIX_SIDE]:
            raise CheckFailed(f"read back dimensions {variant.Dimensions}, expected [100, 100]")
        back = ua.flatten(variant.Value)
        if len(back) != len(flat):
            raise CheckFailed(f"read back {len(back)} values, wrote {len(flat)}")
        differing = [i for i, (a, b) in enumerate(zip(flat, back)) if a != b]
        if differing:
            i = differing[0]
            raise CheckFailed(f"{len(differing)} values differ, first at [{i // MATRIX_SIDE}][{i % MATRIX_SIDE}]: "
                              f"wrote {flat[i]!r}, read {back[i]!r}")
        return (f"10000 Float values (seed {seed}) written and read back equal, dimensions [100, 100]; "
                f"write sent in {len(write_sent)} chunks (largest {max(write_sent, default=0)} bytes), "
                f"read answered in {len(read_received)} chunks (largest {max(read_received, default=0)} bytes)")

    async def subscription(self) -> str:
        node = await self.variable("PowerKW")
        notifications: asyncio.Queue = asyncio.Queue()

        class Handler:
            def datachange_notification(self, node, val, data):
                notifications.put_nowait(val)

            def status_change_notification(self, status):
                log.warning("subscription status change: %s", status)

        # Client.create_subscription would follow any revision by the server with a ModifySubscription
        # request; the check needs CreateSubscription only, so the Subscription is made directly.
        params = ua.CreateSubscriptionParameters()
        params.RequestedPublishingInterval = PUBLISHING_INTERVAL_MS
        params.RequestedLifetimeCount = 600
        params.RequestedMaxKeepAliveCount = 20
        params.MaxNotificationsPerPublish = 1000
        params.PublishingEnabled = True
        params.Priority = 0
        subscription = Subscription(self.client.uaclient, params, Handler())
        created = await subscription.init()
        try:
            revised = (f"revised publishing interval {created.RevisedPublishingInterval} ms, "
                       f"lifetime {created.RevisedLifetimeCount}, keep-alive {created.RevisedMaxKeepAliveCount}")
            await subscription.subscribe_data_change(node)
            # Every written value differs from the current one and from the one written before it.
            current = await node.read_value()
            base = (current if isinstance(current, float) else 0.0) + 10.0
            arrived, missed = [], []
            for k in range(1, SUBSCRIPTION_WRITES + 1):
                value = base + k * 1.25
                await self.write(node, ua.Variant(value, ua.VariantType.Double))
                deadline = time.monotonic() + NOTIFICATION_WAIT_SECONDS
                while True:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        missed.append(value)
                        break
                    try:
                        seen = await asyncio.wait_for(notifications.get(), remaining)
                    except asyncio.TimeoutError:
                        missed.append(value)
                        break
                    if seen == value:
                        arrived.append(value)
                        break
        finally:
            try:
                await asyncio.wait_for(subscription.delete(), 5)
            except Exception as error:   # noqa: BLE001 — the verdict is already known
                log.warning("deleting the subscription: %s", describe(error))
        detail = (f"{len(arrived)}/{SUBSCRIPTION_WRITES} written values arrived as data-change notifications "
                  f"({revised})")
        if missed:
            detail += f"; missed {missed}"
        if len(arrived) < SUBSCRIPTION_NEEDED:
            raise CheckFailed(detail)
        return detail


def emit(name: str, ok: bool, detail: str) -> None:
    print(json.dumps({"check": name, "ok": ok, "detail": detail}), flush=True)


async def run(args: argparse.Namespace) -> int:
    runner = Runner(args)
    all_ok = True
    try:
        try:
            detail = await asyncio.wait_for(runner.connect(), args.timeout)
        except Exception as error:   # noqa: BLE001 — every failure becomes the connect check's detail
            emit("connect", False, describe(error))
            return 1
        if "connect" in args.only:
            emit("connect", True, detail)
        for name in CHECKS[1:]:
            if name not in args.only:
                continue
            try:
                deadline = args.timeout
                if name == "subscription":   # the notification waits come on top of the requests
                    deadline += SUBSCRIPTION_WRITES * NOTIFICATION_WAIT_SECONDS
                detail = await asyncio.wait_for(getattr(runner, name)(), deadline)
                emit(name, True, detail)
            except CheckFailed as failure:
                emit(name, False, str(failure))
                all_ok = False
            except Exception as error:   # noqa: BLE001
                emit(name, False, describe(error))
                all_ok = False
    finally:
        await runner.disconnect()
    return 0 if all_ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="opc.tcp://host:port")
    parser.add_argument("--printer", default="dmls-01", help="a DMLS printer id (default dmls-01)")
    parser.add_argument("--username")
    parser.add_argument("--password")
    parser.add_argument("--buffer-size", type=int, default=0, metavar="N",
                        help="offer N-byte receive and send buffers in the Hello (at least 8192)")
    parser.add_argument("--only", default=",".join(CHECKS), help="comma-separated check names")
    parser.add_argument("--timeout", type=float, default=30, metavar="S",
                        help="deadline of each request and of each check (default 30; the subscription check gets "
                             "25 s more for its notification waits)")
    parser.add_argument("--seed", type=int, default=5, help="seed of the matrix values (default 5)")
    parser.add_argument("--verbose", action="store_true", help="asyncua's INFO logs on stderr")
    args = parser.parse_args(argv)
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in args.only if name not in CHECKS]
    if unknown:
        parser.error(f"--only: unknown checks {unknown}; known: {', '.join(CHECKS)}")
    if args.buffer_size and args.buffer_size < 8192:
        parser.error("--buffer-size must be at least 8192 (OPC 10000-6 §7.1.2.3)")
    if (args.username is None) != (args.password is None):
        parser.error("--username and --password go together")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # asyncua warns on every plain-text password, which is what these tests do on purpose.
    logging.getLogger("asyncua.client.client").setLevel(logging.ERROR)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
