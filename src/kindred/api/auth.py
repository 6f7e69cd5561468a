"""Who is asking: a project's secret, a service account, or (for /import only) its token.

The token is public, so it may write but never read (SPEC-DECISIONS.md, "Projects and modes").
Secrets are compared in constant time and never logged.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping

from starlette.requests import Request

from kindred.errors import AuthenticationError
from kindred.storage.base import MetadataStore, Project
from kindred.web.sessions import session_project

INVALID_CREDENTIALS = "Invalid credentials"
INVALID_SERVICE_ACCOUNT = "Invalid service account credentials"


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """The user and password of a Basic header, base64-encoded or (as Mixpanel allows) plain."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    value = value.strip()
    try:
        decoded = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        decoded = value
    user, _, password = decoded.partition(":")
    return user, password


def authenticate_reader(
    request: Request, meta: MetadataStore, params: Mapping[str, str]
) -> Project:
    """The project a read request may read: by its secret, a service account + project_id, or
    the web UI's session cookie + project_id."""
    credentials = basic_credentials(request)
    if credentials is None:
        project = session_project(request, meta, params)
        if project is not None:
            return project
        raise AuthenticationError(
            "this endpoint needs HTTP Basic authentication: the project secret as the user name "
            "with an empty password, or a service account's user:secret with ?project_id="
        )
    project = _by_service_account(meta, credentials, params) or _by_secret(meta, credentials[0])
    if project is None:
        raise AuthenticationError(
            INVALID_SERVICE_ACCOUNT
            if params.get("project_id") and credentials[1]
            else INVALID_CREDENTIALS
        )
    return project


def authenticate_import(
    request: Request, meta: MetadataStore, params: Mapping[str, str]
) -> Project:
    """The project an /import writes to: as a reader, or by its token as the Basic user name,
    or by the legacy `api_key` parameter holding the project secret."""
    credentials = basic_credentials(request)
    if credentials is None:
        api_key = params.get("api_key")
        project = _by_secret(meta, api_key) if api_key else None
        if project is None:
            raise AuthenticationError(INVALID_CREDENTIALS)
        return project

    user, password = credentials
    project = _by_service_account(meta, credentials, params) or _by_secret(meta, user)
    if project is None and not password and not params.get("project_id"):
        project = meta.project_by_token(user)
    if project is None:
        raise AuthenticationError(
            INVALID_SERVICE_ACCOUNT
            if params.get("project_id") and password
            else INVALID_CREDENTIALS
        )
    return project


def project_by_secret(meta: MetadataStore, secret: str) -> Project | None:
    """The project whose secret this is, compared in constant time; None if no project's."""
    return _by_secret(meta, secret)


def _by_service_account(
    meta: MetadataStore, credentials: tuple[str, str], params: Mapping[str, str]
) -> Project | None:
    user, password = credentials
    project_id = params.get("project_id", "")
    if not password or not project_id.isdigit():
        return None
    account = meta.service_account(user)
    if account is None or account.project_id != int(project_id):
        return None
    if not hmac.compare_digest(account.secret.encode(), password.encode()):
        return None
    return meta.project(account.project_id)


def _by_secret(meta: MetadataStore, secret: str) -> Project | None:
    found = None
    for project in meta.projects():
        # Compare against every project, so the time taken says nothing about which matched.
        if hmac.compare_digest(project.secret.encode(), secret.encode()):
            found = project
    return found
