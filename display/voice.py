"""Vietnamese voice calls: the sentence, the speech synthesizers, the audio cache and the chime.

Flow: the hub turns a call into `announcement_text(...)`, asks a `VoiceCache` for its WAV and sends
the key as `audio_url` (/audio/<key>.wav); a display plays `chime_wav()` and then that file. The
chime and the voice stay separate files so the display can queue and time them.

Speech comes through one seam, `SpeechSynthesizer`, chosen by name (`create_synthesizer`), in the
spirit of gpiozero's pin factories: espeak-ng on a Pi, a center's own recordings, or a fake that
lets the whole system run in tests and on a laptop.
"""

from __future__ import annotations

import functools
import hashlib
import io
import math
import os
import re
import shutil
import string
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
import wave
from abc import ABC, abstractmethod
from array import array
from pathlib import Path
from typing import Any

from display.vietnamese_numbers import (
    NORTHERN,
    NumberStyle,
    number_to_words,
    ticket_number_to_words,
)

__all__ = [
    "DEFAULT_TEMPLATE",
    "SYNTHESIZERS",
    "ClipFormatError",
    "EspeakSynthesizer",
    "FakeSynthesizer",
    "MissingClipsError",
    "RecordedClipSynthesizer",
    "SpeechSynthesizer",
    "SynthesisFailed",
    "SynthesizerUnavailable",
    "TemplateError",
    "VoiceCache",
    "VoiceError",
    "announcement_text",
    "chime_wav",
    "create_synthesizer",
    "validate_template",
]

DEFAULT_TEMPLATE = "Mời công dân có số {number} đến quầy số {counter}"
_PLACEHOLDERS = frozenset({"number", "counter"})


# --- errors: one tree, leaves also subclass the built-in a caller would expect -------------------


class VoiceError(Exception):
    """Base of every error raised by the voice layer."""


class TemplateError(VoiceError, ValueError):
    """The configured announcement template cannot be used."""


class SynthesizerUnavailable(VoiceError, RuntimeError):
    """The synthesizer cannot run at all here (missing program, missing clip folder)."""


class SynthesisFailed(VoiceError, RuntimeError):
    """The synthesizer ran but produced no usable audio for this text."""


class ClipFormatError(VoiceError, ValueError):
    """A recorded clip is unreadable or does not match the format of the others."""


class MissingClipsError(VoiceError, FileNotFoundError):
    """The text needs recorded clips that the center's folder does not have."""

    def __init__(self, directory: Path, missing: list[str]) -> None:
        self.directory = directory
        self.missing = missing
        names = ", ".join(repr(name) for name in missing)
        super().__init__(
            f"recorded clips missing in {directory}: {names}; record each as a WAV named by its "
            "words, or use the espeak synthesizer"
        )


# --- the sentence --------------------------------------------------------------------------------


def validate_template(template: str) -> str:
    """Check an announcement template and return it in NFC.

    Call it when loading the config so a typo fails at start-up, not at the first call.
    """
    if not isinstance(template, str):
        raise TemplateError(
            f"the announcement template must be a string, got {type(template).__name__}"
        )
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise TemplateError(
            f"announcement template {template!r} is malformed ({exc}); write a literal brace as "
            "{{ or }}"
        ) from exc
    found = set()
    for _literal, field, spec, conversion in parts:
        if field is None:
            continue
        if field not in _PLACEHOLDERS:
            raise TemplateError(
                f"unknown placeholder {{{field}}} in announcement template {template!r}; "
                "only {number} and {counter} are allowed"
            )
        if spec or conversion:
            raise TemplateError(
                f"placeholder {{{field}}} in announcement template {template!r} takes no format "
                "or conversion; write it as plain {" + field + "}"
            )
        found.add(field)
    missing = sorted(_PLACEHOLDERS - found)
    if missing:
        names = " and ".join("{" + name + "}" for name in missing)
        raise TemplateError(f"announcement template {template!r} must contain {names}")
    return unicodedata.normalize("NFC", template)


def announcement_text(
    number: str,
    counter: int | str,
    template: str = DEFAULT_TEMPLATE,
    style: NumberStyle = NORTHERN,
) -> str:
    """The exact Vietnamese sentence spoken for a call, numbers in words.

    ("1023", 5) -> "Mời công dân có số một nghìn không trăm hai mươi ba đến quầy số năm".
    """
    template = validate_template(template)
    if isinstance(counter, str):
        counter_words = ticket_number_to_words(counter, style)
    else:
        counter_words = number_to_words(counter, style)
    return template.format(number=ticket_number_to_words(number, style), counter=counter_words)


# --- WAV helpers ---------------------------------------------------------------------------------


