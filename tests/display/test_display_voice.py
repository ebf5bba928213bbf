"""The announcement sentence, the audio cache, the chime and the synthesizer factory."""

import hashlib
import io
import itertools
import threading
import unicodedata
import wave
from array import array
from collections.abc import Sequence
from pathlib import Path

import pytest

from display.vietnamese_numbers import SOUTHERN
from display.voice import (
    DEFAULT_TEMPLATE,
    FakeSynthesizer,
    RecordedClipSynthesizer,
    SynthesisFailed,
    TemplateError,
    VoiceCache,
    announcement_text,
    chime_wav,
    create_synthesizer,
    validate_template,
)

# --- announcement_text ---------------------------------------------------------------------------


def test_the_spec_sentence() -> None:
    assert (
        announcement_text("1023", 5)
        == "Mời công dân có số một nghìn không trăm hai mươi ba đến quầy số năm"
    )


def test_prefixed_ticket_and_string_counter() -> None:
    assert (
        announcement_text("A023", "12") == "Mời công dân có số a hai mươi ba đến quầy số mười hai"
    )


def test_custom_template_and_style() -> None:
    text = announcement_text("2005", 1, "Xin mời số {number} tới quầy {counter}", SOUTHERN)
    assert text == "Xin mời số hai ngàn không trăm lẻ năm tới quầy một"


def test_literal_braces_are_allowed() -> None:
    assert announcement_text("1", 2, "{{số}} {number} quầy {counter}") == "{số} một quầy hai"


def test_output_is_nfc_even_from_an_nfd_template() -> None:
    template = unicodedata.normalize("NFD", DEFAULT_TEMPLATE)
    text = announcement_text("1023", 5, template)
    assert unicodedata.is_normalized("NFC", text)
    assert text == announcement_text("1023", 5)


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("Mời {name} đến quầy {counter} số {number}", "unknown placeholder {name}"),
        ("Mời số {} đến quầy {counter}", "unknown placeholder {}"),
        ("Mời số {0} đến quầy {counter}", "unknown placeholder {0}"),
        ("Mời số {number.real} đến quầy {counter}", "unknown placeholder {number.real}"),
        ("Mời số {number!r} đến quầy {counter}", "no format or conversion"),
        ("Mời số {number:>5} đến quầy {counter}", "no format or conversion"),
        ("Mời số {number} đến quầy {counter", "malformed"),
        ("Mời số {number} đến quầy }", "malformed"),
        ("Mời số {number}", "must contain {counter}"),
        ("Xin mời", "must contain {counter} and {number}"),
    ],
)
def test_bad_templates_are_rejected_clearly(template: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message.replace("{", r"\{").replace("}", r"\}")):
        announcement_text("1023", 5, template)
    with pytest.raises(ValueError):
        validate_template(template)


def test_template_must_be_a_string() -> None:
    with pytest.raises(ValueError, match="must be a string"):
        validate_template(None)  # type: ignore[arg-type]


def test_bad_ticket_or_counter_is_rejected() -> None:
    with pytest.raises(ValueError):
        announcement_text("A-1", 5)
    with pytest.raises(TypeError):
        announcement_text("1", True)


# --- VoiceCache ----------------------------------------------------------------------------------


def test_same_text_same_key_one_synthesis(tmp_path: Path) -> None:
    synthesizer = FakeSynthesizer()
    cache = VoiceCache(tmp_path, synthesizer)
    key, path = cache.audio_for("một")
    assert cache.audio_for("một") == (key, path)
    assert synthesizer.texts == ["một"]
    assert path == tmp_path / f"{key}.wav"
    assert key == hashlib.sha256("fake\nmột".encode()).hexdigest()[:16]
    with wave.open(str(path)) as audio:
        assert audio.getnframes() > 0

    other_key, other_path = cache.audio_for("hai")
    assert other_key != key and other_path != path
    assert synthesizer.calls == 2


def test_files_survive_a_restart(tmp_path: Path) -> None:
    key, _ = VoiceCache(tmp_path, FakeSynthesizer()).audio_for("ba")
    again = FakeSynthesizer()
    assert VoiceCache(tmp_path, again).audio_for("ba")[0] == key
    assert again.calls == 0


