"""The jobs page: the Centre's administrators see the jobs that gave up (dead letters) with
their last error, re-queue one (recorded in the audit trail), and see when each periodic task
last ran."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import Response

from vigil.audit.operations import retry_job
from vigil.db import transaction
from vigil.errors import DomainError
from vigil.jobs import periodic, queue
from vigil.orgs.access import Scope
from vigil.orgs.accounts import SignedIn
from vigil.web.render import PREFIX, check_csrf, page, redirect, render, tr_for

router = APIRouter(include_in_schema=False)
#: The Centre's administrators (the Centre alone holds orgs:manage).
Admin = Annotated[SignedIn, page(Scope.ORGS_MANAGE)]


@router.get(f"{PREFIX}/jobs")
def jobs_page(request: Request, signed: Admin) -> Response:
    with request.app.state.vigil.read_session() as s:
        dead = queue.jobs(s, state="dead", limit=500)
        runs = periodic.runs(s)
    return render(request, "jobs.html", {"dead": dead, "runs": runs,
                                         "summary": queue.error_summary})


@router.post(f"{PREFIX}/jobs/{{job_id}}/retry")
def retry(job_id: Annotated[int, Path(ge=1, le=2**63 - 1)], request: Request, signed: Admin,
          csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    check_csrf(signed, csrf)
    tr = tr_for(request, signed)
    try:
        with transaction(request.app.state.vigil.session) as s:
            kind = retry_job(s, signed.principal, job_id).kind
    except DomainError as exc:
        if exc.status == 404:
            raise
        return redirect(f"{PREFIX}/jobs", flash=("error", exc.message))
    return redirect(f"{PREFIX}/jobs", flash=("ok", tr.gettext(
        "Job %(id)s (%(kind)s) is queued again.", id=job_id, kind=kind)))
