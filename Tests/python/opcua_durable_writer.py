#!/usr/bin/env python3
"""An OPC UA writer for the edge's durability test: each printer's fields in one Write, as fast
as the edge answers, logging which Writes were answered Good.

    opcua_durable_writer.py URL --printers dmls-01,fdm-01 --first K --count N --start-ns T

One asyncua ``Client`` (one connection, one session); one task per printer writes samples
K, K+1, … (at most N) one after the other, every field of the sample in one Write whose
DataValues carry the SourceTimestamp ``T + k s``, so that each sample is one record. The tasks
run concurrently on the connection. On stdout, flushed line by line:

    attempt PRINTER TIMESTAMP_NS      before the Write is sent
    good PRINTER TIMESTAMP_NS         every item of the Write answered Good
    bad PRINTER TIMESTAMP_NS STATUS   an item answered otherwise
    stopped REASON                    the connection failed (the edge was killed) or N were written

The exit status is 0 whenever it stopped that way; it never retries a Write.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
from datetime import datetime, timezone

from asyncua import Client, ua

NAMESPACE = "urn:sinter:printers"
SIDE = 100


def emit(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def fields(printer: str, k: int, rng: random.Random) -> list[tuple[str, ua.Variant]]:
    if printer.startswith("dmls"):
        flat = [round(20 + rng.random() * 60, 2) for _ in range(SIDE * SIDE)]
        rows = [flat[r * SIDE:(r + 1) * SIDE] for r in range(SIDE)]
        return [
            ("Temperature", ua.Variant(rows, ua.VariantType.Float, Dimensions=[SIDE, SIDE])),
            ("PowerKW", ua.Variant(1 + k % 7 / 2, ua.VariantType.Double)),
            ("VibrationMmS", ua.Variant(rng.random(), ua.VariantType.Double)),
            ("PlateTempC", ua.Variant(180 + rng.random(), ua.VariantType.Double)),
            ("ChamberTempC", ua.Variant(35 + rng.random(), ua.VariantType.Double)),
            ("Layer", ua.Variant(k, ua.VariantType.UInt32)),
            ("State", ua.Variant("printing", ua.VariantType.String)),
        ]
    return [
        ("NozzleTempC", ua.Variant(210 + rng.random(), ua.VariantType.Double)),
        ("BedTempC", ua.Variant(60 + rng.random(), ua.VariantType.Double)),
        ("FilamentFlow", ua.Variant(rng.random(), ua.VariantType.Double)),
        ("ExtruderLoad", ua.Variant(rng.random(), ua.VariantType.Double)),
        ("PrintProgress", ua.Variant(k / 1000, ua.VariantType.Double)),
        ("PowerKW", ua.Variant(0.3 + k % 5 / 10, ua.VariantType.Double)),
        ("State", ua.Variant("printing", ua.VariantType.String)),
    ]


async def write_printer(client: Client, ns: int, printer: str, args: argparse.Namespace) -> None:
    rng = random.Random(f"{args.seed}-{printer}")
    for k in range(args.first, args.first + args.count):
        timestamp_ns = args.start_ns + k * 1_000_000_000
        source = datetime.fromtimestamp(timestamp_ns // 1_000_000_000, tz=timezone.utc)
        params = ua.WriteParameters()
        for name, variant in fields(printer, k, rng):
            item = ua.WriteValue()
            item.NodeId = ua.NodeId(f"{printer}.{name}", ns)
            item.AttributeId = ua.AttributeIds.Value
            item.Value = ua.DataValue(variant, SourceTimestamp=source)
            params.NodesToWrite.append(item)
        emit(f"attempt {printer} {timestamp_ns}")
        results = await client.uaclient.write(params)
        bad = [r for r in results if not r.is_good()]
        if bad:
            emit(f"bad {printer} {timestamp_ns} {bad[0].name}")
        else:
            emit(f"good {printer} {timestamp_ns}")


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--printers", required=True)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--start-ns", type=int, required=True)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    client = Client(args.url, timeout=3)   # a Write in flight when the edge is killed fails after this
    try:
        await client.connect()
        namespaces = await client.get_node(ua.NodeId(ua.ObjectIds.Server_NamespaceArray)).read_value()
        ns = namespaces.index(NAMESPACE)
        await asyncio.gather(*(write_printer(client, ns, p, args) for p in args.printers.split(",")))
        emit(f"stopped wrote {args.count} samples per printer")
    except Exception as error:   # the edge was killed: the connection is gone
        emit(f"stopped {type(error).__name__}: {error}".replace("\n", " "))
    finally:
        try:
            await asyncio.wait_for(client.disconnect(), 2)
        except Exception:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
