"""The four write endpoints: /track, /engage, /groups (token in the payload) and /import (credentials).

Each handler decodes the request, validates every record, hands the valid ones to the pipeline per
project, waits until they are durable, and answers in Mixpanel's shape: `1`/`0` or verbose JSON,
or `/import?strict=1`'s JSON with `failed_records`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from kindred.api.auth import authenticate_import
from kindred.api.ratelimit import RATE_LIMITED
from kindred.api.services import Services, services_of
from kindred.api.wire import (
    WireRequest,
    import_error_response,
    ingestion_response,
    json_response,
    read_wire_request,
    strict_response,
)
from kindred.errors import AuthenticationError
from kindred.ingest.decode import PayloadTooLargeError
from kindred.ingest.events import event_token, validate_event
from kindred.ingest.model import Endpoint, GroupUpdate, ProfileUpdate, RecordError
from kindred.ingest.profiles import (
    profile_token,
    validate_group_update,
    validate_profile_update,
)
from kindred.pipeline import Submission
from kindred.storage.base import Project

logger = logging.getLogger(__name__)

MISSING_TOKEN = "token, missing or empty"
MISSING_PROFILE_TOKEN = "$token, missing or empty"
# Where each kind of record carries its token, and Mixpanel's answer when it does not.
EVENT_TOKEN = ("properties.token", MISSING_TOKEN)
PROFILE_TOKEN = ("$token", MISSING_PROFILE_TOKEN)
DATA_MISSING = "data, missing or empty"


async def track(request: Request) -> Response:
    services = services_of(request)
    wire = await _read(request, services)
    if isinstance(wire, Response):
        return wire

    submissions: dict[int, Submission] = {}
    errors: list[RecordError] = []
    now_ms = services.clock_ms()
    for index, item in enumerate(wire.items):
        project = _project_for_token(services, event_token(item), index, item, errors, EVENT_TOKEN)
        if project is None:
            continue
        result = validate_event(
            item,
            index,
            endpoint=Endpoint.TRACK,
            mode=project.identity_mode,
            now_ms=now_ms,
            limits=services.limits,
            may_reuse=True,  # the items were decoded for this request alone
        )
        if isinstance(result, RecordError):
            errors.append(result)
        elif result is not None:
            _submission(submissions, project).events.append(result)
    return await _finish(services, wire, submissions, errors, endpoint=Endpoint.TRACK)


async def engage(request: Request) -> Response:
    return await _profiles(request, Endpoint.ENGAGE, validate_profile_update)


async def groups(request: Request) -> Response:
    return await _profiles(request, Endpoint.GROUPS, validate_group_update)


async def batch_import(request: Request) -> Response:
    services = services_of(request)
    wire = await _read(request, services, authenticate=True)
    if isinstance(wire, Response):
        return wire
    project = wire.project
    assert project is not None

    submission = Submission(project, via_import=True)
    errors: list[RecordError] = []
    now_ms = services.clock_ms()
    for index, item in enumerate(wire.items):
        token = event_token(item)
        if token is not None and token != project.token:
            message = (
                f"properties.token is not the token of project {project.name!r}, whose "
                "credentials this request carries; send each project's events with its own"
            )
            errors.append(RecordError(index, _insert_id(item), "properties.token", message))
            continue
        result = validate_event(
            item,
            index,
            endpoint=Endpoint.IMPORT,
            mode=project.identity_mode,
            now_ms=now_ms,
            limits=services.limits,
            is_strict=wire.is_strict,
            may_reuse=True,
        )
        if isinstance(result, RecordError):
            errors.append(result)
        elif result is not None:
            submission.events.append(result)
    return await _finish(services, wire, {project.id: submission}, errors, endpoint=Endpoint.IMPORT)


async def _profiles(
    request: Request,
    endpoint: Endpoint,
    validate: Callable[..., ProfileUpdate | GroupUpdate | RecordError],
) -> Response:
    services = services_of(request)
    wire = await _read(request, services)
    if isinstance(wire, Response):
        return wire

    submissions: dict[int, Submission] = {}
    errors: list[RecordError] = []
    now_ms = services.clock_ms()
    for index, item in enumerate(wire.items):
        token = profile_token(item)
        project = _project_for_token(services, token, index, item, errors, PROFILE_TOKEN)
        if project is None:
            continue
        result = validate(item, index, now_ms=now_ms, limits=services.limits)
        if isinstance(result, RecordError):
            errors.append(result)
        elif isinstance(result, ProfileUpdate):
            _submission(submissions, project).profile_updates.append(result)
        else:
            _submission(submissions, project).group_updates.append(result)
    return await _finish(services, wire, submissions, errors, endpoint=endpoint)


async def _read(
    request: Request, services: Services, *, authenticate: bool = False
) -> WireRequest | Response:
    """The decoded request, or the answer to give when it cannot be decoded or is too large.

    With `authenticate`, credentials are checked before the payload is: they may sit in the
    form body (the legacy `api_key`), so the body is read first, but a bad payload from someone
    without credentials still gets the 401.
    """
    limits = services.limits
    try:
        wire = await read_wire_request(request, max_bytes=limits.max_request_bytes)
    except PayloadTooLargeError as exc:
        return import_error_response(413, str(exc))
    if authenticate:
        try:
            wire.project = authenticate_import(request, services.meta, wire.params)
        except AuthenticationError as exc:
            return import_error_response(401, str(exc))

    if wire.payload_error is None and wire.items.count({}) == len(wire.items):
        wire.payload_error = DATA_MISSING
    if wire.payload_error is not None:
        if wire.is_strict:
            return import_error_response(400, wire.payload_error)
        return ingestion_response(wire, is_ok=False, error=wire.payload_error)
    if len(wire.items) > limits.max_records_per_request:
        message = (
            f"this request holds {len(wire.items)} records; send at most "
            f"{limits.max_records_per_request} per request"
        )
        if wire.is_strict or request.url.path.rstrip("/").endswith("import"):
            return import_error_response(400, message)
        return ingestion_response(wire, is_ok=False, error=message, status_code=413)
    return wire


def _project_for_token(
    services: Services,
    token: str | None,
    index: int,
    item: Any,
    errors: list[RecordError],
    where: tuple[str, str],
) -> Project | None:
    """The project whose token a record carries; else record why not and return None."""
    field, missing = where
    if token is None:
        errors.append(RecordError(index, _insert_id(item), field, missing))
        return None
    project = services.projects.get(token)
    if project is None:
        # The message does not repeat the token: it reaches the log, and tokens never do.
        message = (
            "the token sent is not the token of any project on this server; check the token "
            "passed to mixpanel.init, or list the projects with `kindred project list`"
        )
        errors.append(RecordError(index, _insert_id(item), field, message))
    return project


def _submission(submissions: dict[int, Submission], project: Project) -> Submission:
    submission = submissions.get(project.id)
    if submission is None:
        submission = submissions[project.id] = Submission(project)
    return submission


async def _finish(
    services: Services,
    wire: WireRequest,
    submissions: dict[int, Submission],
    errors: list[RecordError],
    *,
    endpoint: Endpoint,
) -> Response:
    """Wait until the valid records are durable, then answer."""
    sizes = [(s, len(s)) for s in submissions.values()]
    pending = [s for s, size in sizes if size]
    counts = {s.project.id: size for s, size in sizes if size}
    if not services.rate_limiter.allow(counts):
        logger.warning("%s: refused a request over a project's rate limit", endpoint)
        if endpoint is Endpoint.IMPORT or wire.is_strict:
            return import_error_response(429, RATE_LIMITED)
        return ingestion_response(wire, is_ok=False, error=RATE_LIMITED, status_code=429)
    try:
        if len(pending) == 1:  # the common case, without gather's tasks
            results = [await services.pipeline.submit(pending[0])]
        else:
            results = list(await asyncio.gather(*map(services.pipeline.submit, pending)))
    except Exception:
        logger.exception(
            "could not store a %s request; answering 503 so the client retries", endpoint
        )
        return json_response({"status": 0, "error": "storage unavailable, retry later"}, 503)

    for submission, result in zip(pending, results, strict=True):
        updates: list[Any] = submission.profile_updates or submission.group_updates
        for index, message in result.update_errors:
            errors.append(RecordError(index, None, updates[index].operation, message))
    accepted = sum(size for _, size in sizes) - sum(len(r.update_errors) for r in results)
    if errors:
        logger.warning(
            "%s: refused %d of %d records; first: %s: %s",
            endpoint,
            len(errors),
            len(wire.items),
            errors[0].field,
            errors[0].message,
        )

    if wire.is_strict:
        return strict_response(accepted, errors)
    # Mixpanel answers 1 when one or more records were valid (SPEC.md §8, conflict 1).
    is_ok = accepted > 0 or not errors
    return ingestion_response(wire, is_ok=is_ok, error=errors[0].message if errors else None)


def _insert_id(item: Any) -> str | None:
    if isinstance(item, dict):
        properties = item.get("properties")
        if isinstance(properties, dict):
            value = properties.get("$insert_id")
            return value if isinstance(value, str) else None
    return None
