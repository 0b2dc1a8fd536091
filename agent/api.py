"""The local HTTP API: POST events in, read decisions and status out.

Served by uvicorn inside the daemon's event loop while "http" is among the sources.
Every route under /v1 needs the configured bearer token; the OpenAPI schema does not.
"""

import asyncio
import contextlib
import hmac
import logging
import socket
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Annotated, Any

import uvicorn
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.requests import ClientDisconnect

from agent.api_connections import ACCEPT_BURST, guarded_protocol
from agent.api_errors import ApiUnavailable
from agent.api_guard import HostAndOriginGuard, allowed_hosts
from agent.config import ApiSettings
from agent.sources.http import HttpIngestSource, IdTaken, IngestBusy, IngestClosed
from agent.sources.jsonl import raw_text
from core import jsonsafe
from core.decision import Decision
from core.events import Event
from core.outcome import StepOutcome
from core.progress import PlanProgress
from core.records import record_to_item
from core.sources import Rejection, SourceItem
from memory.feedback import AlreadyAnswered, Outcome, Reason
from memory.store import Store
from memory.stores.plans import ConfirmationAnswered, UnknownConfirmation

logger = logging.getLogger("festina.api")

QUEUE_WAIT_S = 5.0
STORE_WAIT_S = 30.0
# What a sender is told to wait while memory cannot be written (the daemon retries more often).
STORAGE_RETRY_AFTER_S = 5


class RejectedRecord(BaseModel):
    index: int
    reason: str


class IngestResult(BaseModel):
    """`stored` is true once every accepted event is in memory; false means queued only
    (the daemon was slow): resend if unsure, duplicates are recognised by id. An id sent
    again with other content is rejected: an id names one event."""

    accepted: list[str]
    rejected: list[RejectedRecord]
    stored: bool


class DecisionRecord(BaseModel):
    event: Event
    decision: Decision
    feedback: str | None
    results: list[StepOutcome] = []
    """What the accepted offer's plan did, step by step (empty until it has finished)."""
    plan: PlanProgress | None = None
    """Where the accepted offer's plan stands: the steps done so far, the step being
    written with its text so far, the steps waiting for the person's confirmation (answer
    with POST /v1/confirmations/{id}), and whether it has finished. None until it starts."""


class ConfirmationAnswer(BaseModel):
    """The person's go (true) or no (false) for a step waiting for confirmation."""

    model_config = ConfigDict(extra="forbid")

    approve: bool


class ConfirmationGiven(BaseModel):
    """The answer kept: the daemon runs (or skips) the step within a second."""

    id: int
    event_id: str
    step: int
    tool: str
    status: str
    """approved or denied"""


class FeedbackGiven(BaseModel):
    """The user's answer to an offer; `reason` only with "rejected"."""

    model_config = ConfigDict(extra="forbid")

    event_id: str
    outcome: Outcome
    reason: Reason | None = None

    @model_validator(mode="after")
    def _reason_with_rejection(self) -> "FeedbackGiven":
        if self.reason is not None and self.outcome is not Outcome.REJECTED:
            raise ValueError("a reason goes with outcome 'rejected'")
        return self


class PauseRequest(BaseModel):
    """Private mode for `minutes`, or until resumed when null."""

    model_config = ConfigDict(extra="forbid")

    minutes: float | None = Field(None, gt=0)


class PauseState(BaseModel):
    paused: bool
    paused_until: datetime | None


class ForgetRequest(BaseModel):
    """Forget what happened or arrived in the last `minutes`."""

    model_config = ConfigDict(extra="forbid")

    minutes: int = Field(ge=1, le=60 * 24 * 365)


class Status(BaseModel):
    source: str
    queued: int
    counts: dict[str, int]
    paused: bool
    storage_fault: str | None = None
    """Why memory cannot be written, while it cannot (no events are taken then)."""


class _TooLarge(Exception):
    pass


