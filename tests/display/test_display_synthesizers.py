"""The real synthesizers: espeak-ng (when installed) and a folder of recorded clips."""

import io
import math
import shutil
import stat
import unicodedata
import wave
from array import array
from pathlib import Path

import pytest

from display.voice import (
    ClipFormatError,
    EspeakSynthesizer,
    MissingClipsError,
    RecordedClipSynthesizer,
    SynthesisFailed,
    SynthesizerUnavailable,
    announcement_text,
)

SENTENCE = "Mời công dân có số một nghìn không trăm hai mươi ba đến quầy số năm"

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None,
    reason="espeak-ng is not installed (apt-get install espeak-ng, see scripts/setup-system.sh)",
)


def _read(data: bytes) -> tuple[wave._wave_params, bytes]:
    with wave.open(io.BytesIO(data)) as audio:
        return audio.getparams(), audio.readframes(audio.getnframes())


# --- espeak-ng -----------------------------------------------------------------------------------


@needs_espeak
def test_espeak_says_the_sentence_as_a_proper_wav() -> None:
    data = EspeakSynthesizer().synthesize(SENTENCE)
    params, frames = _read(data)
    assert (params.nchannels, params.sampwidth) == (1, 2)
    # The header tells the truth (espeak-ng's own --stdout header claims ~1 GB).
    assert len(frames) == params.nframes * 2
    assert len(data) == 44 + len(frames)
    assert 1.0 < params.nframes / params.framerate < 10.0
    assert max(abs(s) for s in array("h", frames)) > 1000  # not silence


@needs_espeak
def test_espeak_speed_changes_duration_and_id() -> None:
    slow, fast = EspeakSynthesizer(speed=100), EspeakSynthesizer(speed=250)
    assert slow.synthesizer_id != fast.synthesizer_id
    assert _read(slow.synthesize(SENTENCE))[0].nframes > _read(fast.synthesize(SENTENCE))[0].nframes


@needs_espeak
def test_espeak_text_starting_with_a_dash_is_spoken_not_parsed() -> None:
    params, _ = _read(EspeakSynthesizer().synthesize("-v en một hai ba"))
    assert params.nframes > 0


@needs_espeak
def test_espeak_unknown_voice_fails_clearly() -> None:
    with pytest.raises(SynthesisFailed, match="espeak-ng -v xx-nonexistent failed"):
        EspeakSynthesizer(voice="xx-nonexistent").synthesize("một")


def test_espeak_missing_binary_says_how_to_install() -> None:
    with pytest.raises(SynthesizerUnavailable, match="apt-get install espeak-ng"):
        EspeakSynthesizer(executable="espeak-ng-not-installed-here")


def test_espeak_timeout_is_reported(tmp_path: Path) -> None:
    hanging = tmp_path / "espeak-ng"
    hanging.write_text("#!/bin/sh\nexec sleep 5\n")
    hanging.chmod(hanging.stat().st_mode | stat.S_IXUSR)
    synthesizer = EspeakSynthesizer(executable=str(hanging), timeout=0.2)
    with pytest.raises(SynthesisFailed, match=r"did not finish within 0\.2 s"):
        synthesizer.synthesize("một")


def test_espeak_garbage_output_is_reported(tmp_path: Path) -> None:
    broken = tmp_path / "espeak-ng"
    broken.write_text("#!/bin/sh\necho not a wav\n")
    broken.chmod(broken.stat().st_mode | stat.S_IXUSR)
    with pytest.raises(SynthesisFailed, match="did not produce a WAV"):
        EspeakSynthesizer(executable=str(broken)).synthesize("một")


