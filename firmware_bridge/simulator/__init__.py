"""The device rig: simulated RS485 devices of PROTOCOL.md on pty pairs, for `make run` and tests.

- `ptys` — socat pty pairs (the cable), restartable (an adapter unplugged and plugged back);
- `line` — the line simulator: a relay that paces bytes as an RS485 line would (a pty does not);
- `registers`, `event_queue`, `devices` — the device kinds of PROTOCOL.md, written independently of
  the bridge's own code (an independent peer);
- `modbus` — those devices as Modbus RTU slaves served by pymodbus on one serial port per bus;
- `faults` — faults injected at the boundary (lost replies and acks, late answers, bad CRC, ...);
- `rig` — every bus of a center's `[bridge]` config: pty pairs, line simulator, Modbus server;
- `web` — the technician's page: what each device shows, and its keys to press; the control API;
- `__main__` — the `device-simulator` command (`--config FILE` or `--demo`).

Nothing here imports the hub (queue_server) or the bridge's master; the rig talks to them only
through the serial line, as real devices do.
"""
