"""A stand-in for a real machine's own OPC UA server (asyncua 1.1.5), run as a separate process.

Not a Sinter printer: its own namespace (``urn:acme:press``, registered after another one so
that its index is not the usual 2) and its own names, the way a vendor's press would expose
itself, for ``sinter-edge --listen none --subscribe URL --mapping FILE``:

    Objects/Press7 (ns=<acme>;s=Press7)
        Press7.Thermal     Float[100][100] (ValueRank 2), or Float[10000] with --flat
        Press7.Power       Double (kW)
        Press7.Vibration   Float (mm/s)
        Press7.Status      String

A sample is one value for each of the four variables, all with the same SourceTimestamp:
sample k is stamped ``--start`` + k × ``--step-ms``. Sample 0 is the variables' initial value,
set before the server starts (a subscriber receives it as the initial notification of each
monitored item). The machine then waits until ``--wait-monitored`` monitored items exist on its
server (a subscriber is in place), and writes samples 1…``--samples`` at ``--hz``.

asyncua only notifies a data change when the value (or status) differs from the previous one
(the default DataChangeFilter trigger, StatusValue), so every sample changes every variable: a
fresh random frame, power and vibration, and a status alternating printing / recoating.

Output on stdout, one line each:
    listening opc.tcp://127.0.0.1:PORT ns=IDX
    sample {"index": k, "timestamp_ns": …, "power": …, "vibration": …, "status": …, "frame": [10000 floats]}
    subscribed monitored_items=M
    done N samples
    stopped (SIGTERM | lifetime over)
Every number in a sample line is exactly what went over the wire (Float values rounded to
Float32). The process exits on SIGTERM/SIGINT or after ``--lifetime`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import signal
import struct
import sys
import time
from datetime import datetime, timedelta, timezone

from asyncua import Server, ua

NAMESPACE = "urn:acme:press"
OTHER_NAMESPACE = "urn:acme:plant-model"   # registered first, so NAMESPACE gets index 3
SIDE = 100
STATUSES = ("printing", "recoating")


def say(line: str) -> None:
    print(line, flush=True)


def f32(value: float) -> float:
    """`value` rounded to Float32, as a Python float."""
    return struct.unpack("<f", struct.pack("<f", value))[0]


def epoch_ns(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def make_sample(rng: random.Random, index: int, start: datetime, step_ms: int) -> dict:
    moment = start + timedelta(milliseconds=index * step_ms)
    return {
        "index": index,
        "time": moment,
        "timestamp_ns": epoch_ns(moment),
        "power": round(rng.uniform(1.0, 5.0), 3),                 # Double: exact
        "vibration": f32(round(rng.uniform(0.1, 2.0), 3)),        # Float
        "status": STATUSES[index % 2],
        "frame": [f32(round(rng.uniform(20.0, 80.0), 2)) for _ in range(SIDE * SIDE)],
    }


def frame_variant(frame: list[float], flat: bool) -> ua.Variant:
    if flat:
        return ua.Variant(frame, ua.VariantType.Float)
    # A nested list makes asyncua infer Dimensions [100, 100] → ValueRank 2, ArrayDimensions [100, 100].
    return ua.Variant([frame[row * SIDE:(row + 1) * SIDE] for row in range(SIDE)], ua.VariantType.Float)


def monitored_items(server: Server) -> int:
    """Monitored items on this server right now (asyncua 1.1.5 internals)."""
    subscriptions = server.iserver.subscription_service.subscriptions
    return sum(len(sub.monitored_item_srv._monitored_items) for sub in list(subscriptions.values()))


async def run(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    start = datetime.fromisoformat(args.start.replace("Z", "+00:00"))
    server = Server()
    await server.init()
    server.set_server_name("ACME Press 7")
    await server.set_application_uri("urn:acme:press7")
    server.set_endpoint(f"opc.tcp://{args.host}:{args.port}")
    server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    await server.register_namespace(OTHER_NAMESPACE)
    ns = await server.register_namespace(NAMESPACE)
    press = await server.nodes.objects.add_object(ua.NodeId("Press7", ns), ua.QualifiedName("Press7", ns))

    first = make_sample(rng, 0, start, args.step_ms)
    variables = {}
    initial = {
        "Thermal": frame_variant(first["frame"], args.flat),
        "Power": ua.Variant(first["power"], ua.VariantType.Double),
        "Vibration": ua.Variant(first["vibration"], ua.VariantType.Float),
        "Status": ua.Variant(first["status"], ua.VariantType.String),
    }
    for name, variant in initial.items():
        variables[name] = await press.add_variable(ua.NodeId(f"Press7.{name}", ns), ua.QualifiedName(name, ns), variant)

    async def write(sample: dict) -> None:
        values = {
            "Thermal": frame_variant(sample["frame"], args.flat),
            "Power": ua.Variant(sample["power"], ua.VariantType.Double),
            "Vibration": ua.Variant(sample["vibration"], ua.VariantType.Float),
            "Status": ua.Variant(sample["status"], ua.VariantType.String),
        }
        for name, variant in values.items():
            value = ua.DataValue(Value=variant, SourceTimestamp=sample["time"], ServerTimestamp=sample["time"])
            status = await server.write_attribute_value(variables[name].nodeid, value)
            if status is not None and not status.is_good():
                raise RuntimeError(f"write of Press7.{name} failed: {status}")

    def report(sample: dict) -> None:
        say("sample " + json.dumps({k: v for k, v in sample.items() if k != "time"}, separators=(",", ":")))

    await write(first)   # the initial values carry sample 0's SourceTimestamp
    await server.start()
    port = server.bserver.port
    url = f"opc.tcp://{args.host}:{port}"
    # With --port 0 the endpoint descriptions were made before the port was known: name the real one.
    for endpoint in server.iserver.endpoints:
        endpoint.EndpointUrl = url
        endpoint.Server.DiscoveryUrls = [url]

    stop = asyncio.Event()
    reason = "lifetime over"
    loop = asyncio.get_running_loop()

    def on_signal(name: str) -> None:
        nonlocal reason
        reason = name
        stop.set()

    loop.add_signal_handler(signal.SIGTERM, on_signal, "SIGTERM")
    loop.add_signal_handler(signal.SIGINT, on_signal, "SIGINT")
    deadline = time.monotonic() + args.lifetime
    say(f"listening {url} ns={ns}")
    report(first)

    async def produce() -> None:
        while monitored_items(server) < args.wait_monitored:
            await asyncio.sleep(0.05)   # polling interval
        say(f"subscribed monitored_items={monitored_items(server)}")
        period = 1.0 / args.hz
        due = time.monotonic()
        for index in range(1, args.samples + 1):
            due += period
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            sample = make_sample(rng, index, start, args.step_ms)
            await write(sample)
            report(sample)
        say(f"done {args.samples} samples")

    producer = asyncio.create_task(produce())
    try:
        await asyncio.wait_for(stop.wait(), timeout=max(0.0, deadline - time.monotonic()))
    except asyncio.TimeoutError:
        pass
    producer.cancel()
    try:
        await producer
    except asyncio.CancelledError:
        pass
    try:
        await asyncio.wait_for(server.stop(), timeout=10)
    except asyncio.TimeoutError:
        logging.getLogger("opcua_machine").warning("server.stop() did not finish within 10 s")
    say(f"stopped ({reason})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--samples", type=int, default=10, help="samples written after sample 0 (default 10)")
    parser.add_argument("--hz", type=float, default=5.0, help="samples per wall second (default 5)")
    parser.add_argument("--step-ms", type=int, default=200, help="SourceTimestamp step between samples (default 200)")
    parser.add_argument("--start", default="2026-11-21T10:00:00Z", help="SourceTimestamp of sample 0 (RFC 3339)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--flat", action="store_true", help="Press7.Thermal as a flat Float[10000]")
    parser.add_argument("--wait-monitored", type=int, default=4, metavar="M",
                        help="write samples 1… only once M monitored items exist (default 4; 0: at once)")
    parser.add_argument("--lifetime", type=float, default=120, metavar="S", help="exit after S seconds (default 120)")
    args = parser.parse_args(argv)
    if args.samples < 0 or args.hz <= 0 or args.step_ms <= 0:
        parser.error("--samples must be ≥ 0, --hz and --step-ms positive")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
