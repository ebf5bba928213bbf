#!/usr/bin/env bash
# `make run`: the demo center on simulated hardware — the hub (queue-server --demo), the simulated
# RS485 devices on pty pairs with their technician's page (device-simulator --demo), and the device
# bridge driving them (firmware-bridge). Ctrl-C (or SIGTERM) stops all three.
# Settings from the environment (the Makefile passes them): VENV, HOST, PORT, DATA, DEVICES_PORT,
# CONFIG (optional: the center file whose fields, counters and sections the demo takes).
set -uo pipefail
VENV=${VENV:-.venv}
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8080}
DATA=${DATA:-data}
DEVICES_PORT=${DEVICES_PORT:-8091}
CONFIG=${CONFIG:-}
HUB="http://$HOST:$PORT"

pids=()
stop() {
    trap - INT TERM EXIT
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    wait
    exit 0  # a Ctrl-C before the bridge started must not go on to start it, orphaned
}
trap stop INT TERM EXIT

"$VENV/bin/queue-server" --demo --host "$HOST" --port "$PORT" --data "$DATA" ${CONFIG:+--config "$CONFIG"} &
hub=$!
pids+=("$hub")
"$VENV/bin/device-simulator" --demo --data "$DATA" --http-port "$DEVICES_PORT" &
pids+=($!)

# The bridge starts once the hub answers and the simulator has made the ptys and written the rig's
# bridge config ($DATA/rs485/bridge.toml, the packaged firmware_bridge/simulator/demo-bridge.toml).
"$VENV/bin/python" - "$HUB" "$DATA/rs485/bridge.toml" <<'PY'
import sys, time, urllib.request, pathlib
hub, config = sys.argv[1], pathlib.Path(sys.argv[2])
for _ in range(600):
    try:
        if config.exists() and urllib.request.urlopen(hub + "/healthz", timeout=1).status == 200:
            break
    except OSError:
        pass
    time.sleep(0.1)
PY
if [ -x "$VENV/bin/firmware-bridge" ]; then
    "$VENV/bin/firmware-bridge" --demo --config "$DATA/rs485/bridge.toml" --hub "$HUB" &
    pids+=($!)
else
    echo "run-demo: firmware-bridge is not installed: the devices run without the bridge" >&2
fi
echo "run-demo: hub $HUB/  ·  simulated RS485 devices http://$HOST:$DEVICES_PORT/  (Ctrl-C stops all)"
wait "$hub"
