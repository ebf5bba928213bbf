"""`firmware-bridge --config PATH [--hub URL] [--token TOKEN] [--demo] [--check]` (SPEC §9).

Reads the center's TOML (`[bridge]`, `[[bridge.buses]]`, `[[bridge.devices]]`; see
docs/configuration.md), drives the RS485 devices and talks to the hub only over HTTP and Socket.IO
with a device token. `--demo`: the demo hub's device token (`demo-device`) when none is given — the
simulated devices on pseudo-terminals are started by `make run`. `--check`: validate the file,
name the bad key and line, and exit (0 good, 2 bad).
"""

from __future__ import annotations

import argparse
import logging
import sys

from .config import BridgeConfigError, load_bridge_config

DEMO_TOKEN = "demo-device"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="firmware-bridge",
                                 description="Quầy số RS485 device bridge (Modbus RTU master)")
    ap.add_argument("--config", required=True, help="the center's TOML file")
    ap.add_argument("--hub", help="the hub's base URL (default: [bridge] hub, else http://127.0.0.1:<[server] port>)")
    ap.add_argument("--token", help="device token with the counter and rate scopes (default: [bridge] token)")
    ap.add_argument("--demo", action="store_true", help="use the demo hub's device token when none is given")
    ap.add_argument("--check", action="store_true", help="check the config and exit")
    ap.add_argument("--log-level", default="INFO")
    args = ap.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_bridge_config(args.config, hub=args.hub, token=args.token)
    except BridgeConfigError as exc:
        print(f"firmware-bridge: {exc}", file=sys.stderr)
        return 2
    if cfg.token is None and args.demo:
        from dataclasses import replace
        cfg = replace(cfg, token=DEMO_TOKEN)
    if args.check:
        print(f"{args.config}: {len(cfg.buses)} bus(es), {len(cfg.devices)} device(s): OK")
        return 0
    if not cfg.token:
        print("firmware-bridge: no device token: set [bridge] token or give --token", file=sys.stderr)
        return 2
    from .bridge import Bridge
    bridge = Bridge(cfg)
    bridge.start()
    bridge.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
