"""Replay many, from the API and the dashboard: start a job, watch its progress, cancel it.

The job itself runs in :mod:`webbin.outbound.replays`; these views validate what to replay,
start it in this worker and show its row, which any worker can read.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.exceptions import Conflict

from webbin import ratelimit
from webbin.live import forwarders
from webbin.outbound import replays, resend
from webbin.receiver.strict import InvalidInput, validate
from webbin.storage import queries
from webbin.storage.models import Bin, ReplayJob, ReplayOutcome
from webbin.web import csrf, schemas
from webbin.web.api import int_arg
from webbin.web.schemas import InvalidBody, ReplayBody, body_as, invalid_body_response
from webbin.web.serialize import rfc3339

api = Blueprint("replays_api", __name__, url_prefix="/api")
api.register_error_handler(InvalidBody, invalid_body_response)
pages = Blueprint("replays_pages", __name__)
csrf.protect(pages)

# Outcomes per API answer, and shown under a job in the dashboard (the newest ones).
OUTCOMES_PAGE = 1000
OUTCOMES_SHOWN = 10
# Jobs shown on the bin page.
JOBS_SHOWN = 5


def start(bin_: Bin, body: ReplayBody) -> ReplayJob:
    """Check what ``body`` asks for, create the job and run it in this worker; InvalidBody
    (400) for a bad selection, URL or both a URL and a forwarder, Conflict (409) when the
    forwarder is not connected to the bin or the bin runs enough already."""
    if body.q is None and body.ids is None:
        message = 'give "q" (a search; "" for every request of the bin) or "ids"'
        raise InvalidBody([{"path": "", "message": message}], message + ".")
    if body.url is not None and body.forwarder is not None:
        message = 'give "url" or "forwarder", not both'
        raise InvalidBody([{"path": "", "message": message}], message + ".")
    url, forwarder = None, None
    if body.forwarder is not None:
        forwarder = forwarders.find(bin_.id, body.forwarder)
        if forwarder is None:
            raise Conflict(forwarders.NOT_CONNECTED)
    else:
        url = body.url or bin_.resend_url
        if not url:
            message = (
                "give the target URL or a forwarder (this bin has no resend_url to fall back on)"
            )
            raise InvalidBody([{"path": "url", "message": message}], message + ".")
    try:
        ids = replays.selection(bin_.id, body.q, body.ids)
        job = replays.create(bin_, ids, body.rate, url=url, forwarder=forwarder)
    except InvalidInput as error:
        raise InvalidBody(error.errors, str(error)) from None
    except resend.InvalidTarget as error:
        raise InvalidBody([{"path": "url", "message": str(error)}], str(error)) from None
    except replays.Busy as error:
        raise Conflict(str(error)) from None
    replays.start(current_app._get_current_object(), job.id, ratelimit.client_key())
    return job


def job_view(job: ReplayJob) -> dict[str, Any]:
    through = None
    if job.forwarder_id is not None:
        through = schemas.ReplayForwarder(
            id=job.forwarder_id, name=job.forwarder_name or "", target=job.url
        )
    return schemas.ReplayJob(
        id=job.id,
        url=job.url,
        forwarder=through,
        rate=job.rate,
        state=job.state,
        total=job.total,
        done=job.done,
        failed=job.failed,
        created_at=rfc3339(job.created_at),
        finished_at=rfc3339(job.finished_at) if job.finished_at else None,
        error=job.error,
    ).model_dump()


def outcome_view(outcome: ReplayOutcome) -> dict[str, Any]:
    return schemas.ReplayOutcome(
        position=outcome.position,
        request_id=outcome.request_id,
        attempt_id=outcome.attempt_id,
        sent_at=rfc3339(outcome.sent_at),
        status=outcome.status,
        reason=outcome.reason,
        elapsed_ms=round(outcome.elapsed_ms, 2),
        error=outcome.error,
        error_kind=outcome.error_kind,
    ).model_dump()


def detail_view(job: ReplayJob, after: int) -> dict[str, Any]:
    found = replays.outcomes(job.id, after, OUTCOMES_PAGE)
    last = found[-1].position if found else after
    return schemas.ReplayJobDetail(
        **job_view(job),
        outcomes=[outcome_view(o) for o in found],
        next_after=last if len(found) == OUTCOMES_PAGE else None,
    ).model_dump()


def _job_or_404(bin_id: str, job_id: int) -> ReplayJob:
    queries.get_bin(bin_id)
    job = replays.get(bin_id, job_id)
    if job is None:
        abort(404, description="No replay with this id in this bin.")
    return job


# --- API --------------------------------------------------------------------------------


@api.post("/bins/<bin_id>/replays")
def create_replay(bin_id: str) -> tuple[Response, int]:
    bin_ = queries.get_bin(bin_id)
    job = start(bin_, body_as(ReplayBody))
    return jsonify(detail_view(job, 0)), 201


@api.get("/bins/<bin_id>/replays")
def list_replays(bin_id: str) -> Response:
    queries.get_bin(bin_id)
    jobs = replays.recent(bin_id)
    return jsonify(schemas.ReplayJobList(replays=[job_view(job) for job in jobs]).model_dump())


@api.get("/bins/<bin_id>/replays/<int:job_id>")
def get_replay(bin_id: str, job_id: int) -> Response:
    after = int_arg("after", 0, 0, replays.MAX_ID) or 0
    return jsonify(detail_view(_job_or_404(bin_id, job_id), after))


@api.post("/bins/<bin_id>/replays/<int:job_id>/cancel")
def cancel_replay(bin_id: str, job_id: int) -> Response:
    _job_or_404(bin_id, job_id)
    replays.cancel(current_app._get_current_object(), bin_id, job_id)
    return jsonify(detail_view(_job_or_404(bin_id, job_id), 0))


# --- dashboard --------------------------------------------------------------------------


def shown(bin_id: str) -> list[tuple[ReplayJob, list[ReplayOutcome]]]:
    """The bin page's replays, newest first, each with its newest outcomes."""
    return [(job, _newest(job)) for job in replays.recent(bin_id, JOBS_SHOWN)]


