"""Kiosk: ticket rendering and printing, dispensing, GPIO buttons, the touchscreen and phone pages.

python-escpos 3.1 parses its 1 MB printer-capabilities YAML on every import (about a second on a
laptop, several on a Pi) and caches the result in a *new* temporary folder each time, so the cache
never hits and every start leaves a folder behind. Unless the environment already says where,
point it at one private, per-user folder, so the second start reads the pickle instead.
"""

from __future__ import annotations

import os
import stat
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


_escpos_cache_dir()
