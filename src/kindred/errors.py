"""kindred's exceptions, named for who must act.

KindredError
├── ConfigError            a setting is wrong; raised at start-up, names the variable
├── ClientError            the request is wrong; carries the HTTP status to answer with
│   ├── AuthenticationError    401: missing or wrong credentials
│   ├── NotFoundError          404: the request names something that does not exist
│   └── PayloadTooLargeError   413: the request is over a size limit
└── StorageError           (kindred.storage.errors) the database failed
"""

from __future__ import annotations


class KindredError(Exception):
    """The root of every exception kindred raises on purpose."""


class ConfigError(KindredError):
    """Raised at start-up when a setting is invalid; the message names the variable and the fix."""


class ClientError(KindredError):
    """Raised when a request is wrong; `status` is the HTTP status to answer with."""

    status = 400


class AuthenticationError(ClientError):
    """Raised when a read or /import request lacks valid credentials."""

    status = 401


class NotFoundError(ClientError):
    """Raised when a request names a thing kindred does not have, such as an unknown $insert_id."""

    status = 404
