"""What keeps the SD card from filling: the announcements' WAV cache stays within `[voice]
cache_mb` (every call is a new sentence: ~190 KB of espeak-ng WAV each, 450 a day at a provincial
center — bench/sd_writes.py measured it), the newest kept; the key is checked like every other."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from display.voice import VoiceCache, announcement_text, create_synthesizer
from tests.conftest import ROOT


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("*.wav"))


def test_the_voice_cache_stays_within_its_bound_with_real_espeak(tmp_path: Path) -> None:
    bound = 1024 * 1024
    cache = VoiceCache(tmp_path, create_synthesizer("espeak"), max_bytes=bound)
    made = [cache.audio_for(announcement_text(str(1001 + n), 1 + n % 6))[1] for n in range(12)]
    sizes = [p.stat().st_size for p in made[-3:]]
    assert min(sizes) > 50_000  # real espeak-ng WAVs, not a fake's
    assert folder_bytes(tmp_path) <= bound
    assert all(p.exists() for p in made[-3:])  # the latest calls (a recall) are still there
    assert not made[0].exists()
    # a restart with a smaller bound trims the folder at once, oldest first
    VoiceCache(tmp_path, create_synthesizer("espeak"), max_bytes=sizes[-1] + 1)
    assert [p for p in made if p.exists()] == [made[-1]]


def test_cache_mb_is_checked_like_every_key(tmp_path: Path) -> None:
    demo = (ROOT / "queue_server/demo.toml").read_text(encoding="utf-8")
    for value, ok in (("1", True), ("0", False), ('"32"', False)):
        path = tmp_path / "center.toml"
        path.write_text(demo + f"\n[voice]\ncache_mb = {value}\n", encoding="utf-8")
        run = subprocess.run([sys.executable, "-m", "queue_server", "--config", str(path), "--check"],
                             capture_output=True, text=True, cwd=ROOT)
        assert (run.returncode == 0) is ok, run.stderr
        if not ok:
            assert "voice.cache_mb" in run.stderr
