"""Option (c): threshold reporting in the manner of Apple's PSI (2021), on P-256 and AES-GCM.

The server learns nothing about an account's pictures until at least ``t`` of them match its
list; then it learns the *vouchers* (a payload the device attached: here a label, in Apple's
design a low-resolution derivative) of the matching ones, and nothing about the rest.

Protocol (x-coordinates of P-256 points, :mod:`vigil.e2ee.curve`; H is its hash to the curve)
1. **Setup** (server, once per list). A secret scalar alpha. Each listed item y goes into one slot
   of a cuckoo table with three hash functions (slot ``h_j(y)``, ``j ∈ {0,1,2}``, from a public
   seed; 1.3 slots per item); the slot holds x(alpha·H(y)). Empty slots hold points derived from the
   seed, which nobody knows a logarithm of. The device downloads the table and L = x(alpha·G). The
   device cannot tell which slots are real, or test a picture against them: that needs alpha.
2. **Voucher** (device, one per uploaded picture x, with a per-account key ``adkey``, a random
   polynomial f of degree t - 1 with f(0) = s, adkey = HKDF(s)). Random beta; Q = x(beta·H(x)); for
   each j: key_j = HKDF(x(beta·T[h_j(x)])), and ``ct_j = AES-GCM(key_j, share || inner)`` where
   share = (z, f(z)) with z = a PRF of the picture (the same picture gives the same share) and
   inner = AES-GCM(adkey, payload). The three ciphertexts go in random order.
3. **Server**. x(alpha·Q) = x(beta·alpha·H(x)) equals x(beta·T[h_j(x)]) exactly when T's slot holds
   alpha·H(x): the server derives one key and opens at most one ciphertext — only for a match. With
   ≥ t distinct shares it rebuilds f, so adkey, and opens the inner layers of the matches.
4. **Synthetic vouchers**. With probability ``synthetic_rate`` the device sends, instead of a
   real voucher, one that *always* opens: Q = x(gamma·G) and key = HKDF(x(gamma·L)) = HKDF(x(alpha·Q)),
   carrying a dummy share (a random point, not on f) and random bytes as inner layer. Q is a
   uniform point either way, and a real share is uniform until t exist, so the server cannot
   tell an opened synthetic voucher from a match: it learns the count of *opened* vouchers
   (real matches + synthetics), not the count of matches.

What leaks, exactly (measured by :func:`count_leak` and ``vigil bench e2ee``):
* the number of opened vouchers k = r + s, with s ~ Binomial(uploads - r, synthetic_rate): a
  noisy count of matches r. Its information is the distance between the distributions of k
  under r and under r' (:func:`count_leak`);
* the server decodes f with Berlekamp-Welch once r ≥ t + s (:mod:`vigil.e2ee.shamir`); with
  t ≤ r < t + s it can still find a consistent subset of t shares by search (cost C(k, t)), so
  the information-theoretic line is r ≥ t, the cheap line r ≥ t + s;
* a device learns nothing about its pictures (it cannot open anything);
* repeats: the device remembers every picture it made a voucher for and sends a voucher that
  never opens for a repeat, so a re-sent match neither opens twice (its share would repeat, and
  synthetic shares never do: the exact count of re-sent matches) nor counts twice;
* a server that does not build the table honestly: the device cannot check that L = x(alpha·G)
  uses the alpha of the slots. A server that publishes L = x(alpha'·G) opens synthetic vouchers
  with alpha' and matches with alpha, telling them apart, so it counts matches exactly below t;
  only an auditor who holds the key and rebuilds the table can see it (the table's bytes are
  in the log);
* the number of uploads, their timing and sizes (not hidden by this protocol).

Simplification against Apple's design, and why: Apple's device sends Q = beta·H(x) + gamma·G and
S = beta·T + gamma·L; ``cryptography`` has no point addition, so the gamma·G term is left out (synthetic
vouchers need none). Without it a non-matching voucher's key is x(beta·alpha'·H(x')) for whatever the
slot holds, still unpredictable to the server under the decisional Diffie-Hellman assumption,
but the construction has no security proof here: it is a measured illustration, not a
reviewed protocol. Apple also binds the cuckoo slots to a "detectable" secret sharing; here the
inner AES-GCM layer is the check that a decoded polynomial is right.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from vigil.e2ee import encoding, shamir
from vigil.e2ee.curve import POINT_BYTES, CurveError, Scalar, hash_to_point, point_x_from_seed
from vigil.matching.errors import InvalidSignal
from vigil.matching.policy import Candidate, ListRef, Outcome, decide

#: Cuckoo hash functions, slots per listed item.
HASHES = 3
LOAD = 1.3
#: The payload a voucher carries (padded; longer ones are refused): room for an exact element
#: (``sha256:`` and 64 hex digits), which is what the server learns of a match at t.
PAYLOAD_BYTES = 80
_NONCE = 12
_TAG = 16
_INNER = _NONCE + 2 + PAYLOAD_BYTES + _TAG
_OUTER_PLAIN = shamir.SHARE_BYTES + _INNER
_OUTER = _NONCE + _OUTER_PLAIN + _TAG
#: One voucher on the wire: Q, then the three ciphertexts.
VOUCHER_BYTES = POINT_BYTES + HASHES * _OUTER
_SEED = 16
_TABLE_MAGIC = b"vigil-e2ee-table-v1\n"
#: The largest table accepted (slots): 10^8 listed items.
MAX_SLOTS = 130_000_000
DEFAULT_THRESHOLD = 30
#: Opened vouchers of one account that :meth:`Account.reveal` decodes (the first that arrived):
#: decoding costs O(k^3) in k, ~1.5 s at 100 on one core (``vigil bench e2ee`` measures it), and
#: a modified client can make every voucher open (synthetic ones). An account whose first 100
#: opened vouchers hold fewer than t + (synthetic among them) real matches never reveals.
DEFAULT_MAX_CONSIDERED = 100


class ThresholdError(ValueError):
    """A table or voucher that is malformed or oversized, or a table that cannot be built."""


def _kdf(x: bytes, info: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, None, b"vigil-e2ee-" + info).derive(x)


def _slot(seed: bytes, j: int, item: bytes, size: int) -> int:
    d = hashlib.sha256(b"vigil-e2ee-cuckoo\0" + seed + bytes([j]) + item).digest()
    return int.from_bytes(d[:8], "big") % size


@dataclass(frozen=True)
class Table:
    """What the device downloads: ``seed`` (16 bytes), the slots (32 bytes each), L = x(alpha·G).

    Wire form: ``b"vigil-e2ee-table-v1\\n" || seed || L || slots`` (:meth:`to_bytes`)."""

    seed: bytes
    public: bytes
    slots: bytes

    @property
    def size(self) -> int:
        return len(self.slots) // POINT_BYTES

    def slot(self, w: int) -> bytes:
        return self.slots[w * POINT_BYTES:(w + 1) * POINT_BYTES]

    def to_bytes(self) -> bytes:
        return _TABLE_MAGIC + self.seed + self.public + self.slots

    @classmethod
    def from_bytes(cls, data: bytes, max_slots: int = MAX_SLOTS) -> Table:
        """Parse a table; :class:`ThresholdError` if it is not one or is larger than
        ``max_slots`` (checked on the length, before anything else)."""
        head = len(_TABLE_MAGIC) + _SEED + POINT_BYTES
        if len(data) > head + max_slots * POINT_BYTES:
            raise ThresholdError(f"table is larger than {max_slots:,} slots")
        if not data.startswith(_TABLE_MAGIC) or len(data) < head + POINT_BYTES \
                or (len(data) - head) % POINT_BYTES:
            raise ThresholdError("not a vigil threshold table (wrong header or length)")
        seed = data[len(_TABLE_MAGIC):len(_TABLE_MAGIC) + _SEED]
        return cls(seed, data[len(_TABLE_MAGIC) + _SEED:head], data[head:])


def _place(items: Sequence[bytes], seed: bytes, size: int) -> list[int] | None:
    """Cuckoo placement: slot → item index (-1 empty), or None if it does not fit."""
    table = [-1] * size
    rng = random.Random(seed)  # noqa: S311 - placement is public (the seed is published)
    for i in range(len(items)):
        cur = i
        for _ in range(500):
            slots = [_slot(seed, j, items[cur], size) for j in range(HASHES)]
            free = next((w for w in slots if table[w] < 0), None)
            if free is not None:
                table[free] = cur
                break
            w = rng.choice(slots)
            table[w], cur = cur, table[w]
        else:
            return None
    return table


def build_table(items: Sequence[bytes], secret: Scalar, seed: bytes | None = None,
                progress: object = None) -> Table:
    """The table of ``items`` (distinct byte strings) under ``secret`` (alpha). Deterministic in
    (items, alpha, seed), so an auditor holding them rebuilds the same bytes."""
    items = list(dict.fromkeys(items))
    size = max(8, math.ceil(len(items) * LOAD))
    seed = seed if seed is not None else os.urandom(_SEED)
    for attempt in range(8):
        placed = _place(items, seed, size)
        if placed is not None:
            break
        seed = hashlib.sha256(seed + bytes([attempt])).digest()[:_SEED]
    else:  # pragma: no cover - at 1.3 slots per item this does not happen
        raise ThresholdError("cuckoo table could not be built")
    tick = progress if callable(progress) else None
    slots = bytearray()
    for w, i in enumerate(placed):
        if i >= 0:
            slots += secret.times(hash_to_point(items[i], b"item"))
        else:
            slots += point_x_from_seed(seed + w.to_bytes(8, "big"))
        if tick is not None and w % 1000 == 999:
            tick(1000)
    return Table(seed, secret.times_base(), bytes(slots))


@dataclass(frozen=True)
class Opened:
    """An outer layer the server could open: a share and the inner ciphertext."""

    share: shamir.Share
    inner: bytes


class ThresholdServer:
    """The server side: holds alpha, opens vouchers, and reveals an account's matches at t."""

    def __init__(self, items: Sequence[bytes], secret: Scalar | None = None,
                 seed: bytes | None = None) -> None:
        self.secret = secret or Scalar()
        self.table = build_table(items, self.secret, seed)

    def open(self, voucher: bytes) -> Opened | None:
        """The voucher's share and inner layer if it opens (a match, or a synthetic voucher),
        else None. :class:`ThresholdError` for anything that is not a voucher (its length is
        checked before anything is parsed)."""
        if len(voucher) != VOUCHER_BYTES:
            raise ThresholdError(f"a voucher is {VOUCHER_BYTES} bytes, got {len(voucher)}")
        try:
            key = _kdf(self.secret.times(voucher[:POINT_BYTES]), b"outer")
        except CurveError as exc:
            raise ThresholdError(f"voucher: {exc}") from None
        aead = AESGCM(key)
        for j in range(HASHES):
            ct = voucher[POINT_BYTES + j * _OUTER:POINT_BYTES + (j + 1) * _OUTER]
            try:
                plain = aead.decrypt(ct[:_NONCE], ct[_NONCE:], None)
            except InvalidTag:
                continue
            try:
                share = shamir.decode_share(plain[:shamir.SHARE_BYTES])
            except shamir.ShareError:
                return None  # opened, but carries no share: treated as nothing
            return Opened(share, plain[shamir.SHARE_BYTES:])
        return None


