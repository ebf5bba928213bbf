"""Kiosk: ticket rendering and printing, dispensing, GPIO buttons, the touchscreen and phone pages.

python-escpos 3.1 parses its 1 MB printer-capabilities YAML on every import (about a second on a
laptop, several on a Pi) and caches the result in a *new* temporary folder each time, so the cache
never hits and every start leaves a folder behind. Unless the environment already says where,
point it at one private, per-user folder, so the second start reads the pickle instead.

python-escpos writes that pickle in place (no temporary file and rename): a process reading it
while another writes it got `EOFError: Ran out of input` (three test processes starting at once
in CI), and a power cut during the write would leave a torn pickle that fails every later start.
So the first import of its capabilities runs here under an exclusive lock on the folder, and a
pickle that cannot be read is removed and built again.
"""

from __future__ import annotations

import fcntl
import logging
import os
import pickle
import stat
import sys
import tempfile


def _escpos_cache_dir() -> None:
    if "ESCPOS_CAPABILITIES_PICKLE_DIR" in os.environ or not hasattr(os, "getuid"):
        return
    folder = os.path.join(tempfile.gettempdir(), f"quay-so-escpos-{os.getuid()}")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        info = os.lstat(folder)
    except OSError:
        return
    # A pickle is code: use the folder only if it is ours and nobody else can write to it.
    private = (stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid()
               and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH))
    if private:
        os.environ["ESCPOS_CAPABILITIES_PICKLE_DIR"] = folder
        _load_escpos_capabilities(folder)


def _load_escpos_capabilities(folder: str) -> None:
    """Import python-escpos's capabilities (which reads or writes the pickle) under an exclusive
    `flock` on `<folder>/.lock`, once per process; an unreadable pickle is removed and rebuilt."""
    with open(os.path.join(folder, ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            import escpos.capabilities  # noqa: F401
        except (EOFError, pickle.UnpicklingError) as exc:
            sys.modules.pop("escpos.capabilities", None)
            for name in os.listdir(folder):
                if name.endswith(".capabilities.pickle"):
                    os.unlink(os.path.join(folder, name))
            logging.getLogger("kiosk").warning("python-escpos's capabilities cache was unreadable "
                                               "(%r); rebuilt", exc)
            import escpos.capabilities  # noqa: F401,F811


_escpos_cache_dir()
