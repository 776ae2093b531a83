"""Signal types: the kinds of hash vigil matches, each with strict validation.

A *signal* is a hash of a piece of content. vigil knows six:

``pdq``        256-bit perceptual image hash, 64 hex characters, with a quality 0-100.
``md5``        MD5 of a file's bytes (32 hex characters).
``sha256``     SHA-256 of a file's bytes (64 hex characters).
``vpdq``       a video as PDQ hashes of sampled frames, each with quality and timestamp. The
               text form is the one threatexchange and HMA use: a JSON list of
               ``"<pdq hex>,<quality>,<timestamp>"`` strings.
``video_md5``  MD5 of a video file's bytes.
``sha1``       SHA-1 of a file's bytes (40 hex characters): the digest Project VIC's VICS
               files and NCMEC's hash sharing carry beside MD5 (an identifier of exact bytes,
               like MD5 here, never a security hash).

Parsing never guesses: a value that is not exactly right raises :class:`InvalidSignal` whose
message names the signal type and what is wrong with the value. Hex is normalised to lower case.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from enum import StrEnum

from vigil.matching.errors import InvalidSignal

PDQ_BITS = 256
PDQ_HEX_LEN = 64
#: Meta's recommended match threshold for PDQ (Hamming distance, inclusive).
PDQ_DEFAULT_THRESHOLD = 31
#: The largest threshold a list on a server may have. A list's threshold decides what its
#: hits do for every organisation (a verified list's hits may lead to action, an allow list's
#: suppress other hits), and beyond PDQ's recommended 31 bits distinct pictures start to
#: match (PDQ's documentation, pdq/README.md in facebook/ThreatExchange): one key setting 64
#: would make every picture a verified match, or suppress every hit. Local matching
#: (``vigil match --threshold``) may go further, its results are the caller's own.
PDQ_MAX_LIST_THRESHOLD = PDQ_DEFAULT_THRESHOLD
#: PDQ hashes below this quality carry too little information to match on (Meta's guidance).
PDQ_MIN_QUALITY = 50
#: Most frames a vPDQ hash may carry (a day of video at one frame a second is 86,400).
MAX_VPDQ_FRAMES = 100_000

_HEX = re.compile(r"[0-9a-f]*")


class SignalType(StrEnum):
    PDQ = "pdq"
    MD5 = "md5"
    SHA256 = "sha256"
    VPDQ = "vpdq"
    VIDEO_MD5 = "video_md5"
    #: Last: a type's position is its code in the server's index file (indicators/matcher.py).
    SHA1 = "sha1"

    @classmethod
    def parse(cls, name: str) -> SignalType:
        try:
            return cls(name.strip().lower())
        except ValueError:
            known = ", ".join(s.value for s in cls)
            raise InvalidSignal(f"unknown signal type {name!r} (known: {known})") from None


_DIGEST_LEN = {SignalType.MD5: 32, SignalType.SHA256: 64, SignalType.VIDEO_MD5: 32,
               SignalType.SHA1: 40}
#: The digest signal types and their size in bytes: what every exact index holds.
DIGEST_BYTES = {st: n // 2 for st, n in _DIGEST_LEN.items()}


def _clean_hex(signal_type: str, value: object, length: int) -> str:
    if not isinstance(value, str):
        raise InvalidSignal(f"{signal_type}: expected a hex string, got {type(value).__name__}")
    text = value.strip().lower()
    if len(text) != length:
        raise InvalidSignal(
            f"{signal_type}: expected {length} hex characters, got {len(text)} in {_show(value)}"
        )
    if not _HEX.fullmatch(text):
        raise InvalidSignal(f"{signal_type}: not hexadecimal: {_show(value)}")
    return text


def _show(value: str, limit: int = 80) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "...")


@dataclass(frozen=True, slots=True)
class PdqHash:
    """A PDQ hash: 64 lower-case hex characters and, when known, its quality (0-100)."""

    hex: str
    quality: int | None = None

    @classmethod
    def parse(cls, value: object, quality: object = None) -> PdqHash:
        text = _clean_hex("pdq", value, PDQ_HEX_LEN)
        return cls(text, _check_quality("pdq", quality))

    def to_bytes(self) -> bytes:
        return bytes.fromhex(self.hex)

    def distance(self, other: PdqHash) -> int:
        """Hamming distance in bits (0-256)."""
        return (int(self.hex, 16) ^ int(other.hex, 16)).bit_count()


def _check_quality(signal_type: str, quality: object) -> int | None:
    if quality is None:
        return None
    if isinstance(quality, bool) or not isinstance(quality, int | str):
        raise InvalidSignal(f"{signal_type}: quality must be an integer 0-100, got {quality!r}")
    try:
        q = int(quality)
    except (ValueError, OverflowError):
        raise InvalidSignal(f"{signal_type}: quality must be an integer 0-100, got {quality!r}") from None
    if not 0 <= q <= 100:
        raise InvalidSignal(f"{signal_type}: quality must be 0-100, got {q}")
    return q


@dataclass(frozen=True, slots=True)
class Digest:
    """A cryptographic digest of a file's bytes: md5, sha256, sha1 or video_md5."""

    signal_type: SignalType
    hex: str

    @classmethod
    def parse(cls, signal_type: SignalType | str, value: object) -> Digest:
        st = SignalType.parse(signal_type) if isinstance(signal_type, str) else signal_type
        if st not in _DIGEST_LEN:
            raise InvalidSignal(f"{st.value} is not a digest signal type")
        return cls(st, _clean_hex(st.value, value, _DIGEST_LEN[st]))

    def to_bytes(self) -> bytes:
        return bytes.fromhex(self.hex)