def test_key_depends_on_synthesizer_and_nfc_text(tmp_path: Path) -> None:
    fake = VoiceCache(tmp_path, FakeSynthesizer())
    assert fake.key_for("Mời") == fake.key_for(unicodedata.normalize("NFD", "Mời"))

    class OtherVoice(FakeSynthesizer):
        @property
        def synthesizer_id(self) -> str:
            return "other"

    assert VoiceCache(tmp_path, OtherVoice()).key_for("Mời") != fake.key_for("Mời")


def test_eight_threads_asking_at_once_synthesize_once(tmp_path: Path) -> None:
    synthesizer = FakeSynthesizer(delay=0.05)
    cache = VoiceCache(tmp_path, synthesizer)
    start = threading.Barrier(8)
    results: list[tuple[str, Path]] = []

    def ask() -> None:
        start.wait()
        results.append(cache.audio_for("Mời công dân có số một"))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8 and len(set(results)) == 1
    assert synthesizer.calls == 1


def test_a_failed_synthesis_leaves_nothing_and_can_be_retried(tmp_path: Path) -> None:
    synthesizer = FakeSynthesizer(error=SynthesisFailed("engine down"))
    cache = VoiceCache(tmp_path, synthesizer)
    with pytest.raises(SynthesisFailed, match="engine down"):
        cache.audio_for("bốn")
    assert list(tmp_path.iterdir()) == []
    synthesizer.error = None
    _, path = cache.audio_for("bốn")
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_leftover_temp_files_are_removed(tmp_path: Path) -> None:
    (tmp_path / ".abc.wav.tmp").write_bytes(b"half a file")
    VoiceCache(tmp_path, FakeSynthesizer())
    assert list(tmp_path.iterdir()) == []


def test_blank_text_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="nothing to say"):
        VoiceCache(tmp_path, FakeSynthesizer()).audio_for("  ")


def test_path_for_key_serves_known_keys_only(tmp_path: Path) -> None:
    cache = VoiceCache(tmp_path / "voice", FakeSynthesizer())
    key, path = cache.audio_for("năm")
    assert cache.path_for_key(key) == path
    assert cache.path_for_key("0123456789abcdef") is None  # well formed, never made
    (tmp_path / "secret.wav").write_bytes(b"x")
    for bad in [
        "../x",
        "../secret",
        "../../etc/passwd",
        "..%2fsecret",
        key.upper(),
        key[:-1],
        key + "0",
        key[:-1] + "g",
        key + "\n",
        f"{key}.wav",
        "",
        None,
        int(key, 16),
    ]:
        assert cache.path_for_key(bad) is None, bad


# --- chime ---------------------------------------------------------------------------------------


def _zero_crossing_rate(samples: Sequence[int], framerate: int) -> float:
    crossings = sum(1 for a, b in itertools.pairwise(samples) if (a < 0) != (b < 0))
    return crossings / 2 / (len(samples) / framerate)


def test_chime_is_a_short_two_tone_wav() -> None:
    data = chime_wav()
    assert data is chime_wav()  # made once
    with wave.open(io.BytesIO(data)) as audio:
        assert (audio.getnchannels(), audio.getsampwidth()) == (1, 2)
        rate = audio.getframerate()
        frames = audio.readframes(audio.getnframes())
    samples = array("h", frames)  # WAV is little-endian, like the machines we test on
    assert 1.0 <= len(samples) / rate <= 1.5
    assert max(abs(s) for s in samples) > 10000
    assert abs(samples[0]) < 500 and abs(samples[-1]) < 500  # no click at either end

    def tone(start: float, end: float) -> float:
        return _zero_crossing_rate(samples[int(start * rate) : int(end * rate)], rate)

    assert tone(0.05, 0.4) == pytest.approx(659.25, rel=0.03)  # ding (E5)
    assert tone(0.6, 0.9) == pytest.approx(523.25, rel=0.05)  # dong (C5)


# --- factory -------------------------------------------------------------------------------------


def test_create_synthesizer_by_name(tmp_path: Path) -> None:
    assert isinstance(create_synthesizer("fake"), FakeSynthesizer)
    with wave.open(str(tmp_path / "một.wav"), "wb") as clip:
        clip.setnchannels(1)
        clip.setsampwidth(2)
        clip.setframerate(8000)
        clip.writeframes(bytes(160))
    assert isinstance(create_synthesizer("clips", directory=tmp_path), RecordedClipSynthesizer)
    with pytest.raises(ValueError, match="choose one of espeak, clips, fake"):
        create_synthesizer("festival")
