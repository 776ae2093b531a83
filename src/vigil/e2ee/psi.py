"""Option (b): on-device matching against a list the device cannot read — ECDH private set
intersection with OpenMined's ``openmined.psi`` (C++, Google's private-join-and-compute
primitives; https://github.com/OpenMined/PSI).

Protocol (``openmined.psi``'s, on P-256): the server blinds every list element with its secret
key k and sends them once, compressed in a Golomb-compressed set (the *setup*, sized for a
false-positive probability ``fpr`` per query of up to ``max_query`` elements). For each query
the device blinds its own elements with a fresh key c and sends them; the server raises them to
k and sends them back in the same order; the device removes c and looks each one up in the
setup. So

* the device learns, for each of its elements, whether it is on the list (and with probability
  ``fpr`` a false "yes"); nothing about other list elements;
* the server learns that a query happened and how many elements it had — nothing about them,
  and nothing about the result (it never sees it);
* a network observer sees sizes and timing.

Limits are checked before parsing: the setup (``max_setup_bytes``) on the device, and each
request's size (``max_query`` elements) on the server.
"""

from __future__ import annotations

from collections.abc import Sequence

import private_set_intersection.python as openmined
from google.protobuf.message import DecodeError

from vigil.e2ee import encoding
from vigil.matching.policy import Candidate, ListRef, Outcome, decide

#: The most a query may hold by default (a batch of pictures' hashes); the perceptual server
#: sets its own (its scheme's query size).
DEFAULT_MAX_QUERY = 1000
#: The false-positive probability of one whole query.
DEFAULT_FPR = 1e-9
#: One blinded element on the wire (a compressed P-256 point) plus protobuf framing.
_ELEMENT_WIRE = 36
_WIRE_OVERHEAD = 64
DEFAULT_MAX_SETUP_BYTES = 512 * 1024 * 1024


class PsiError(ValueError):
    """A setup, request or response that is malformed or oversized."""


def _parse(cls: type, data: bytes, what: str) -> object:
    msg = cls()
    try:
        msg.ParseFromString(data)
    except DecodeError:
        raise PsiError(f"not a PSI {what} (protobuf does not parse)") from None
    return msg


class PsiServer:
    """The server: holds the key and the list; answers queries."""

    def __init__(self, elements: Sequence[str], *, max_query: int = DEFAULT_MAX_QUERY,
                 fpr: float = DEFAULT_FPR, key: bytes | None = None) -> None:
        if not 0 < fpr < 1:
            raise PsiError("fpr is a probability strictly between 0 and 1")
        self.max_query = max_query
        self._server = (openmined.server.CreateFromKey(key, True) if key is not None
                        else openmined.server.CreateWithNewKey(True))
        items = list(elements)
        try:
            setup = self._server.CreateSetupMessage(fpr, max_query, items,
                                                    openmined.DataStructure.GCS)
        except ValueError:
            # openmined.psi 2.0.6 fails to size its GCS when queries are several hundred times
            # larger than the list (e.g. 1 element and queries of 50,000; measured here).
            raise PsiError(f"openmined.psi cannot build a setup of {len(items):,} elements for "
                           f"queries of {max_query:,}: the list is too small for such queries"
                           ) from None
        self.setup: bytes = setup.SerializeToString()

    @property
    def key(self) -> bytes:
        """The server's secret key (only to rebuild the same server, e.g. for an auditor)."""
        key: bytes = self._server.GetPrivateKeyBytes()
        return key

    def answer(self, request: bytes) -> bytes:
        """The response to one device's request; :class:`PsiError` if the request is larger
        than ``max_query`` elements (checked on its length first) or malformed."""
        if len(request) > self.max_query * _ELEMENT_WIRE + _WIRE_OVERHEAD:
            raise PsiError(f"query larger than {self.max_query:,} elements")
        req = _parse(openmined.Request, request, "request")
        n = len(req.encrypted_elements)  # type: ignore[attr-defined]
        if n > self.max_query:
            raise PsiError(f"query of {n:,} elements, more than {self.max_query:,}")
        try:
            response = self._server.ProcessRequest(req)
        except RuntimeError as exc:
            raise PsiError(f"request refused: {exc}") from None
        out: bytes = response.SerializeToString()
        return out


class PsiDevice:
    """The device: holds the setup; each query uses a fresh key."""

    def __init__(self, setup: bytes, *, max_setup_bytes: int = DEFAULT_MAX_SETUP_BYTES) -> None:
        if len(setup) > max_setup_bytes:
            raise PsiError(f"setup larger than {max_setup_bytes:,} bytes")
        self._setup = _parse(openmined.ServerSetup, setup, "setup")
        self._client: object = None
        self._asked = 0

    def ask(self, elements: Sequence[str]) -> bytes:
        """The request for ``elements`` (keep them: :meth:`matches` answers by their index)."""
        self._client = openmined.client.CreateWithNewKey(True)
        self._asked = len(elements)
        req = self._client.CreateRequest(list(elements))  # type: ignore[attr-defined]
        out: bytes = req.SerializeToString()
        return out

    def matches(self, response: bytes) -> list[int]:
        """The indices (into the last :meth:`ask`) of the elements on the list."""
        if self._client is None:
            raise PsiError("no query was asked")
        if len(response) > self._asked * _ELEMENT_WIRE + _WIRE_OVERHEAD:
            raise PsiError("response larger than the query it answers")
        resp = _parse(openmined.Response, response, "response")
        if len(resp.encrypted_elements) != self._asked:  # type: ignore[attr-defined]
            raise PsiError("response does not answer the query (wrong number of elements)")
        try:
            found = self._client.GetIntersection(self._setup, resp)  # type: ignore[attr-defined]
        except RuntimeError as exc:
            raise PsiError(f"response refused: {exc}") from None
        return sorted(int(i) for i in found)


def outcome(matched: Sequence[str], hash_list: ListRef) -> Outcome:
    """The match policy's outcome of one picture whose exact elements ``matched`` (the ones the
    PSI found on ``hash_list``): each is a candidate at distance 0 with the list's trust."""
    candidates = []
    for element in matched:
        st, value = encoding.parse_element(element)
        candidates.append(Candidate(f"{st.value}:{value}", hash_list, st, 0))
    return decide(candidates)