def _parse_body(body: bytes) -> list[Any]:
    """The records of a request body: one JSON object or a list of them."""
    try:
        payload = jsonsafe.loads(body)
    except jsonsafe.TooDeep:
        raise
    except ValueError as error:
        raise ValueError(f"invalid JSON: {error}") from error
    if isinstance(payload, dict):
        return [payload]
    if isinstance(payload, list) and payload:
        return payload
    raise ValueError("the body must be an event object or a non-empty list of them")


def _json_media_type(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == "application/json"


def _to_items(records: list[Any], ingest: HttpIngestSource) -> list[SourceItem]:
    """Validate each record on its own: a bad one is a rejection, never the request's end."""
    items: list[SourceItem] = []
    first_with_id: dict[str, tuple[int, Event]] = {}
    for index, record in enumerate(records):
        position, raw = ingest.next_position(), raw_text(record)
        item = record_to_item(
            {"source": "http", **record} if isinstance(record, dict) else record,
            origin="http",
            position=position,
            raw=raw,
        )
        if isinstance(item, Event):
            assert item.id is not None
            earlier, event = first_with_id.setdefault(item.id, (index, item))
            if event != item:
                # Only one event per id is ever stored: reporting both as accepted would
                # hide that this one is dropped.
                item = Rejection(
                    "http",
                    position,
                    f"id {item.id} is already used by record {earlier} of this request, "
                    "with different content",
                    raw,
                )
        items.append(item)
    return items


def build_app(
    settings: ApiSettings,
    ingest: HttpIngestSource,
    store: Store,
    counts: Callable[[], dict[str, int]],
    *,
    queue_wait_s: float = QUEUE_WAIT_S,
    storage_fault: Callable[[], str | None] = lambda: None,
) -> FastAPI:
    """The API over one ingest queue and one memory."""
    app = FastAPI(
        title="festina",
        summary="Local API of the festina proactive agent daemon",
        version="1",
        docs_url=None,  # Swagger UI loads from a CDN; the schema itself is served offline
        redoc_url=None,
    )
    if settings.cors_origins:
        # Only for origins the user listed; added first, so the guard below runs before it.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(
        HostAndOriginGuard,
        hosts=allowed_hosts(settings.host),
        origins=settings.cors_origins,
    )
    authorised = [Depends(_bearer_token(settings.token))]
    app.include_router(
        _ingest_routes(settings, ingest, queue_wait_s, storage_fault), dependencies=authorised
    )
    app.include_router(
        _memory_routes(store, ingest, counts, storage_fault), dependencies=authorised
    )
    return app


