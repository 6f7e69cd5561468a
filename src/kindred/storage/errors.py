"""What a store raises, named for who must act.

    KindredError                       (kindred.errors)
    └── StorageError                   a store could not do what was asked
        ├── TransientStorageError      the database is busy, locked or out of memory: retry later
        ├── PermanentStorageError      retrying will not help: drop the batch or report it
        ├── ProjectExistsError         a project's name or token is already taken
        ├── UnknownProjectError        no project has that id
        ├── ProjectHasDataError        the identity mode cannot change once a project holds data
        └── ServiceAccountExistsError  a service account's username is already taken

Each backend maps its driver's exceptions into this tree in one place (`map_*_errors()`), and
chains the original with `raise ... from exc`.
"""

from __future__ import annotations

from kindred.errors import KindredError


def shorten(value: str, keep: int = 4) -> str:
    """A token cut to its first characters, for messages that may end up in a log."""
    return value if len(value) <= keep else value[:keep] + "…"


class StorageError(KindredError):
    """The root of every error a store raises."""


class TransientStorageError(StorageError):
    """Raised when the database is busy, locked or short of memory; the same call may succeed later."""


class PermanentStorageError(StorageError):
    """Raised when retrying cannot help: a corrupt or foreign file, a bad value, a closed store."""


class ProjectExistsError(StorageError):
    """Raised by `create_project` when the name or the token is already used by a project."""

    def __init__(self, *, name: str | None = None, token: str | None = None) -> None:
        if name is not None:
            message = f"a project named {name!r} already exists; choose another name"
        else:
            message = (
                f"the token {shorten(token or '')!r} is already used by another project; "
                "generate a new token"
            )
        super().__init__(message)
        self.name = name


class UnknownProjectError(StorageError):
    """Raised when a call names a project id that does not exist."""

    def __init__(self, project_id: int) -> None:
        super().__init__(
            f"no project has id {project_id!r}; list the projects to find the right id"
        )
        self.project_id = project_id


class ProjectHasDataError(StorageError):
    """Raised by `set_identity_mode` once the project holds data."""

    def __init__(self, project_id: int, current: str, requested: str) -> None:
        super().__init__(
            f"project {project_id} already holds data, so its identity mode stays {current!r} "
            f"and cannot become {requested!r}: events stored so far were resolved under "
            f"{current!r} rules and would mean something else under the new ones. Create a new "
            f"project in {requested!r} mode and send new data there"
        )
        self.project_id = project_id


class ServiceAccountExistsError(StorageError):
    """Raised by `create_service_account` when the username is already taken (in any project)."""

    def __init__(self, username: str) -> None:
        super().__init__(
            f"a service account named {username!r} already exists; usernames are unique across "
            "all projects, so choose another"
        )
        self.username = username
