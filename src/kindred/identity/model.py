"""Value objects of the identity engine: what goes in, and what comes out.

An identity input is one identity event, reduced to what the rules need. Every input names two ids;
`ids[0]` is the id that may become the cluster's anchor and `ids[1]` the id that joins it:

    kind          ids[0]                          ids[1]
    IDENTIFY      $identified_id                  $anon_id
    CREATE_ALIAS  distinct_id (the existing id)   alias (the new id)
    MERGE         first of $distinct_ids          second of $distinct_ids
    LINK          $user_id (Simplified)           "$device:" + $device_id
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import NamedTuple


class IdentityMode(StrEnum):
    """A project's identity mode; see SPEC.md §3."""

    ORIGINAL = "original"
    SIMPLIFIED = "simplified"
    LEGACY = "legacy"


class InputKind(IntEnum):
    """What an identity input asks for. The values are stored in snapshots: never renumber."""

    IDENTIFY = 1
    CREATE_ALIAS = 2
    MERGE = 3
    LINK = 4


# Mixpanel's refusal codes, stored on the refused event as `$failure_reason`. Protocol strings.
ERR_SAME_IDS = "errSameIDs"
ERR_ANON_NON_GUID = "errAnonDistinctIdNonGUIDForm"
ERR_ANON_ASSIGNED_ALREADY = "errAnonDistinctIdAssignedAlready"
ERR_MANY_IDS = "errManyIDs"
ERR_ALIAS_ALREADY_EXISTS = "errAliasAlreadyExists"
# kindred's own: a Legacy alias that would make the alias table loop back on itself.
ERR_ALIAS_CYCLE = "errAliasCycle"


@dataclass(frozen=True, slots=True)
class IdentityInput:
    """One identity event: two ids, its event time, its arrival sequence and its `$insert_id`.

    `seq` is unique within a project and grows with arrival; together with `time_ms` it orders the
    inputs (event time first, ties by arrival).
    """

    kind: InputKind
    ids: tuple[str, str]
    time_ms: int
    seq: int
    insert_id: str = ""

    def __post_init__(self) -> None:
        if len(self.ids) != 2:
            raise ValueError(f"an identity input names exactly two ids, got {self.ids!r}")
        if not all(isinstance(i, str) and i for i in self.ids):
            raise ValueError(f"identity input ids must be non-empty strings, got {self.ids!r}")

    @classmethod
    def identify(
        cls, identified_id: str, anon_id: str, *, time_ms: int, seq: int, insert_id: str = ""
    ) -> IdentityInput:
        return cls(InputKind.IDENTIFY, (identified_id, anon_id), time_ms, seq, insert_id)

    @classmethod
    def create_alias(
        cls, distinct_id: str, alias: str, *, time_ms: int, seq: int, insert_id: str = ""
    ) -> IdentityInput:
        return cls(InputKind.CREATE_ALIAS, (distinct_id, alias), time_ms, seq, insert_id)

    @classmethod
    def merge(
        cls, first: str, second: str, *, time_ms: int, seq: int, insert_id: str = ""
    ) -> IdentityInput:
        return cls(InputKind.MERGE, (first, second), time_ms, seq, insert_id)

    @classmethod
    def link(
        cls, user_id: str, device_id: str, *, time_ms: int, seq: int, insert_id: str = ""
    ) -> IdentityInput:
        """A Simplified event carrying both ids; `device_id` is the raw `$device_id`."""
        return cls(InputKind.LINK, (user_id, DEVICE_PREFIX + device_id), time_ms, seq, insert_id)


DEVICE_PREFIX = "$device:"


class Outcome(NamedTuple):
    """What applying an input did: applied (`code` is None) or refused with Mixpanel's code.

    `reclassified` lists other inputs whose outcome changed because this one was applied or
    withdrawn out of order (a refusal that became an application, or the reverse). A named tuple
    rather than a frozen dataclass: the engine makes one per input, and this is three times cheaper.
    """

    input: IdentityInput
    code: str | None = None
    description: str | None = None
    reclassified: tuple[Outcome, ...] = ()

    @property
    def is_applied(self) -> bool:
        return self.code is None


@dataclass(frozen=True, slots=True)
class Anchor:
    """An id that can name its cluster, and the applied input that made it one."""

    distinct_id: str
    input: IdentityInput


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why two ids are one person, or why they are apart.

    When linked, `path` holds the applied inputs that lead from `a` to `b` in order. When apart,
    `refused` holds the refused inputs that would have joined their clusters, if any.
    """

    a: str
    b: str
    is_linked: bool
    path: tuple[IdentityInput, ...]
    refused: tuple[Outcome, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """A request, arriving at `seq`, to withdraw an earlier input as if it had never arrived."""

    target: IdentityInput
    seq: int