def _newest(job: ReplayJob) -> list[ReplayOutcome]:
    return replays.outcomes(job.id, 0, OUTCOMES_SHOWN, newest=True)


def _fragment(bin_id: str, job: ReplayJob) -> str:
    return render_template("_replay.html", bin_id=bin_id, job=job, outcomes=_newest(job))


@pages.post("/bins/<bin_id>/replays")
def start_from_page(bin_id: str) -> tuple[str, int]:
    bin_ = queries.get_bin(bin_id)
    form = request.form
    data: dict[str, Any] = {"q": form.get("q", "")}
    # Each forwarder's button names it; the URL field is then not what was chosen.
    if form.get("forwarder"):
        data["forwarder"] = form["forwarder"]
    else:
        data["url"] = form.get("url", "").strip() or None
    rate = form.get("rate", "").strip()
    try:
        data["rate"] = float(rate) if rate else 1.0
        job = start(bin_, validate(ReplayBody, data))
    except InvalidInput as error:
        return _refusal(str(error), 400)
    except ValueError:
        return _refusal("The rate must be a number of requests per second.", 400)
    except (InvalidBody, Conflict) as error:
        return _refusal(str(error.description), error.code or 400)
    return _fragment(bin_id, job), 201


def _refusal(message: str, status: int) -> tuple[str, int]:
    return render_template("_replay.html", job=None, error=message), status


@pages.get("/bins/<bin_id>/replays/<int:job_id>")
def replay_fragment(bin_id: str, job_id: int) -> str | Response:
    if request.headers.get("HX-Request") != "true":
        return redirect(url_for("dashboard.bin_page", bin_id=bin_id) + "#replays")
    return _fragment(bin_id, _job_or_404(bin_id, job_id))


@pages.post("/bins/<bin_id>/replays/<int:job_id>/cancel")
def cancel_from_page(bin_id: str, job_id: int) -> str:
    _job_or_404(bin_id, job_id)
    replays.cancel(current_app._get_current_object(), bin_id, job_id)
    return _fragment(bin_id, _job_or_404(bin_id, job_id))