@dataclass
class Account:
    """What the server holds about one account: the opened vouchers, by share x (a picture sent
    twice counts once). ``max_considered``: how many opened vouchers, the first to arrive,
    :meth:`reveal` decodes (:data:`DEFAULT_MAX_CONSIDERED`; at least ``threshold``)."""

    threshold: int = DEFAULT_THRESHOLD
    opened: dict[int, Opened] = field(default_factory=dict)
    max_considered: int = DEFAULT_MAX_CONSIDERED

    def __post_init__(self) -> None:
        if self.max_considered < self.threshold:
            raise ThresholdError("an account must consider at least threshold vouchers")

    def add(self, item: Opened | None) -> None:
        if item is not None:
            self.opened.setdefault(item.share.x, item)

    @property
    def opened_count(self) -> int:
        """What the server learns below the threshold: matches plus synthetic vouchers."""
        return len(self.opened)

    def reveal(self) -> list[bytes] | None:
        """The payloads of the matching vouchers, once the shares of the first
        ``max_considered`` opened vouchers decode (Berlekamp-Welch) and the inner layers open
        with the key they give (every opened voucher on the polynomial is revealed, also
        those past the cap); None before that."""
        first = [o.share for o in list(self.opened.values())[:self.max_considered]]
        poly = shamir.decode(first, self.threshold)
        if poly is None:
            return None
        aead = AESGCM(_adkey(poly.secret))
        out = []
        for o in self.opened.values():
            if poly(o.share.x) != o.share.y:
                continue
            try:
                padded = aead.decrypt(o.inner[:_NONCE], o.inner[_NONCE:], None)
            except InvalidTag:
                continue
            out.append(padded[2:2 + int.from_bytes(padded[:2], "big")])
        return out if out else None

    def outcomes(self, hash_list: ListRef) -> list[Outcome]:
        """The match policy's outcome of every revealed voucher whose payload is an exact
        element (:mod:`vigil.e2ee.encoding`): a match on ``hash_list``, with its trust; empty
        below the threshold."""
        out = []
        for payload in self.reveal() or ():
            try:
                st, value = encoding.parse_element(payload.decode("ascii"))
            except (UnicodeDecodeError, InvalidSignal):
                continue
            out.append(decide([Candidate(f"{st.value}:{value}", hash_list, st, 0)]))
        return out


