"""python-escpos's capabilities cache (kiosk/__init__.py): processes starting together share it
safely, and a torn cache file is rebuilt instead of failing every start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IMPORT = "import kiosk.printers, escpos.capabilities as c; assert c.CAPABILITIES['profiles']; print('ok')"


def start(tmp: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "ESCPOS_CAPABILITIES_PICKLE_DIR"}
    return subprocess.Popen([sys.executable, "-c", IMPORT], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**env, "TMPDIR": str(tmp)})


def test_processes_importing_at_once_share_the_cache_without_reading_it_half_written(tmp_path: Path) -> None:
    """Three test processes starting together in CI: one read the pickle while another wrote it
    (EOFError: Ran out of input)."""
    for round_ in range(3):
        tmp = tmp_path / f"round{round_}"
        tmp.mkdir()
        procs = [start(tmp) for _ in range(6)]
        outputs = [p.communicate(timeout=120)[0] for p in procs]
        assert all(p.returncode == 0 for p in procs), outputs
        (folder,) = tmp.glob("quay-so-escpos-*")
        assert list(folder.glob("*.capabilities.pickle"))


def test_a_torn_cache_file_is_rebuilt(tmp_path: Path) -> None:
    first = start(tmp_path)
    assert first.communicate(timeout=120)[0].strip().endswith("ok")
    (pickle_file,) = tmp_path.glob("quay-so-escpos-*/*.capabilities.pickle")
    pickle_file.write_bytes(pickle_file.read_bytes()[:100])  # a power cut during the write
    again = start(tmp_path)
    out = again.communicate(timeout=120)[0]
    assert again.returncode == 0 and out.strip().endswith("ok"), out
    assert "rebuilt" in out and pickle_file.stat().st_size > 1000