def _bearer_token(token: str) -> Callable[..., None]:
    """A dependency that refuses a request without this bearer token."""
    bearer = HTTPBearer(auto_error=False)
    expected = token.encode()

    def authorised(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> None:
        given = (credentials.credentials if credentials else "").encode()
        # Constant time: how long a wrong token takes must not tell how much of it is right.
        if not hmac.compare_digest(given, expected):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing or wrong bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return authorised


async def _read_limited(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise _TooLarge
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_bytes:
                raise _TooLarge
    except ClientDisconnect:
        # Gone before the body was whole (or closed for taking too long): nobody is
        # there to read an answer, and nothing of it is taken.
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "body not received") from None
    return bytes(body)


def _nothing_taken(detail: str, status_code: int) -> JSONResponse:
    """An answer that says plainly that none of the request was stored: resend it."""
    return JSONResponse(
        {"detail": detail, **IngestResult(accepted=[], rejected=[], stored=False).model_dump()},
        status_code=status_code,
    )


async def _answer_when_stored(
    items: list[SourceItem], pending: list[asyncio.Future[None]]
) -> JSONResponse:
    """Wait (up to STORE_WAIT_S) for the queued events to be stored; the answer lists
    the ids taken and the records refused, each with its reason."""
    events = [(index, item) for index, item in enumerate(items) if isinstance(item, Event)]
    rejected = [
        RejectedRecord(index=index, reason=item.reason)
        for index, item in enumerate(items)
        if isinstance(item, Rejection)
    ]
    try:
        outcomes = await asyncio.wait_for(
            asyncio.gather(*pending, return_exceptions=True), STORE_WAIT_S
        )
        stored = True
    except TimeoutError:
        outcomes, stored = [None] * len(events), False
    if closed := next((o for o in outcomes if isinstance(o, IngestClosed)), None):
        # Stopped without draining: not stored, so say so; resending is safe.
        return _nothing_taken(f"{closed}; resend it", status.HTTP_503_SERVICE_UNAVAILABLE)
    accepted = []
    for (index, event), outcome in zip(events, outcomes, strict=True):
        if isinstance(outcome, IdTaken):
            rejected.append(RejectedRecord(index=index, reason=str(outcome)))
        else:
            accepted.append(event.id)
    rejected.sort(key=lambda record: record.index)
    result = IngestResult(accepted=accepted, rejected=rejected, stored=stored)  # type: ignore[arg-type]
    return JSONResponse(
        result.model_dump(mode="json"),
        status_code=status.HTTP_200_OK if stored else status.HTTP_202_ACCEPTED,
    )


_INGEST_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"model": IngestResult, "description": "queued, not yet stored"},
    400: {"description": "the body is not JSON, not events, or nested too deeply"},
    413: {"description": "body or event count over the limit"},
    415: {"description": "Content-Type is not application/json"},
    500: {
        "model": IngestResult,
        "description": "internal fault; nothing of the request was taken: resend it",
    },
    503: {"description": "busy, stopping, or memory cannot be written; retry later"},
}

# The body is read by hand (size limit, rejections kept), so the schema says what it holds.
_EVENT_SCHEMA = {"$ref": "#/components/schemas/Event"}
_INGEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"anyOf": [_EVENT_SCHEMA, {"type": "array", "items": _EVENT_SCHEMA}]}
            }
        },
    }
}


def _records_reader(
    settings: ApiSettings, ingest: HttpIngestSource
) -> Callable[[Request], Awaitable[list[Any]]]:
    """Reads a request's records, or raises the HTTP error that refuses it (the body kept
    as a rejection where it was readable)."""

    async def keep_rejected(reason: str, raw: str) -> None:
        # Counted and stored like any malformed input, so nothing sent is lost silently.
        with contextlib.suppress(IngestBusy, IngestClosed):
            await ingest.submit([Rejection("http", ingest.next_position(), reason, raw)], 1.0)

    async def records_of(request: Request) -> list[Any]:
        try:
            body = await _read_limited(request, settings.max_body_bytes)
        except _TooLarge:
            raise HTTPException(
                status.HTTP_413_CONTENT_TOO_LARGE,
                f"body over {settings.max_body_bytes} bytes",
            ) from None
        content_type = request.headers.get("content-type", "")
        if not _json_media_type(content_type):
            reason = f"Content-Type must be application/json, not {content_type or 'missing'!r}"
            await keep_rejected(reason, body.decode("utf-8", "replace"))
            raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, reason)
        try:
            records = _parse_body(body)
        except ValueError as error:
            await keep_rejected(str(error), body.decode("utf-8", "replace"))
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None
        if len(records) > settings.max_events_per_request:
            raise HTTPException(
                status.HTTP_413_CONTENT_TOO_LARGE,
                f"{len(records)} events; at most {settings.max_events_per_request} per request",
            )
        return records

    return records_of


def _refuse_while_storage_faulty(storage_fault: Callable[[], str | None]) -> None:
    """Refused at once: queued, the events would only wait for the fault to clear."""
    if fault := storage_fault():
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"memory cannot be written ({fault}); nothing of this request was taken: "
            "resend it later",
            headers={"Retry-After": str(STORAGE_RETRY_AFTER_S)},
        )