def _adkey(secret: int) -> bytes:
    return _kdf(secret.to_bytes(32, "big"), b"adkey")


class Device:
    """One account's device: makes a voucher for every picture it uploads."""

    def __init__(self, table: Table, threshold: int = DEFAULT_THRESHOLD,
                 synthetic_rate: float = 0.0, rng: random.Random | None = None) -> None:
        if not 0.0 <= synthetic_rate < 1.0:
            raise ThresholdError("the synthetic rate is a probability below 1")
        self.table = table
        self.synthetic_rate = synthetic_rate
        self._rng = rng or random.SystemRandom()
        secret = secrets.randbelow(shamir.PRIME)
        self._poly = shamir.Polynomial.random(secret, threshold)
        self._adkey = _adkey(secret)
        self._prf = os.urandom(32)
        #: The share x of every picture this device made a voucher for (32 bytes each).
        self._vouchered: set[int] = set()

    def voucher(self, item: bytes, payload: bytes) -> bytes:
        """The voucher of one picture (``item``: its encoded hash; ``payload``: at most
        :data:`PAYLOAD_BYTES`), or a synthetic one with probability ``synthetic_rate``; for a
        picture this device already made a voucher for, a :meth:`blank` one. Without that, a
        matching picture sent twice opened twice with the same share, which no synthetic
        voucher ever does: the server counted such matches exactly (review of issue 19)."""
        if len(payload) > PAYLOAD_BYTES:
            raise ThresholdError(f"a voucher's payload is at most {PAYLOAD_BYTES} bytes")
        z = 1 + int.from_bytes(hmac.digest(self._prf, item, "sha256"), "big") % (shamir.PRIME - 1)
        if z in self._vouchered:
            return self.blank()
        self._vouchered.add(z)
        if self._rng.random() < self.synthetic_rate:
            return self.synthetic()
        inner = self._seal(AESGCM(self._adkey), (len(payload).to_bytes(2, "big")
                                                 + payload.ljust(PAYLOAD_BYTES, b"\0")))
        plain = shamir.encode_share(self._poly.share(z)) + inner
        beta = Scalar()
        q = beta.times(hash_to_point(item, b"item"))
        cts = []
        for j in range(HASHES):
            w = _slot(self.table.seed, j, item, self.table.size)
            key = _kdf(beta.times(self.table.slot(w)), b"outer")
            cts.append(self._seal(AESGCM(key), plain))
        self._rng.shuffle(cts)
        return q + b"".join(cts)

    def synthetic(self) -> bytes:
        """A voucher that always opens and carries a dummy share (see the module's docstring)."""
        gamma = Scalar()
        key = _kdf(gamma.times(self.table.public), b"outer")
        dummy = shamir.Share(1 + secrets.randbelow(shamir.PRIME - 1), secrets.randbelow(shamir.PRIME))
        plain = shamir.encode_share(dummy) + os.urandom(_INNER)
        cts = [self._seal(AESGCM(key), plain)] + [os.urandom(_OUTER) for _ in range(HASHES - 1)]
        self._rng.shuffle(cts)
        return gamma.times_base() + b"".join(cts)

    @staticmethod
    def blank() -> bytes:
        """A voucher that never opens: a uniform point and three random ciphertexts, which the
        server cannot tell from a non-matching picture's voucher."""
        return Scalar().times_base() + os.urandom(HASHES * _OUTER)

    @staticmethod
    def _seal(aead: AESGCM, plain: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + aead.encrypt(nonce, plain, None)


def count_leak(uploads: int, synthetic_rate: float, matches: int, other: int = 0) -> float:
    """How well the server tells ``matches`` real matches from ``other`` by the number of
    opened vouchers alone: the total-variation distance between r + Binomial(uploads - r, p)
    for the two values of r (0: indistinguishable; 1: always told apart). With p = 0 it is 1
    whenever the two differ — the server simply counts matches. Examples: (1000, 0.01, 0, 1)
    = 0.12, (1000, 0.01, 0, 10) = 0.887, (1000, 0.01, 0, 29) = 1.0: the decoys hide one
    match, not ten.

    ``uploads`` counts *distinct* pictures: a picture sent again gets a voucher that never
    opens (:meth:`Device.voucher`). Were it vouchered again, each re-sent match would open
    with the share it opened with before, which synthetic vouchers never do, and the server
    would count those matches exactly whatever ``synthetic_rate`` is (distance 1)."""
    if matches == other:
        return 0.0

    def pmf(r: int) -> dict[int, float]:
        n = uploads - r
        if synthetic_rate == 0.0:
            return {r: 1.0}
        lp, lq = math.log(synthetic_rate), math.log1p(-synthetic_rate)
        return {r + k: math.exp(math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
                                + k * lp + (n - k) * lq) for k in range(n + 1)}

    a, b = pmf(matches), pmf(other)
    return 0.5 * sum(abs(a.get(k, 0.0) - b.get(k, 0.0)) for k in set(a) | set(b))