def _encode_wav(frames: bytes, *, channels: int, sampwidth: int, framerate: int) -> bytes:
    """A complete WAV file (correct header) around raw PCM frames."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(sampwidth)
        out.setframerate(framerate)
        out.writeframes(frames)
    return buffer.getvalue()


@functools.cache
def chime_wav(framerate: int = 22050) -> bytes:
    """A short two-tone "ding-dong" (E5 then C5) that makes people look up before a call.

    Generated rather than shipped as a file, so there is no asset to go missing offline.
    """
    duration = 1.3
    total = int(duration * framerate)
    samples = [0.0] * total
    for frequency, start in ((659.25, 0.0), (523.25, 0.45)):
        first = int(start * framerate)
        for i in range(total - first):
            t = i / framerate
            envelope = min(1.0, t / 0.005) * math.exp(-4.0 * t)  # 5 ms attack avoids a click
            phase = 2 * math.pi * frequency * t
            samples[first + i] += envelope * (math.sin(phase) + 0.3 * math.sin(2 * phase))
    fade = int(0.05 * framerate)  # the tail fades to silence instead of stopping dead
    for i in range(fade):
        samples[total - fade + i] *= 1 - i / fade
    scale = 0.6 * 32767 / max(abs(s) for s in samples)
    pcm = array("h", (round(s * scale) for s in samples))
    if sys.byteorder == "big":
        pcm.byteswap()  # WAV is little-endian
    return _encode_wav(pcm.tobytes(), channels=1, sampwidth=2, framerate=framerate)


# --- synthesizers --------------------------------------------------------------------------------


class SpeechSynthesizer(ABC):
    """Turns a Vietnamese sentence into WAV bytes.

    Subclasses must override `_synthesize` (gets NFC, non-blank text; returns a complete WAV) and
    `synthesizer_id` (a string that changes whenever the audio for a text would change, since
    `VoiceCache` keys files by it). They may keep state but must be safe to call from any thread.
    """

    @property
    @abstractmethod
    def synthesizer_id(self) -> str:
        """Identifies this synthesizer and its settings in cache keys."""

    def synthesize(self, text: str) -> bytes:
        """WAV bytes saying `text`."""
        text = unicodedata.normalize("NFC", text)
        if not text.strip():
            raise ValueError("nothing to say: the announcement text is empty")
        return self._synthesize(text)

    @abstractmethod
    def _synthesize(self, text: str) -> bytes:
        """WAV bytes for NFC, non-blank text."""


class EspeakSynthesizer(SpeechSynthesizer):
    """Debian's espeak-ng with its Vietnamese voice: robotic, but offline and on every Pi.

    Voices: "vi" (northern), "vi-vn-x-central", "vi-vn-x-south".
    """

    def __init__(
        self,
        voice: str = "vi",
        speed: int = 150,
        timeout: float = 10.0,
        executable: str = "espeak-ng",
    ) -> None:
        if not 80 <= speed <= 450:
            raise ValueError(f"espeak-ng speed is in words per minute, 80-450; got {speed}")
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        path = shutil.which(executable)
        if path is None:
            raise SynthesizerUnavailable(
                f"{executable} not found on PATH; install it with `apt-get install espeak-ng` "
                "(scripts/setup-system.sh does), or choose the recorded clips or fake synthesizer"
            )
        self.voice = voice
        self.speed = speed
        self.timeout = timeout
        self.executable = path

    @property
    def synthesizer_id(self) -> str:
        return f"espeak-ng:{self.voice}:{self.speed}"

    def _synthesize(self, text: str) -> bytes:
        # The text goes through stdin: on the command line a text starting with "-" would be
        # taken for an option. -b 1 says the input is UTF-8.
        command = [self.executable, "-v", self.voice, "-s", str(self.speed), "-b", "1", "--stdout"]
        try:
            result = subprocess.run(
                command,
                input=text.encode("utf-8"),
                capture_output=True,
                timeout=self.timeout,
                check=False,
            )
        except FileNotFoundError as exc:
            raise SynthesizerUnavailable(f"{self.executable} disappeared: {exc}") from exc
        except subprocess.TimeoutExpired as exc:
            raise SynthesisFailed(
                f"espeak-ng did not finish within {self.timeout} s for {text!r}"
            ) from exc
        if result.returncode != 0 or not result.stdout:
            stderr = result.stderr.decode("utf-8", "replace").strip()
            raise SynthesisFailed(
                f"espeak-ng -v {self.voice} failed (exit {result.returncode}): "
                f"{stderr or 'no audio'}"
            )
        return _rewrap_stream_wav(result.stdout)


def _rewrap_stream_wav(data: bytes) -> bytes:
    """Fix the header of a WAV written to a pipe.

    espeak-ng cannot seek back on stdout, so its header claims ~1 GB of audio; browsers and the
    `wave` module would believe it. Keep the frames, write a true header.
    """
    try:
        with wave.open(io.BytesIO(data)) as stream:
            params = stream.getparams()
            frames = stream.readframes(stream.getnframes())
    except (wave.Error, EOFError) as exc:
        raise SynthesisFailed(f"espeak-ng did not produce a WAV: {exc}") from exc
    frame_size = params.sampwidth * params.nchannels
    frames = frames[: len(frames) - len(frames) % frame_size]
    return _encode_wav(
        frames, channels=params.nchannels, sampwidth=params.sampwidth, framerate=params.framerate
    )


class RecordedClipSynthesizer(SpeechSynthesizer):
    """Speaks by joining a center's own recordings, one WAV per word or phrase.

    A clip is named by what it says: "mời công dân có số.wav", "một.wav", "nghìn.wav",
    "đến quầy số.wav" (case, and "_" for a space, do not matter). The longest phrase with a clip
    wins, so the fixed parts of the template can be one natural recording each and the numbers are
    built word by word. Clips are loaded and checked once, here, so a bad folder fails at start-up.
    """

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise SynthesizerUnavailable(f"recorded clip folder {self.directory} does not exist")
        paths = sorted(p for p in self.directory.iterdir() if p.suffix.lower() == ".wav")
        if not paths:
            raise SynthesizerUnavailable(f"recorded clip folder {self.directory} has no .wav clips")
        self._clips: dict[str, bytes] = {}
        formats: dict[Path, tuple[int, int, int]] = {}
        digest = hashlib.sha256()
        for path in paths:
            try:
                with wave.open(str(path)) as clip:
                    formats[path] = (clip.getframerate(), clip.getsampwidth(), clip.getnchannels())
                    frames = clip.readframes(clip.getnframes())
            except (wave.Error, EOFError) as exc:
                raise ClipFormatError(
                    f"{path} is not a readable PCM WAV file ({exc}); export it as plain PCM WAV"
                ) from exc
            phrase = _clip_phrase(path.stem)
            self._clips[phrase] = frames
            digest.update(f"{phrase}\0{formats[path]}\0".encode() + frames)
        reference, self._format = paths[0], formats[paths[0]]
        odd = [path.name for path in paths if formats[path] != self._format]
        if odd:
            raise ClipFormatError(
                f"recorded clips must share one format; {reference.name} is "
                f"{_describe(self._format)} but {', '.join(odd)} "
                f"{'is' if len(odd) == 1 else 'are'} not (re-export them alike)"
            )
        self._longest = max(len(phrase.split()) for phrase in self._clips)
        self._id = f"clips:{digest.hexdigest()[:16]}"

    @property
    def synthesizer_id(self) -> str:
        return self._id

    def missing_clips(self, text: str) -> list[str]:
        """File names of the clips `text` needs and the folder lacks, for a start-up check."""
        return self._plan(text)[1]

    def _synthesize(self, text: str) -> bytes:
        phrases, missing = self._plan(text)
        if missing:
            raise MissingClipsError(self.directory, missing)
        framerate, sampwidth, channels = self._format
        frames = b"".join(self._clips[phrase] for phrase in phrases)
        return _encode_wav(frames, channels=channels, sampwidth=sampwidth, framerate=framerate)

    def _plan(self, text: str) -> tuple[list[str], list[str]]:
        """The clip phrases that say `text`, longest match first, and the missing clip names."""
        words = _clip_phrase(re.sub(r"[^\w\s]", " ", text)).split()
        phrases: list[str] = []
        missing: list[str] = []
        i = 0
        while i < len(words):
            for j in range(min(len(words), i + self._longest), i, -1):
                phrase = " ".join(words[i:j])
                if phrase in self._clips:
                    phrases.append(phrase)
                    i = j
                    break
            else:
                name = f"{words[i]}.wav"
                if name not in missing:
                    missing.append(name)
                i += 1
        return phrases, missing


def _clip_phrase(name: str) -> str:
    """Canonical form of a phrase, so file names in NFD (macOS), any case or with "_" match."""
    return " ".join(unicodedata.normalize("NFC", name).replace("_", " ").lower().split())


def _describe(fmt: tuple[int, int, int]) -> str:
    framerate, sampwidth, channels = fmt
    return f"{framerate} Hz, {8 * sampwidth}-bit, {channels} channel{'s' if channels > 1 else ''}"


class FakeSynthesizer(SpeechSynthesizer):
    """Records the texts it was asked for and returns a short silent WAV; for tests and demos.

    `delay` simulates a slow engine; set `error` to an exception to simulate a failing one.
    """

    def __init__(self, delay: float = 0.0, error: Exception | None = None) -> None:
        self.delay = delay
        self.error = error
        self.texts: list[str] = []
        self._lock = threading.Lock()

    @property
    def synthesizer_id(self) -> str:
        return "fake"

    @property
    def calls(self) -> int:
        """How many times synthesis ran."""
        return len(self.texts)

    def _synthesize(self, text: str) -> bytes:
        with self._lock:
            self.texts.append(text)
        if self.delay:
            time.sleep(self.delay)
        if self.error is not None:
            raise self.error
        return _encode_wav(bytes(2 * 800), channels=1, sampwidth=2, framerate=8000)  # 0.1 s


SYNTHESIZERS: dict[str, type[SpeechSynthesizer]] = {
    "espeak": EspeakSynthesizer,
    "clips": RecordedClipSynthesizer,
    "fake": FakeSynthesizer,
}


def create_synthesizer(name: str, **options: Any) -> SpeechSynthesizer:
    """The synthesizer a config names ("espeak", "clips", "fake"), built with its options."""
    try:
        factory = SYNTHESIZERS[name]
    except KeyError:
        raise ValueError(
            f"unknown speech synthesizer {name!r}; choose one of {', '.join(SYNTHESIZERS)}"
        ) from None
    return factory(**options)


# --- the cache -----------------------------------------------------------------------------------

_KEY = re.compile(r"[0-9a-f]{16}")
DEFAULT_CACHE_BYTES = 32 * 1024 * 1024  # `[voice] cache_mb`: about 170 espeak-ng announcements


class VoiceCache:
    """Announcement WAVs on disk, made once per text and then served by key.

    The key is a hash of the synthesizer and the text, so a recall replays the same file and a
    change of voice makes new ones. Files appear atomically (temp file + os.replace): a reader never
    sees half a WAV, even after a power cut. Synthesis runs one at a time under a lock, which both
    makes two threads asking for the same text synthesize once and keeps a Pi from running several
    espeak-ng processes at the same moment; a cached text is returned without the lock.
    """

    def __init__(self, directory: Path | str, synthesizer: SpeechSynthesizer,
                 max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        """`max_bytes` bounds the folder: every call is a new sentence (a new number), about
        190 KB of WAV from espeak-ng, so an unbounded cache of a provincial center's 450 calls a
        day would fill a 32 GB SD card within a year (bench/sd_writes.py). Past the bound the
        oldest WAVs are deleted (a recall, minutes later, still finds its own)."""
        self.directory = Path(directory)
        self.synthesizer = synthesizer
        self.max_bytes = max_bytes
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        for leftover in self.directory.glob(".*.wav.tmp"):  # from a crash mid-write
            leftover.unlink(missing_ok=True)
        self._sizes: dict[Path, int] = {}  # oldest first
        for wav in sorted(self.directory.glob("*.wav"), key=lambda p: p.stat().st_mtime):
            self._sizes[wav] = wav.stat().st_size
        self._evict(keep=None)

    def key_for(self, text: str) -> str:
        """Stable key of `text` for this synthesizer: 16 hex digits of a SHA-256."""
        data = f"{self.synthesizer.synthesizer_id}\n{unicodedata.normalize('NFC', text)}"
        return hashlib.sha256(data.encode("utf-8")).hexdigest()[:16]

    def audio_for(self, text: str) -> tuple[str, Path]:
        """The key and the WAV file saying `text`, synthesizing it on first use."""
        key = self.key_for(text)
        path = self.directory / f"{key}.wav"
        if not path.exists():
            with self._lock:
                if not path.exists():
                    self._write(path, self.synthesizer.synthesize(text))
        return key, path

    def path_for_key(self, key: object) -> Path | None:
        """The file for a key from a URL, or None if the key is malformed or unknown.

        Only 16 lowercase hex digits are accepted, so a route serving /audio/<key>.wav cannot be
        led outside the cache folder.
        """
        if not isinstance(key, str) or _KEY.fullmatch(key) is None:
            return None
        path = self.directory / f"{key}.wav"
        return path if path.is_file() else None

    def _write(self, path: Path, data: bytes) -> None:
        fd, temp = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=".wav.tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temp, 0o644)  # mkstemp makes 0600; let a separate web server read it
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        self._sizes.pop(path, None)
        self._sizes[path] = len(data)
        self._evict(keep=path)

    def _evict(self, keep: Path | None) -> None:
        """Delete the oldest WAVs until the folder is within `max_bytes` (never `keep`)."""
        total = sum(self._sizes.values())
        for old in list(self._sizes):
            if total <= self.max_bytes:
                break
            if old == keep:
                continue
            old.unlink(missing_ok=True)
            total -= self._sizes.pop(old)