@dataclass(frozen=True, slots=True)
class VpdqFrame:
    """One sampled video frame: its PDQ hash, quality and time (seconds from the start)."""

    pdq: str
    quality: int
    timestamp: float
    frame_number: int | None = None

    def __str__(self) -> str:
        # Same text form as threatexchange's VpdqCompactFeature.
        return f"{self.pdq},{self.quality},{self.timestamp:.3f}"


@dataclass(frozen=True, slots=True)
class VpdqHash:
    """A video's vPDQ hash: its sampled frames in time order."""

    frames: tuple[VpdqFrame, ...]

    @classmethod
    def parse(cls, value: object) -> VpdqHash:
        """Parse the threatexchange/HMA text form (a JSON list of ``"hex,quality,ts"``)."""
        items: object = value
        if isinstance(value, str):
            try:
                items = json.loads(value)
            except json.JSONDecodeError as exc:
                raise InvalidSignal(f"vpdq: not a JSON list of frames ({exc.msg})") from None
            except (RecursionError, ValueError):
                raise InvalidSignal("vpdq: not a valid JSON list of frames") from None
        if not isinstance(items, list) or not items:
            raise InvalidSignal("vpdq: expected a non-empty list of frames")
        if len(items) > MAX_VPDQ_FRAMES:
            raise InvalidSignal(f"vpdq: {len(items)} frames, more than the {MAX_VPDQ_FRAMES} allowed")
        frames = []
        for i, item in enumerate(items):
            frames.append(_parse_frame(i, item))
        return cls(tuple(frames))

    def to_str(self) -> str:
        return json.dumps([str(f) for f in self.frames])


def _parse_frame(i: int, item: object) -> VpdqFrame:
    where = f"vpdq frame {i}"
    if isinstance(item, str):
        parts = item.split(",")
        if len(parts) != 3:
            raise InvalidSignal(f"{where}: expected 'pdq,quality,timestamp', got {_show(item)}")
        pdq, quality, ts = parts
    elif isinstance(item, dict):
        try:
            pdq, quality, ts = item["pdq"], item["quality"], item["timestamp"]
        except KeyError as exc:
            raise InvalidSignal(f"{where}: missing field {exc.args[0]!r}") from None
    else:
        raise InvalidSignal(f"{where}: expected a string or an object, got {type(item).__name__}")
    try:
        pdq_hex = _clean_hex(where, pdq, PDQ_HEX_LEN)
    except InvalidSignal as exc:
        raise InvalidSignal(exc.message) from None
    q = _check_quality(where, quality)
    if q is None:
        raise InvalidSignal(f"{where}: quality is required")
    if isinstance(ts, bool):
        raise InvalidSignal(f"{where}: timestamp must be a number, got {ts!r}")
    try:
        t = float(ts)
    except (TypeError, ValueError, OverflowError):
        raise InvalidSignal(f"{where}: timestamp must be a number, got {str(ts)[:40]!r}") from None
    if not math.isfinite(t) or t < 0:
        raise InvalidSignal(f"{where}: timestamp must be a finite number >= 0, got {ts!r}")
    return VpdqFrame(pdq_hex, q, t)


Signal = PdqHash | Digest | VpdqHash


def parse_signal(signal_type: SignalType | str, value: object) -> Signal:
    """Parse a hash of the given type; raises :class:`InvalidSignal` naming the problem."""
    st = SignalType.parse(signal_type) if isinstance(signal_type, str) else signal_type
    if st is SignalType.PDQ:
        return PdqHash.parse(value)
    if st is SignalType.VPDQ:
        return VpdqHash.parse(value)
    return Digest.parse(st, value)
