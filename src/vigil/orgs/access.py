"""Who may do what: the one place that decides.

Every API route declares one :class:`Scope`; a key carries a set of scopes; an organisation's
kind bounds which scopes its keys may ever hold (a provider's key can never verify indicators,
whatever it was issued with). What a principal may *read* is decided by each domain's
``repository.py`` (``readable`` queries), from the principal's kind and member state here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

# Re-exported: their home is vigil.countries (the two-jurisdiction rule of device lists uses them too).
from vigil.countries import EU_MEMBER_STATES as EU_MEMBER_STATES
from vigil.countries import member_state_of as member_state_of
from vigil.errors import Forbidden, Invalid


class OrgKind(StrEnum):
    CENTRE = "centre"
    PARTNER_CENTRE = "partner_centre"
    PROVIDER = "provider"
    HOTLINE = "hotline"
    AUTHORITY = "authority"
    EUROPOL = "europol"
    AUDITOR = "auditor"
    #: A prevention practitioner or researcher: proposes entries for the prevention hub.
    PRACTITIONER = "practitioner"


class Scope(StrEnum):
    ORGS_MANAGE = "orgs:manage"
    LISTS_MANAGE = "lists:manage"
    INDICATORS_PROPOSE = "indicators:propose"
    INDICATORS_REVIEW = "indicators:review"
    INDICATORS_READ = "indicators:read"
    LISTS_DOWNLOAD = "lists:download"
    MATCH = "match"
    LOG_READ = "log:read"
    AUDIT_READ = "audit:read"
    REPORTS_SUBMIT = "reports:submit"
    REPORTS_RECEIVE = "reports:receive"
    REPORTS_REVIEW = "reports:review"
    #: Aggregate figures (queue sizes, reports by status, indicators by list); no content.
    STATS_READ = "stats:read"
    #: Classify reported URLs, run proactive searches, follow notices (analysts, hotlines).
    TAKEDOWN_MANAGE = "takedown:manage"
    #: Approve a new organisation that may review or approve, or a key the Centre issued to
    #: one (a second party to the Centre: an approved partner centre, or an auditor).
    ORGS_APPROVE = "orgs:approve"
    #: Refer URLs classified illegal to this instance and follow them (a partner hotline's key,
    #: issued by this Centre; it can neither read nor classify anything else).
    REFERRALS_SUBMIT = "referrals:submit"
    #: Register a case's series (hashes of its media) and ask which other authority holds
    #: near-duplicates (law enforcement only; vigil.series).
    SERIES_LINK = "series:link"
    #: Propose programmes, resources and working groups for the prevention hub.
    PREVENTION_PROPOSE = "prevention:propose"
    #: Publish or reject the hub's proposals (the Centre).
    PREVENTION_REVIEW = "prevention:review"



_ALL = frozenset(Scope)
KIND_SCOPES: dict[OrgKind, frozenset[Scope]] = {
    OrgKind.CENTRE: _ALL,
    OrgKind.PARTNER_CENTRE: frozenset({
        Scope.INDICATORS_PROPOSE, Scope.INDICATORS_REVIEW, Scope.INDICATORS_READ,
        Scope.LISTS_DOWNLOAD, Scope.MATCH, Scope.LOG_READ, Scope.STATS_READ,
        Scope.ORGS_APPROVE, Scope.REFERRALS_SUBMIT}),
    # (reports:review stays with the Centre: it reads the reports themselves)
    OrgKind.PROVIDER: frozenset({Scope.LISTS_DOWNLOAD, Scope.MATCH, Scope.LOG_READ,
                                 Scope.REPORTS_SUBMIT}),
    OrgKind.HOTLINE: frozenset({Scope.INDICATORS_PROPOSE, Scope.MATCH, Scope.LOG_READ,
                                Scope.REPORTS_SUBMIT, Scope.TAKEDOWN_MANAGE,
                                Scope.REFERRALS_SUBMIT}),
    OrgKind.AUTHORITY: frozenset({Scope.INDICATORS_PROPOSE, Scope.MATCH, Scope.LOG_READ,
                                  Scope.REPORTS_RECEIVE, Scope.SERIES_LINK}),
    OrgKind.EUROPOL: frozenset({Scope.INDICATORS_PROPOSE, Scope.MATCH, Scope.LOG_READ,
                                Scope.REPORTS_RECEIVE, Scope.SERIES_LINK}),
    # An auditor checks that what is distributed (lists, their trust, the change feeds) equals
    # what the log says, so it downloads lists too.
    OrgKind.AUDITOR: frozenset({Scope.INDICATORS_READ, Scope.LOG_READ, Scope.AUDIT_READ,
                                Scope.STATS_READ, Scope.LISTS_DOWNLOAD, Scope.ORGS_APPROVE}),
    OrgKind.PRACTITIONER: frozenset({Scope.PREVENTION_PROPOSE}),
}

#: Scopes that make an organisation a *second party*: it reviews indicators (the second
#: organisation of the two-organisation rule) or approves other second parties. Whoever holds
#: them must really be that organisation, so they are the scopes the approval rules guard.
SECOND_PARTY_SCOPES = frozenset({Scope.INDICATORS_REVIEW, Scope.ORGS_APPROVE})

#: Kinds whose organisations may review indicators.
REVIEWING_KINDS = frozenset(k for k, scopes in KIND_SCOPES.items() if Scope.INDICATORS_REVIEW in scopes)

#: Kinds whose new organisations must be approved by a second party before their second-party
#: scopes work: every kind that may review or approve. Otherwise the Centre alone could meet the
#: two-organisation rule by creating a partner (or an auditor that then approves a partner)
#: and using its key. Organisations the operator sets up on the server (``vigil org add``,
#: the seed) are the founding ones: approved from the start, and shown so in the log.
APPROVED_KINDS = frozenset(k for k, scopes in KIND_SCOPES.items() if scopes & SECOND_PARTY_SCOPES)

#: Scopes a key issued by *another* organisation (the Centre) holds only once a second party
#: confirmed that its holder is the organisation it names (``POST /v1/keys/{id}/approve``; for
#: a kind in :data:`APPROVED_KINDS`, approving the organisation confirms its keys too): the
#: second-party scopes; proposing
#: — a proposal is one organisation's word in the two-organisation rule, so a proposing key the
#: Centre issued and kept would let the Centre propose and verify alone —; and series linking —
#: the Centre is kept out of other authorities' series, and a key it issued and kept, to an
#: authority it created, would let it ask them (each new organisation with a fresh daily quota).
VOUCHED_SCOPES = SECOND_PARTY_SCOPES | {Scope.INDICATORS_PROPOSE, Scope.SERIES_LINK}

#: Who may approve an organisation or a key: a second party, never the Centre.
APPROVER_KINDS = frozenset({OrgKind.PARTNER_CENTRE, OrgKind.AUDITOR})

#: Scopes whose holders sign in to the workspace with a second factor (TOTP): they see
#: reports, decide on indicators or on what the prevention hub publishes (a published entry is
#: public at once: a stolen password would put an attacker's helpline number before people
#: seeking help), or decide who may (organisations, keys, approvals). A staff
#: account whose granted scopes include one of them cannot open any page before it has
#: enrolled an authenticator (orgs/second_factor.py).
SECOND_FACTOR_SCOPES = frozenset({Scope.REPORTS_REVIEW, Scope.REPORTS_RECEIVE,
                                  Scope.INDICATORS_REVIEW, Scope.PREVENTION_REVIEW,
                                  Scope.ORGS_MANAGE, Scope.ORGS_APPROVE})


def parse_kind(value: str) -> OrgKind:
    """An organisation kind by its name; :class:`~vigil.errors.Invalid` naming the known ones."""
    try:
        return OrgKind(value.strip().lower())
    except ValueError:
        raise Invalid(f"unknown organisation kind {value!r} (known: "
                      f"{', '.join(k.value for k in OrgKind)})") from None


def parse_scopes(values: Iterable[str]) -> set[Scope]:
    """Scopes by their names; :class:`~vigil.errors.Invalid` naming the first unknown one and
    the known ones."""
    scopes = set()
    for value in values:
        try:
            scopes.add(Scope(value.strip()))
        except ValueError:
            raise Invalid(f"unknown scope {value!r} (known: "
                          f"{', '.join(s.value for s in Scope)})") from None
    return scopes


def effective_scopes(kind: OrgKind, org_approved: bool, key_approved: bool,
                     granted: Iterable[str | Scope]) -> frozenset[Scope]:
    """What a key (or a staff account's key) of an organisation may do now: what it was
    granted, within what the organisation's kind allows, without the second-party scopes
    (:data:`SECOND_PARTY_SCOPES`) while the organisation waits for its approval, and without
    :data:`VOUCHED_SCOPES` while the key — issued by another organisation, the Centre — waits
    for a second party to confirm that its holder is that organisation. The one place that
    says so."""
    scopes = frozenset(Scope(s) for s in granted) & KIND_SCOPES[kind]
    if kind in APPROVED_KINDS and not org_approved:
        scopes -= SECOND_PARTY_SCOPES
    if not key_approved:
        scopes -= VOUCHED_SCOPES
    return scopes


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: an API key of an organisation."""

    organisation_id: int
    organisation_name: str
    kind: OrgKind
    member_state: str | None
    key_id: int
    holder: str
    scopes: frozenset[Scope]

    def require(self, scope: Scope) -> None:
        if scope not in self.scopes:
            raise Forbidden(f"this key lacks the scope {scope.value!r}", scope=scope.value)


def allowed_scopes(kind: OrgKind) -> frozenset[Scope]:
    return KIND_SCOPES[kind]


def check_grant(kind: OrgKind, scopes: set[Scope]) -> None:
    extra = scopes - KIND_SCOPES[kind]
    if extra:
        names = ", ".join(sorted(s.value for s in extra))
        raise Forbidden(f"an organisation of kind {kind.value!r} cannot hold: {names}")


def routing_recipient(principal: Principal) -> str | None:
    """The routing name an authority or Europol receives under."""
    if principal.kind is OrgKind.AUTHORITY:
        return principal.member_state
    if principal.kind is OrgKind.EUROPOL:
        return "europol"
    return None