async def _take(records: list[Any], ingest: HttpIngestSource, queue_wait_s: float) -> JSONResponse:
    """Queue the records and answer once they are stored (or with why none were taken)."""
    try:
        items = _to_items(records, ingest)
        pending = await ingest.submit(items, queue_wait_s)
    except IngestBusy as error:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, str(error), headers={"Retry-After": "1"}
        ) from None
    except IngestClosed as error:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(error)) from None
    except Exception:
        # Nothing was queued (submit takes all or nothing), so the answer can say so
        # plainly: none of it is stored, and resending is safe.
        logger.exception("taking a request of %d records failed", len(records))
        return _nothing_taken(
            "internal error; nothing of this request was stored: resend it",
            status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    return await _answer_when_stored(items, pending)


def _ingest_routes(
    settings: ApiSettings,
    ingest: HttpIngestSource,
    queue_wait_s: float,
    storage_fault: Callable[[], str | None],
) -> APIRouter:
    """POST /v1/events: events in, answered once stored."""
    router = APIRouter()
    records_of = _records_reader(settings, ingest)

    @router.post(
        "/v1/events",
        response_model=IngestResult,
        responses=_INGEST_RESPONSES,
        openapi_extra=_INGEST_BODY,
    )
    async def post_events(request: Request) -> Any:
        """Queue one event or a list of them; answers once they are stored.

        Malformed events are listed in `rejected` with the reason; the others are taken.
        """
        records = await records_of(request)
        _refuse_while_storage_faulty(storage_fault)
        return await _take(records, ingest, queue_wait_s)

    return router


def _memory_routes(
    store: Store,
    ingest: HttpIngestSource,
    counts: Callable[[], dict[str, int]],
    storage_fault: Callable[[], str | None],
) -> APIRouter:
    """Decisions, answers, status, pause and forget: memory read and written."""
    router = APIRouter()
    _add_decision_routes(router, store)
    _add_status_route(router, store, ingest, counts, storage_fault)
    _add_privacy_routes(router, store)
    return router


def _add_decision_routes(router: APIRouter, store: Store) -> None:
    """GET /v1/decisions, POST /v1/feedback and POST /v1/confirmations/{id}: what was
    decided, and the user's answers to offers and to the steps of accepted plans."""

    @router.get("/v1/decisions")
    async def get_decisions(
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    ) -> list[DecisionRecord]:
        """The most recent decisions, newest first, with the user's feedback if any and
        what an accepted offer's plan did."""
        rows = await asyncio.to_thread(store.recent_activity, limit)
        plans = await asyncio.to_thread(store.plan_progress, [event.id for event, _, _ in rows])
        records = []
        for event, decision, feedback in rows:
            plan = plans.get(event.id)
            records.append(
                DecisionRecord(
                    event=event,
                    decision=decision,
                    feedback=feedback,
                    results=plan.done if plan is not None and plan.finished else [],
                    plan=plan,
                )
            )
        return records

    @router.post(
        "/v1/feedback",
        responses={
            404: {"description": "no offer was made on that event"},
            409: {"description": "the offer was already answered: an offer takes one answer"},
        },
    )
    async def post_feedback(answer: FeedbackGiven) -> dict[str, str]:
        """Answer an offer, once: accepted, rejected (with an optional reason), ignored."""
        try:
            await asyncio.to_thread(
                store.record_feedback, answer.event_id, answer.outcome, None, answer.reason
            )
        except AlreadyAnswered as error:
            raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
        except ValueError as error:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from None
        return {"recorded": answer.outcome.value}

    @router.post(
        "/v1/confirmations/{confirmation_id}",
        responses={
            404: {"description": "no confirmation has that id"},
            409: {"description": "the confirmation was already answered: a step takes one"},
        },
    )
    async def post_confirmation(
        confirmation_id: int, answer: ConfirmationAnswer
    ) -> ConfirmationGiven:
        """Run (approve: true) or skip (false) a step of an accepted plan that waits for
        the person's confirmation; its id is in GET /v1/decisions' `plan.waiting_for`."""
        try:
            row = await asyncio.to_thread(
                store.answer_confirmation, confirmation_id, answer.approve
            )
        except UnknownConfirmation as error:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from None
        except ConfirmationAnswered as error:
            raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
        return ConfirmationGiven(
            id=row.id, event_id=row.event_id, step=row.step, tool=row.tool, status=row.status
        )


def _add_status_route(
    router: APIRouter,
    store: Store,
    ingest: HttpIngestSource,
    counts: Callable[[], dict[str, int]],
    storage_fault: Callable[[], str | None],
) -> None:
    """GET /v1/status."""

    @router.get("/v1/status")
    async def get_status() -> Status:
        """What this daemon run has taken and decided so far."""
        _, preferences = await asyncio.to_thread(store.preferences)
        return Status(
            source=ingest.name,
            queued=ingest.depth,
            counts=counts(),
            paused=preferences.paused_at(datetime.now(UTC)),
            storage_fault=storage_fault(),
        )


def _add_privacy_routes(router: APIRouter, store: Store) -> None:
    """POST /v1/pause, /v1/resume and /v1/forget: private mode and forgetting."""

    def set_pause(paused: bool, until: datetime | None) -> PauseState:
        _, current = store.preferences()
        store.save_preferences(current.model_copy(update={"paused": paused, "paused_until": until}))
        return PauseState(paused=paused, paused_until=until)

    @router.post("/v1/pause")
    async def post_pause(request: PauseRequest) -> PauseState:
        """Private mode: events are only counted, never stored, until resumed (or for
        `minutes`). Takes hold within half a second."""
        until = None
        if request.minutes is not None:
            until = datetime.now(UTC) + timedelta(minutes=request.minutes)
        return await asyncio.to_thread(set_pause, True, until)

    @router.post("/v1/resume")
    async def post_resume() -> PauseState:
        """End private mode."""
        return await asyncio.to_thread(set_pause, False, None)

    @router.post("/v1/forget")
    async def post_forget(request: ForgetRequest) -> dict[str, int]:
        """Forget the last `minutes`: events, decisions, rejected inputs, lessons quoting
        them. Returns the rows deleted."""
        since = datetime.now(UTC) - timedelta(minutes=request.minutes)
        return await asyncio.to_thread(partial(store.forget, since=since))


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the daemon owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ApiServer:
    """Serves the app on the configured address within the running event loop."""

    def __init__(self, app: FastAPI, settings: ApiSettings) -> None:
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=STORE_WAIT_S + 5,
            http=guarded_protocol(
                settings.max_connections,
                settings.request_timeout_s,
                settings.max_connections_per_client,
            ),
            # asyncio accepts up to `backlog` connections in one go before any of them
            # reaches the guard's cap: a small burst keeps a flood within descriptors.
            backlog=ACCEPT_BURST,
        )
        self._server = _Server(config)
        self._task: asyncio.Task[None] | None = None
        # Bound here, so a taken port is a plain OSError at start-up (uvicorn itself
        # would call sys.exit from inside the event loop).
        family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
        try:
            self._socket = socket.create_server((settings.host, settings.port), family=family)
        except OSError as error:
            raise ApiUnavailable(
                f"cannot listen on {settings.host}:{settings.port}: {error.strerror or error}"
            ) from error
        self.port: int = self._socket.getsockname()[1]

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("the API server stopped while starting")
            await asyncio.sleep(0.01)

    def abort(self) -> None:
        """Stop at once, without waiting for requests in flight (a hurried stop)."""
        self._server.force_exit = self._server.should_exit = True

    async def stop(self) -> None:
        """Stop taking requests and let those in flight finish."""
        if self._task is None:
            return
        self._server.should_exit = True
        await self._task
