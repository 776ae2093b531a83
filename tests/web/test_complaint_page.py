"""The public complaint page: file a complaint about a removal without an account, keep the
number and token shown once, and follow the outcome with them (both databases)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.workspace import form_token
from vigil.accountability.models import Complaint


def test_a_person_files_a_complaint_and_follows_it(client: TestClient,
                                                    factory: sessionmaker[Session]) -> None:
    page = client.get("/help/complaint")
    assert page.status_code == 200 and "Complain about a removal" in page.text
    token = form_token(page.text)
    # Without the service's reference: refused, with what is missing, and what was typed kept.
    r = client.post("/help/complaint", data={"provider": "Example Photos", "reference": "",
                                             "statement": "my holiday photo", "csrf": token})
    assert r.status_code == 422 and "name the service and its reference" in r.text
    assert "my holiday photo" in r.text
    forged = client.post("/help/complaint", data={"provider": "P", "reference": "R",
                                                  "statement": "S", "csrf": "forged"})
    assert forged.status_code == 403
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(Complaint)) == 0
    r = client.post("/help/complaint", data={"provider": "Example Photos", "reference": "RM-17",
                                             "statement": "my holiday photo", "csrf": token})
    assert r.status_code == 200 and "Your complaint was received" in r.text
    number = r.text.split('<code id="complaint-id">')[1].split("<")[0]
    secret = r.text.split('<code id="complaint-token">')[1].split("<")[0]
    with factory() as s:
        (c,) = s.scalars(select(Complaint))
        assert c.public_id == number and c.via == "direct" and c.reference == "RM-17"
        assert secret not in (c.token_hash or "")  # only a digest is kept
    wrong = client.post("/help/complaint/status", data={"complaint_id": number, "token": "nope",
                                                        "csrf": token})
    assert wrong.status_code == 401 and "unknown complaint or wrong token" in wrong.text
    ok = client.post("/help/complaint/status", data={"complaint_id": number, "token": secret,
                                                     "csrf": token})
    assert ok.status_code == 200 and "Received; waiting for the reviewers." in ok.text
    de = client.get("/help/complaint", headers={"Accept-Language": "de"}).text
    assert "Sich über eine Entfernung beschweren" in de
