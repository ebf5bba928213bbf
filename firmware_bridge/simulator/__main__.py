"""`device-simulator`: the simulated RS485 devices of a center's `[bridge]` config on pty pairs.

    device-simulator --config center.toml [--data DIR] [--http-port N] [--no-pace]
    device-simulator --demo [--data DIR]          # the demo rig of `make run`

Makes every `[[bridge.buses]]` port a pty (the bridge opens it as configured), serves the
`[[bridge.devices]]` on it with pymodbus, and serves the technician's page and control API at
http://127.0.0.1:<http-port>/ (default 8091). SIGINT or SIGTERM stops it and removes the ptys.
With --demo, the rig comes from the packaged demo-bridge.toml, written with its ports filled in to
<data>/rs485/bridge.toml for the bridge to read.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from importlib import resources
from pathlib import Path

from .rig import DeviceRig, RigConfigError, read_rig_spec
from .web import TechnicianServer

DEFAULT_HTTP_PORT = 8091


def write_demo_config(rs485: Path) -> Path:
    """The demo rig's config with its ports under `rs485` (absolute), written to rs485/bridge.toml."""
    rs485 = rs485.resolve()
    rs485.mkdir(parents=True, exist_ok=True)
    text = resources.files(__package__).joinpath("demo-bridge.toml").read_text(encoding="utf-8")
    path = rs485 / "bridge.toml"
    path.write_text(text.replace("@RS485@", str(rs485)), encoding="utf-8")
    return path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="device-simulator", description=__doc__.split("\n\n")[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--config", help="the center's TOML with [bridge] buses and devices")
    src.add_argument("--demo", action="store_true", help="the demo rig of `make run`")
    p.add_argument("--data", default="data", help="folder for the rig's state (default: data)")
    p.add_argument("--host", default="127.0.0.1", help="the technician's page address")
    p.add_argument("--http-port", type=int, default=DEFAULT_HTTP_PORT, help="its port (0: any free)")
    p.add_argument("--no-pace", action="store_true", help="do not pace bytes at the baud rate")
    p.add_argument("--turnaround-ms", type=float, default=5.0, help="device turnaround on a paced line")
    p.add_argument("--display-size", type=int, default=4, choices=range(4, 9), metavar="4..8",
                   help="characters of counter displays and terminals (default 4)")
    p.add_argument("--verbose", action="store_true", help="log pymodbus's frame errors")
    return p.parse_args(argv)


async def run(args: argparse.Namespace) -> int:
    data = Path(args.data)
    config = write_demo_config(data / "rs485") if args.demo else Path(args.config)
    try:
        spec = read_rig_spec(config)
    except RigConfigError as e:
        print(f"device-simulator: {e}", file=sys.stderr)
        return 2
    rig = DeviceRig(spec, data / "device-simulator", pace=not args.no_pace,
                    turnaround_ms=args.turnaround_ms, display_size=args.display_size)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await rig.start()
    page = None
    try:
        page = TechnicianServer(rig, args.host, args.http_port).start()
        for name, bus in rig.buses.items():
            print(f"device-simulator: {name}: {len(bus.devices)} devices on {bus.spec.port} "
                  f"({bus.spec.baud} baud{', paced' if rig.pace else ''})", flush=True)
        if args.demo:
            print(f"device-simulator: bridge config {config}", flush=True)
        print(f"device-simulator: technician's page {page.url}/", flush=True)
        await stop.wait()
    finally:
        if page is not None:
            page.close()
        await rig.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("pymodbus").setLevel(logging.DEBUG if args.verbose else logging.CRITICAL)
    try:
        return asyncio.run(run(args))
    except OSError as e:
        print(f"device-simulator: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
