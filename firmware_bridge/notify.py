"""systemd's notify protocol for `firmware-bridge` (sd_notify(3)): one datagram to $NOTIFY_SOCKET.

The hub's queue_server/serving.py sends its datagrams with `sd_notify` too (the bridge may not
import queue_server, pyproject.toml's import contracts; the other way round is allowed, and this
module imports the standard library only). No library needed: the protocol is one AF_UNIX
datagram of "KEY=value" lines; an address starting with "@" is in the abstract namespace.
"""

from __future__ import annotations

import os
import socket


def sd_notify(message: str, address: str | None = None) -> bool:
    """Send `message` ("READY=1", "WATCHDOG=1", "STOPPING=1") to `address`, by default
    $NOTIFY_SOCKET. False (and nothing sent) when not run by systemd or the socket is gone; never
    raises."""
    address = address or os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.sendto(message.encode(), address)
        except OSError:
            return False
    return True


def watchdog_interval_s() -> float | None:
    """Half of $WATCHDOG_USEC in seconds (how often to send WATCHDOG=1), or None when systemd
    set no watchdog for this process ($WATCHDOG_PID, when set, must be ours)."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid.isdigit() and int(pid) != os.getpid()):
        return None
    return int(usec) / 2e6