@pytest.mark.parametrize("kwargs", [{"speed": 10}, {"speed": 1000}, {"timeout": 0}])
def test_espeak_settings_are_checked(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        EspeakSynthesizer(**kwargs)  # type: ignore[arg-type]


# --- recorded clips ------------------------------------------------------------------------------

CLIP_WORDS = [
    "mời công dân có số",
    "đến quầy số",
    "không",
    "một",
    "hai",
    "ba",
    "năm",
    "mươi",
    "trăm",
    "nghìn",
]


def _tone(frequency: float, frames: int, framerate: int = 8000) -> bytes:
    return array(
        "h",
        (round(8000 * math.sin(2 * math.pi * frequency * i / framerate)) for i in range(frames)),
    ).tobytes()


def _write_clip(path: Path, frames: bytes, framerate: int = 8000, channels: int = 1) -> None:
    with wave.open(str(path), "wb") as clip:
        clip.setnchannels(channels)
        clip.setsampwidth(2)
        clip.setframerate(framerate)
        clip.writeframes(frames)


@pytest.fixture
def clips(tmp_path: Path) -> dict[str, bytes]:
    """One short tone per word, each of a different length, written to tmp_path."""
    made = {}
    for i, words in enumerate(CLIP_WORDS):
        made[words] = _tone(300 + 50 * i, 400 + 40 * i)
        _write_clip(tmp_path / f"{words}.wav", made[words])
    return made


def test_clips_are_joined_in_order(tmp_path: Path, clips: dict[str, bytes]) -> None:
    data = RecordedClipSynthesizer(tmp_path).synthesize(announcement_text("1023", 5))
    params, frames = _read(data)
    order = [
        "mời công dân có số", "một", "nghìn", "không", "trăm", "hai", "mươi", "ba",
        "đến quầy số", "năm",
    ]  # fmt: skip
    assert (params.framerate, params.sampwidth, params.nchannels) == (8000, 2, 1)
    assert params.nframes == sum(len(clips[w]) // 2 for w in order)
    assert frames == b"".join(clips[w] for w in order)


def test_longest_recorded_phrase_wins(tmp_path: Path, clips: dict[str, bytes]) -> None:
    phrase = _tone(1000, 123)
    _write_clip(tmp_path / "hai mươi.wav", phrase)
    _, frames = _read(RecordedClipSynthesizer(tmp_path).synthesize("hai mươi ba"))
    assert frames == phrase + clips["ba"]


def test_file_names_match_in_nfd_any_case_and_with_underscores(tmp_path: Path) -> None:
    _write_clip(tmp_path / (unicodedata.normalize("NFD", "Đến_Quầy_Số") + ".WAV"), _tone(500, 80))
    _write_clip(tmp_path / "năm.wav", _tone(600, 40))
    params, _ = _read(RecordedClipSynthesizer(tmp_path).synthesize("đến quầy số năm."))
    assert params.nframes == 120


def test_missing_clips_are_listed(tmp_path: Path, clips: dict[str, bytes]) -> None:
    (tmp_path / "nghìn.wav").unlink()
    synthesizer = RecordedClipSynthesizer(tmp_path)
    text = announcement_text("1024", 15)  # needs "nghìn", "tư", "mười", "lăm"
    expected = ["nghìn.wav", "tư.wav", "mười.wav", "lăm.wav"]
    assert synthesizer.missing_clips(text) == expected
    with pytest.raises(MissingClipsError) as caught:
        synthesizer.synthesize(text)
    assert caught.value.missing == expected
    assert isinstance(caught.value, FileNotFoundError)
    for name in expected:
        assert repr(name) in str(caught.value)


def test_clips_of_different_formats_are_refused(tmp_path: Path, clips: dict[str, bytes]) -> None:
    _write_clip(tmp_path / "ba.wav", _tone(400, 100, framerate=16000), framerate=16000)
    _write_clip(tmp_path / "hai.wav", _tone(400, 100) * 2, channels=2)
    with pytest.raises(ClipFormatError, match="must share one format") as caught:
        RecordedClipSynthesizer(tmp_path)
    assert "ba.wav" in str(caught.value) and "hai.wav" in str(caught.value)


def test_a_file_that_is_not_a_wav_is_refused(tmp_path: Path, clips: dict[str, bytes]) -> None:
    (tmp_path / "bốn.wav").write_bytes(b"ID3 an mp3 renamed")
    with pytest.raises(ClipFormatError, match=r"bốn\.wav"):
        RecordedClipSynthesizer(tmp_path)


def test_missing_or_empty_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SynthesizerUnavailable, match="does not exist"):
        RecordedClipSynthesizer(tmp_path / "nope")
    with pytest.raises(SynthesizerUnavailable, match=r"no \.wav clips"):
        RecordedClipSynthesizer(tmp_path)


def test_clip_set_identity_follows_the_recordings(tmp_path: Path, clips: dict[str, bytes]) -> None:
    before = RecordedClipSynthesizer(tmp_path).synthesizer_id
    assert RecordedClipSynthesizer(tmp_path).synthesizer_id == before
    _write_clip(tmp_path / "một.wav", _tone(900, 300))
    assert RecordedClipSynthesizer(tmp_path).synthesizer_id != before
