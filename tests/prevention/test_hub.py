"""The prevention hub on both databases: the seed of public sources, the one full-text search
(PostgreSQL's on PostgreSQL, FTS5 on SQLite), practitioners' proposals published or rejected
by the Centre with history, the open API and its bad inputs, the Atom feed, the pages."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.api import auth, make_client
from tests.fixtures.world import build_world
from vigil.db import transaction
from vigil.errors import Invalid
from vigil.orgs import service as orgs
from vigil.orgs.access import KIND_SCOPES, OrgKind
from vigil.prevention import repository, service

ATOM = "{http://www.w3.org/2005/Atom}"


@dataclass
class Hub:
    client: TestClient
    tokens: dict[str, str]
    factory: sessionmaker[Session]


@pytest.fixture
def hub(db_url: str, data_dir: Path, factory: sessionmaker[Session]) -> Iterator[Hub]:
    world = build_world(factory)
    tokens = dict(world.tokens)
    with transaction(factory) as s:
        service.seed(s)
        for name in ("Practice A", "Practice B"):
            org = orgs.create_organisation(s, None, name, OrgKind.PRACTITIONER)
            tokens[name] = orgs.issue_key(s, None, org.id, name,
                                          set(KIND_SCOPES[OrgKind.PRACTITIONER])).token
    with make_client(db_url, data_dir) as c:
        yield Hub(c, tokens, factory)


def _entry(**changes: object) -> dict[str, object]:
    entry: dict[str, object] = {
        "kind": "programme", "title": "Example parenting course",
        "summary": "A test entry: a course for parents about keeping children safe online.",
        "country": "AT", "languages": ["de"], "targets": ["parents"],
        "evaluation": {"design": "pre_post", "outcome": "made up for this test",
                       "strength": "limited"},
        "source": {"url": "https://example.org/course", "read": "2026-11-30"}}
    entry.update(changes)
    return entry


def test_every_seeded_entry_names_its_public_source_and_seeding_twice_changes_nothing(
        factory: sessionmaker[Session]) -> None:
    entries = service.read_seed()
    assert len(entries) >= 7
    kinds = {e.kind for _, e in entries}
    assert kinds == {"programme", "resource", "working_group"}
    for ident, e in entries:
        assert e.source.url.startswith(("https://", "http://")) and e.source.read.year == 2026, ident
        assert e.source.how == "read via stored copy", ident
        if e.kind == "programme":
            assert e.targets and e.evaluation is not None and e.evaluation.source, ident
        if e.kind == "working_group":
            assert e.members and e.outputs, ident
    with transaction(factory) as s:
        assert service.seed(s) == (len(entries), 0)
    with transaction(factory) as s:
        assert service.seed(s) == (0, 0)
        row = repository.entry(s, "troubled-desire")
        assert row is not None and [h.action for h in service.history_out(s, row)] == ["seeded"]


def test_a_seed_entry_without_a_source_is_refused_by_name() -> None:
    text = json.dumps({"entries": [{"id": "x", **{k: v for k, v in _entry().items()
                                                  if k != "source"}}]})
    with pytest.raises(Invalid, match="seed entry 'x': source: Field required"):
        service.read_seed(text)
    with pytest.raises(Invalid, match="needs a stable 'id'"):
        service.read_seed(json.dumps({"entries": [_entry()]}))


def test_search_words_filters_and_hostile_queries(hub: Hub) -> None:
    c = hub.client
    r = c.get("/v1/prevention/programmes", params={"q": "charit"})  # a prefix
    body = r.json()
    assert r.status_code == 200 and body["total"] == 2
    assert {i["id"] for i in body["items"]} == {"kein-taeter-werden", "troubled-desire"}
    engine = "postgresql" if "postgresql" in str(hub.factory.kw["bind"].url) else "fts5"
    assert body["search"] == engine
    # every word must occur
    assert c.get("/v1/prevention/programmes", params={"q": "charit helpline"}).json()["total"] == 0
    assert c.get("/v1/prevention/programmes",
                 params={"q": "confidential helpline"}).json()["items"][0]["id"] == \
        "stop-it-now-uk-ireland"
    # filters: country (with EU-wide and international entries), target group, language
    de = c.get("/v1/prevention/programmes", params={"country": "DE"}).json()
    assert {i["id"] for i in de["items"]} == {"kein-taeter-werden", "troubled-desire"}
    parents = c.get("/v1/prevention/resources", params={"target": "parents"}).json()
    assert [i["id"] for i in parents["items"]] == ["bik-helplines"]
    welsh = c.get("/v1/prevention/programmes", params={"language": "cy"}).json()
    assert [i["id"] for i in welsh["items"]] == ["stop-it-now-uk-ireland"]
    groups = c.get("/v1/prevention/working-groups").json()
    assert groups["total"] == 2 and all(i["members"] for i in groups["items"])
    # search syntax of either engine is only ever words
    for q in ['"', "*", "NEAR(", "a OR b", "x' --", "title:foo", "-x", "(((", "é" * 300]:
        r = c.get("/v1/prevention/programmes", params={"q": q[:200]})
        assert r.status_code == 200, q
    assert c.get("/v1/prevention/programmes", params={"q": "x" * 201}).status_code == 422
    assert c.get("/v1/prevention/programmes", params={"target": "everyone"}).status_code == 422
    assert c.get("/v1/prevention/programmes", params={"country": "Deutschland"}).status_code == 422
    assert c.get("/v1/prevention/programmes", params={"limit": 1000}).status_code == 422


def test_one_entry_with_history_and_the_helplines(hub: Hub) -> None:
    r = hub.client.get("/v1/prevention/entries/stop-it-now-uk-ireland").json()
    assert r["evaluation"]["design"] == "qualitative" and r["version"] == 1
    assert r["history"][0]["action"] == "seeded"
    assert hub.client.get("/v1/prevention/entries/nope").status_code == 404
    lines = hub.client.get("/v1/prevention/helplines").json()
    assert {"DE", "FR", "IE", "default"} <= {h["country"] for h in lines}
    assert all(h["source_url"] for h in lines)


def test_a_practitioner_proposes_and_the_centre_publishes(hub: Hub) -> None:
    c, t = hub.client, hub.tokens
    r = c.post("/v1/prevention/proposals", json={"entry": _entry()}, headers=auth(t["Practice A"]))
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    assert r.json()["status"] == "proposed"
    # not published yet
    assert c.get("/v1/prevention/programmes", params={"q": "parenting"}).json()["total"] == 0
    # the other practice does not see it; the Centre does
    assert c.get("/v1/prevention/proposals", headers=auth(t["Practice B"])).json() == []
    assert [p["id"] for p in c.get("/v1/prevention/proposals", headers=auth(t["centre"])).json()] == [pid]
    # a practitioner cannot publish; the Centre can
    no = c.post(f"/v1/prevention/proposals/{pid}/decision", json={"decision": "publish"},
                headers=auth(t["Practice A"]))
    assert no.status_code == 403 and "prevention:review" in no.text
    ok = c.post(f"/v1/prevention/proposals/{pid}/decision", json={"decision": "publish"},
                headers=auth(t["centre"]))
    assert ok.status_code == 200 and ok.json()["status"] == "approved"
    entry_id = ok.json()["published_as"]
    found = c.get("/v1/prevention/programmes", params={"q": "parenting", "country": "AT"}).json()
    assert [i["id"] for i in found["items"]] == [entry_id]  # the search index follows at once
    again = c.post(f"/v1/prevention/proposals/{pid}/decision", json={"decision": "publish"},
                   headers=auth(t["centre2"]))
    assert again.status_code == 409
    # a change, as a new version, with history
    change = _entry(title="Example parenting course, second edition")
    r = c.post("/v1/prevention/proposals", json={"entry": change, "replaces": entry_id},
               headers=auth(t["Practice A"]))
    cid = r.json()["id"]
    assert r.json()["replaces"] == entry_id
    c.post(f"/v1/prevention/proposals/{cid}/decision", json={"decision": "publish"},
           headers=auth(t["centre"]))
    detail = c.get(f"/v1/prevention/entries/{entry_id}").json()
    assert detail["version"] == 2 and detail["title"].endswith("second edition")
    assert [h["action"] for h in detail["history"]] == ["approved", "approved"]
    feed = ET.fromstring(c.get("/v1/prevention/feed.atom").content)
    assert feed.findall(f"{ATOM}entry")[0].findtext(f"{ATOM}title").endswith("second edition")


def test_rejection_needs_a_reason_and_nobody_publishes_their_own(hub: Hub) -> None:
    c, t = hub.client, hub.tokens
    pid = c.post("/v1/prevention/proposals", json={"entry": _entry()},
                 headers=auth(t["centre"])).json()["id"]
    own = c.post(f"/v1/prevention/proposals/{pid}/decision", json={"decision": "publish"},
                 headers=auth(t["centre"]))
    assert own.status_code == 403 and "other than its author" in own.text
    bare = c.post(f"/v1/prevention/proposals/{pid}/decision", json={"decision": "reject"},
                  headers=auth(t["centre2"]))
    assert bare.status_code == 422 and "say why" in bare.text
    r = c.post(f"/v1/prevention/proposals/{pid}/decision",
               json={"decision": "reject", "reason": "no public source for the evaluation"},
               headers=auth(t["centre2"]))
    assert r.json()["status"] == "rejected" and r.json()["reason"].startswith("no public")
    assert c.get("/v1/prevention/programmes", params={"q": "parenting"}).json()["total"] == 0


@pytest.mark.parametrize(("entry", "problem"), [
    ({"source": None}, "source"),
    ({"source": {"url": "ftp://x", "read": "2026-11-30"}}, "source"),
    ({"summary": "x" * 4001}, "summary"),
    ({"languages": ["deu"]}, "ISO 639-1"),
    ({"country": "Germany"}, "country"),
    ({"targets": ["everyone"]}, "targets"),
    ({"kind": "rumour"}, "kind"),
    ({"unknown": 1}, "unknown"),
    # control characters: one breaks the Atom feed for every reader, NUL cannot be stored
    ({"title": "Course \x0b for parents"}, "title may not contain the control character U+000B"),
    ({"title": "abc\x00def"}, "title may not contain the control character U+0000"),
    ({"summary": "A long enough summary \x1b[31m red"}, "summary may not contain"),
    ({"contact": "Phone\x07 the desk"}, "contact may not contain"),
    ({"anonymous": "Chat\x0c without a name"}, "anonymous may not contain"),
    ({"members": ["fine", "bad\x01"]}, "members may not contain"),
    ({"evaluation": {"design": "none", "outcome": "x\x02", "strength": "none"}},
     "outcome may not contain"),
    ({"source": {"url": "https://example.org/a\x01b", "read": "2026-11-30"}},
     "url may not contain"),
    ({"source": {"url": "https://example.org/a", "read": "2026-11-30", "how": "by\x7f"}},
     "how may not contain"),
])
def test_bad_proposals_are_refused_naming_the_field(hub: Hub, entry: dict[str, object],
                                                     problem: str) -> None:
    body = _entry(**entry)
    if entry.get("source", 1) is None:
        body.pop("source")
    r = hub.client.post("/v1/prevention/proposals", json={"entry": body},
                        headers=auth(hub.tokens["Practice A"]))
    assert r.status_code == 422 and problem in r.text, r.text
    assert hub.client.get("/v1/prevention/proposals",
                          headers=auth(hub.tokens["Practice A"])).json() == []


def test_free_text_keeps_line_breaks_and_the_feed_stays_well_formed(hub: Hub) -> None:
    c, t = hub.client, hub.tokens
    entry = _entry(summary="Two lines:\r\n\tthe second one, indented.", title="Course\tA")
    p = c.post("/v1/prevention/proposals", json={"entry": entry}, headers=auth(t["Practice A"]))
    assert p.status_code == 201, p.text
    bad = c.post(f"/v1/prevention/proposals/{p.json()['id']}/decision",
                 json={"decision": "reject", "reason": "see \x1b[2J"}, headers=auth(t["centre"]))
    assert bad.status_code == 422 and "reason may not contain" in bad.text, bad.text
    ok = c.post(f"/v1/prevention/proposals/{p.json()['id']}/decision",
                json={"decision": "publish"}, headers=auth(t["centre"]))
    assert ok.status_code == 200, ok.text
    feed = ET.fromstring(c.get("/v1/prevention/feed.atom").content)
    assert any(e.findtext(f"{ATOM}title") == "Course\tA" for e in feed.iter(f"{ATOM}entry"))


def test_proposals_need_a_key_with_the_scope(hub: Hub) -> None:
    c = hub.client
    assert c.post("/v1/prevention/proposals", json={"entry": _entry()}).status_code == 401
    r = c.post("/v1/prevention/proposals", json={"entry": _entry()},
               headers=auth(hub.tokens["provider"]))
    assert r.status_code == 403
    r = c.post("/v1/prevention/proposals", json={"entry": _entry(), "replaces": "nope"},
               headers=auth(hub.tokens["Practice A"]))
    assert r.status_code == 404


def test_the_hub_pages(hub: Hub) -> None:
    c = hub.client
    page = c.get("/prevention")
    assert page.status_code == 200 and "set-cookie" not in page.headers
    assert "7 entries" in page.text and 'href="/prevention/entries/troubled-desire"' in page.text
    fr = c.get("/prevention", params={"q": "helpline", "lang": "fr"}).text
    assert '<html lang="fr">' in fr and "Portail de prévention" in fr
    assert 'href="/prevention/entries/stop-it-now-uk-ireland?lang=fr"' in fr
    assert c.get("/prevention", params={"kind": "<b>", "target": "x", "country": "<>"}).status_code == 200
    one = c.get("/prevention/entries/kein-taeter-werden", headers={"Accept-Language": "de"}).text
    assert "beschreibende Studie (ohne Vergleichsgruppe)" in one
    assert "gelesen am 30. November 2026" in one and 'id="history"' in one
    assert c.get("/prevention/entries/nope").status_code == 404
    ecris = c.get("/prevention/ecris").text
    assert "ECRIS" in ecris and "Bundesamt für Justiz" in ecris
    assert len(re.findall(r"read on 30 November 2026", ecris)) == 2


def test_the_workspace_page_of_proposals(hub: Hub) -> None:
    """A practitioner follows the proposals; the Centre's editor publishes or rejects them on
    the page, with the same rules as the API."""
    from tests.fixtures.workspace import PASSWORD, sign_in
    from vigil.orgs import accounts

    c, t = hub.client, hub.tokens
    with transaction(hub.factory) as s:
        centre = orgs.authenticate(s, t["centre"]).organisation_id
        practice = orgs.authenticate(s, t["Practice A"]).organisation_id
        accounts.create_account(s, None, centre, "edith", "editor", password=PASSWORD)
        accounts.create_account(s, None, practice, "pia", "practitioner", password=PASSWORD,
                                locale="fr")
    for title in ("First course", "Second course"):
        c.post("/v1/prevention/proposals", json={"entry": _entry(title=title)},
               headers=auth(t["Practice A"]))
    sign_in(c, "pia")
    mine = c.get("/app/prevention")
    assert mine.status_code == 200 and '<html lang="fr">' in mine.text
    assert mine.text.count("en attente du Centre") == 2 and "Publier" not in mine.text
    assert c.post("/app/prevention/x/decision", data={"decision": "publish"}).status_code == 403
    csrf = sign_in(c, "edith")
    page = c.get("/app/prevention").text
    ids = re.findall(r'action="/app/prevention/([0-9a-f-]{36})/decision"', page)
    assert len(ids) == 2
    bare = c.post(f"/app/prevention/{ids[0]}/decision", data={"decision": "reject", "csrf": csrf})
    assert "say why" in bare.text  # the flash of the page it was sent back to
    ctrl = c.post(f"/app/prevention/{ids[0]}/decision",
                  data={"decision": "reject", "reason": "no\x0bsource", "csrf": csrf})
    assert "reason may not contain the control character U+000B" in ctrl.text
    c.post(f"/app/prevention/{ids[0]}/decision",
           data={"decision": "reject", "reason": "no evaluation source", "csrf": csrf})
    done = c.post(f"/app/prevention/{ids[1]}/decision", data={"decision": "publish", "csrf": csrf})
    assert "is published" in done.text
    forged = c.post(f"/app/prevention/{ids[1]}/decision", data={"decision": "publish",
                                                                 "csrf": "forged"})
    assert forged.status_code == 403
    sign_in(c, "pia")
    mine = c.get("/app/prevention").text
    assert "no evaluation source" in mine and "publiée" in mine
    assert c.get("/prevention", params={"q": "course"}).text.count('class="entry"') == 1


# -- what the editor sees before publishing (review finding: a change hid its new website) --

def _editor(h: Hub, locale: str = "en") -> str:
    from tests.fixtures.workspace import PASSWORD, sign_in
    from vigil.orgs import accounts

    with transaction(h.factory) as s:
        centre = orgs.authenticate(s, h.tokens["centre"]).organisation_id
        accounts.create_account(s, None, centre, "edith", "editor", password=PASSWORD,
                                locale=locale)
    return sign_in(h.client, "edith")


def _rows(page: str) -> dict[str, str]:
    """The comparison's rows by field: class ('changed'/'same') and the row's text."""
    return {m.group(2): m.group(1) + " " + re.sub(r"<[^>]+>", " ", m.group(3))
            for m in re.finditer(r'<tr class="(changed|same)" data-field="([a-z.]+)">(.*?)</tr>',
                                 page, re.S)}


def test_a_change_is_compared_field_by_field_with_the_published_entry(hub: Hub) -> None:
    c, t = hub.client, hub.tokens
    orig = c.get("/v1/prevention/entries/troubled-desire").json()
    changed = {k: orig[k] for k in ("kind", "title", "summary", "country", "languages", "targets",
                                    "url", "contact", "anonymous", "evaluation", "licence",
                                    "members", "outputs", "source")}
    changed["url"] = "https://troubled-desire.example.net/login"
    changed["contact"] = "Write to help@elsewhere.example with your full name and phone number"
    changed["anonymous"] = "Not possible: give your name and address first."
    changed["evaluation"] = {**orig["evaluation"], "design": "rct", "strength": "strong"}
    r = c.post("/v1/prevention/proposals", json={"entry": changed, "replaces": "troubled-desire"},
               headers=auth(t["Practice A"]))
    assert r.status_code == 201, r.text
    csrf = _editor(hub)
    page = c.get("/app/prevention").text
    rows = _rows(page)
    for key in ("url", "contact", "anonymous", "evaluation.design", "evaluation.strength"):
        assert rows[key].startswith("changed"), (key, rows[key])
    for key in ("title", "summary", "source.url", "kind", "evaluation.outcome"):
        assert rows[key].startswith("same"), (key, rows[key])
    # both sides are shown: the published website and the proposed one
    assert orig["url"] in rows["url"] and "troubled-desire.example.net/login" in rows["url"]
    assert "help@elsewhere.example" in rows["contact"] and "Not possible" in rows["anonymous"]
    assert "randomised controlled trial" in rows["evaluation.design"]
    assert "5 fields differ from the published entry" in page
    pid = re.search(r'action="/app/prevention/([0-9a-f-]{36})/decision"', page)
    assert pid
    c.post(f"/app/prevention/{pid.group(1)}/decision", data={"decision": "publish", "csrf": csrf})
    assert 'href="https://troubled-desire.example.net/login"' in c.get(
        "/prevention/entries/troubled-desire").text


def test_a_new_entry_shows_every_field(hub: Hub) -> None:
    c, t = hub.client, hub.tokens
    entry = _entry(url="https://example.org/course/signup", contact="Phone the desk",
                   anonymous="Chat without a name", licence="CC BY 4.0",
                   members=["Group member one"], outputs=["A leaflet"],
                   evaluation={"design": "qualitative", "outcome": "made up outcome text",
                               "strength": "moderate", "source": "https://example.org/eval"},
                   source={"url": "https://example.org/course", "read": "2026-11-30",
                           "how": "read in a browser"})
    assert c.post("/v1/prevention/proposals", json={"entry": entry},
                  headers=auth(t["Practice A"])).status_code == 201
    _editor(hub, locale="de")
    page = c.get("/app/prevention").text
    for text in ("https://example.org/course/signup", "Phone the desk", "Chat without a name",
                 "CC BY 4.0", "Group member one", "A leaflet", "made up outcome text",
                 "https://example.org/eval", "read in a browser", "2026-11-30",
                 "qualitative Studie", "Eltern"):
        assert text in page, text
    assert 'data-field="evaluation.strength"' in page and "changed" not in page.split("<main")[-1]


def test_the_feed_never_takes_its_links_from_the_host_header(db_url: str, data_dir: Path,
                                                              factory: sessionmaker[Session]) -> None:
    """A caller's Host header cannot put another site's address into the feed (which caches
    and aggregators pass on): links come from VIGIL_PUBLIC_URL, or are relative."""
    with transaction(factory) as s:
        service.seed(s)

    def links(c: TestClient) -> tuple[set[str], list[str]]:
        body = c.get("/v1/prevention/feed.atom", headers={"Host": "attacker.example"}).content
        assert b"attacker.example" not in body
        feed = ET.fromstring(body)
        hrefs = {link.get("href") or "" for link in feed.iter(f"{ATOM}link")}
        ids = [i.text or "" for i in feed.iter(f"{ATOM}id")]
        return hrefs, ids

    with make_client(db_url, data_dir) as c:
        hrefs, ids = links(c)
    assert hrefs and all(h.startswith("/") for h in hrefs)
    assert all(i.startswith("urn:uuid:") for i in ids) and len(set(ids)) == len(ids)
    with make_client(db_url, data_dir, public_url="https://centre.example.eu/") as c:
        hrefs2, ids2 = links(c)
    assert hrefs2 == {f"https://centre.example.eu{h}" for h in hrefs}
    assert ids2 == ids  # ids do not change with the address


@pytest.mark.parametrize("bad", ["centre.example.eu", "https://x.example/path", "javascript:x",
                                 "https://x.example/?q=1"])
def test_a_public_url_that_is_not_a_site_address_is_refused(bad: str) -> None:
    from pydantic import ValidationError

    from vigil.config import Settings
    with pytest.raises(ValidationError, match="public_url"):
        Settings(public_url=bad)


def _publish(hub: Hub, entry: dict[str, object]) -> str:
    c, t = hub.client, hub.tokens
    pid = c.post("/v1/prevention/proposals", json={"entry": entry},
                 headers=auth(t["Practice A"])).json()["id"]
    r = c.post(f"/v1/prevention/proposals/{pid}/decision", json={"decision": "publish"},
               headers=auth(t["centre"]))
    assert r.status_code == 200, r.text
    return str(r.json()["published_as"])


def test_accents_and_case_do_not_change_what_search_finds(hub: Hub) -> None:
    """PostgreSQL's 'simple' configuration keeps accents and SQLite's FTS5 drops them: both
    search folded text, so the same words find the same entries on either database."""
    _publish(hub, _entry(title="Évaluation d'un cours pour les Élèves",
                         summary="Un cours d'essai sur la sécurité en ligne, à Straße 1."))
    _publish(hub, _entry(title="Evaluation of a course for pupils"))
    c = hub.client

    def titles(q: str) -> set[str]:
        r = c.get("/v1/prevention/programmes", params={"q": q})
        assert r.status_code == 200, r.text
        return {i["title"] for i in r.json()["items"]}

    both = {"Évaluation d'un cours pour les Élèves", "Evaluation of a course for pupils"}
    found = titles("evaluation")  # seed entries speak of evaluations too
    assert both <= found and found == titles("ÉVALUATION") == titles("évaluation")
    assert titles("eleves") == titles("élèves") == {"Évaluation d'un cours pour les Élèves"}
    assert titles("securite strasse") == {"Évaluation d'un cours pour les Élèves"}


def test_nobody_decides_their_own_proposal_through_another_key(hub: Hub) -> None:
    c, t = hub.client, hub.tokens
    with transaction(hub.factory) as s:
        centre = orgs.organisation_named(s, "Centre")
        second = orgs.issue_key(s, None, centre.id, "  CENTRE ",
                                set(KIND_SCOPES[OrgKind.CENTRE])).token
    pid = c.post("/v1/prevention/proposals", json={"entry": _entry()},
                 headers=auth(t["centre"])).json()["id"]
    own = c.post(f"/v1/prevention/proposals/{pid}/decision", json={"decision": "publish"},
                 headers=auth(second))
    assert own.status_code == 403 and "another person" in own.text
    other = c.post(f"/v1/prevention/proposals/{pid}/decision", json={"decision": "publish"},
                   headers=auth(t["centre2"]))
    assert other.status_code == 200, other.text


def test_an_organisation_cannot_bury_the_review_queue(hub: Hub,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "MAX_OPEN_PROPOSALS", 3)
    c, t = hub.client, hub.tokens
    ids = [c.post("/v1/prevention/proposals", json={"entry": _entry(title=f"Course {i}")},
                  headers=auth(t["Practice A"])) for i in range(3)]
    assert all(r.status_code == 201 for r in ids)
    over = c.post("/v1/prevention/proposals", json={"entry": _entry()},
                  headers=auth(t["Practice A"]))
    assert over.status_code == 429 and "waiting for the Centre" in over.text
    # another organisation is not held up, and a decision frees a place
    assert c.post("/v1/prevention/proposals", json={"entry": _entry()},
                  headers=auth(t["Practice B"])).status_code == 201
    c.post(f"/v1/prevention/proposals/{ids[0].json()['id']}/decision",
           json={"decision": "reject", "reason": "a duplicate"}, headers=auth(t["centre"]))
    assert c.post("/v1/prevention/proposals", json={"entry": _entry()},
                  headers=auth(t["Practice A"])).status_code == 201


@pytest.mark.parametrize("variant", ["centre\u200b", "centre\u00ad", "centre\u034f",
                                     "\uff43\uff45\uff4e\uff54\uff52\uff45", " CENTRE "])
def test_invisible_or_full_width_variants_of_a_name_are_the_same_person(variant: str) -> None:
    assert service.same_person("centre", variant)
    assert not service.same_person("centre", "centre2")


def test_text_an_xml_feed_cannot_carry_is_refused(hub: Hub) -> None:
    for bad in ("\ufffe", "\uffff", "\x85"):
        r = hub.client.post("/v1/prevention/proposals",
                            json={"entry": _entry(title=f"Course {bad} B")},
                            headers=auth(hub.tokens["Practice A"]))
        assert r.status_code == 422 and "control character" in r.text, (bad, r.text)
    assert ET.fromstring(hub.client.get("/v1/prevention/feed.atom").content) is not None


def test_punctuation_splits_words_alike_on_both_databases(hub: Hub) -> None:
    _publish(hub, _entry(title="Course with an address", contact="info@helpline.example.org",
                         summary="Open 1.5 hours a day at helpline.example.org/course."))
    c = hub.client
    for q in ("example", "org", "helpline", "course", "1"):
        titles = {i["title"] for i in c.get("/v1/prevention/programmes",
                                            params={"q": q}).json()["items"]}
        assert "Course with an address" in titles, q


def test_a_workspace_account_and_a_key_of_the_same_person_are_one_author(hub: Hub) -> None:
    """Edith signs in as "edith" (display name "Edith Example") and also holds an API key in
    her full name: whichever of the two proposed, the other cannot publish it."""
    from sqlalchemy import select

    from tests.fixtures.workspace import PASSWORD, sign_in
    from vigil.errors import Forbidden
    from vigil.orgs import accounts
    from vigil.orgs.models import StaffAccount
    from vigil.prevention.schemas import EntryIn

    c, t = hub.client, hub.tokens
    with transaction(hub.factory) as s:
        centre = orgs.authenticate(s, t["centre"]).organisation_id
        accounts.create_account(s, None, centre, "edith", "editor", password=PASSWORD,
                                display_name="Edith Example")
        key = orgs.issue_key(s, None, centre, "Edith  EXAMPLE",
                             set(KIND_SCOPES[OrgKind.CENTRE])).token
    # proposed with the key, refused on the page signed in as the account
    pid = c.post("/v1/prevention/proposals", json={"entry": _entry(title="Edith's course")},
                 headers=auth(key)).json()["id"]
    csrf = sign_in(c, "edith")
    c.post(f"/app/prevention/{pid}/decision", data={"decision": "publish", "csrf": csrf})
    listed = c.get("/v1/prevention/proposals", headers=auth(t["centre2"])).json()
    items = listed if isinstance(listed, list) else listed["items"]
    assert next(p for p in items if p["id"] == pid)["status"] == "proposed"
    # proposed as the account, refused to the key
    with transaction(hub.factory) as s:
        edith = accounts.principal_of(s.scalars(
            select(StaffAccount).where(StaffAccount.username == "edith")).one())
        with pytest.raises(Forbidden, match="another person"):
            service.decide(s, edith, pid, "publish")
        own = service.propose(s, edith, EntryIn.model_validate(_entry(title="Edith's second")))
        own_id = own.public_id
    r = c.post(f"/v1/prevention/proposals/{own_id}/decision", json={"decision": "publish"},
               headers=auth(key))
    assert r.status_code == 403 and "another person" in r.text
    # another person publishes both
    for ident in (pid, own_id):
        ok = c.post(f"/v1/prevention/proposals/{ident}/decision", json={"decision": "publish"},
                    headers=auth(t["centre2"]))
        assert ok.status_code == 200, ok.text
