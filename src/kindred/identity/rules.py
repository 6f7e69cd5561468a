"""The three rule sets: Original ID Merge, Simplified ID Merge and Legacy aliases.

Each subclass of `IdentityEngine` decides one input against the current clusters: it either
refuses it, changing nothing, or joins the two clusters and names the result. The rules and their
order of checks are SPEC.md §3 as settled by SPEC-DECISIONS.md ("Identity").
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from kindred.identity.engine import (
    APPLIED,
    NO_ID,
    NO_INPUT,
    USED_AS_ALIAS,
    USED_AS_IDENTIFIED,
    IdentityEngine,
    SnapshotReader,
)
from kindred.identity.model import DEVICE_PREFIX, IdentityMode, InputKind

# Status bytes of refusals; engine.REFUSAL_CODES maps them to Mixpanel's codes.
SAME_IDS = 1
ANON_NON_GUID = 2
ANON_ASSIGNED_ALREADY = 3
MANY_IDS = 4
ALIAS_ALREADY_EXISTS = 5
ALIAS_CYCLE = 6

# Per-id flags of Original mode, beside the engine's own.
UUID_CHECKED = 4
IS_UUID = 8

_IDENTIFY = int(InputKind.IDENTIFY)
_CREATE_ALIAS = int(InputKind.CREATE_ALIAS)

# Mixpanel accepts the anonymous ids its own SDKs and Segment's make: UUIDs, in any case and with
# any version nibble, optionally behind the browser SDK's "$device:" prefix (SPEC-DECISIONS).
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def is_uuid_form(anon_id: str) -> bool:
    """Whether `anon_id` passes `$identify`'s check for an anonymous id."""
    return _UUID.fullmatch(anon_id.removeprefix(DEVICE_PREFIX)) is not None


class OriginalIdentityEngine(IdentityEngine):
    """Original ID Merge: `$identify`, `$create_alias` and `$merge`, with a cap on cluster size.

    The cluster's canonical id is its earliest anchor, so it never depends on arrival order.
    """

    mode = IdentityMode.ORIGINAL
    kinds = frozenset((InputKind.IDENTIFY, InputKind.CREATE_ALIAS, InputKind.MERGE))

    def _decide(self, i: int, a: int, b: int) -> int:
        kind = self._in_kind[i]
        flags = self._flags
        ra, rb = self._croot[a], self._croot[b]
        if kind == _IDENTIFY:
            if a == b:
                return SAME_IDS
            if not self._is_uuid_id(b):
                return ANON_NON_GUID
            if self._cidentified[rb] and self._identified_elsewhere(a, b) != NO_ID:
                return ANON_ASSIGNED_ALREADY
        elif kind == _CREATE_ALIAS:
            if a == b:
                return SAME_IDS
            if flags[b] & USED_AS_ALIAS:
                return ALIAS_ALREADY_EXISTS
        if ra != rb and self._csize[ra] + self._csize[rb] > self.max_cluster_size:
            return MANY_IDS

        if kind == _IDENTIFY and not flags[a] & USED_AS_IDENTIFIED:
            flags[a] |= USED_AS_IDENTIFIED
            self._cidentified[ra] += 1
        elif kind == _CREATE_ALIAS:
            flags[b] |= USED_AS_ALIAS
        if ra == rb and a != b:
            # Already one cluster, named by an older anchor: a repeat of an earlier input.
            return APPLIED

        self._union(a, b, self._earliest_anchor(ra, rb, i))
        return APPLIED

    def _is_uuid_id(self, x: int) -> bool:
        """Whether id `x` is in UUID form; the answer is kept in its flags, as ids repeat."""
        flags = self._flags[x]
        if not flags & UUID_CHECKED:
            flags |= UUID_CHECKED | (IS_UUID if is_uuid_form(self._ids[x]) else 0)
            self._flags[x] = flags
        return bool(flags & IS_UUID)

    def _identified_elsewhere(self, identified: int, anon: int) -> int:
        """An id of `anon`'s cluster used as `$identified_id`, other than `identified`; or NO_ID."""
        root = self._croot[anon]
        held = self._cidentified[root]
        if held == 0:
            return NO_ID
        is_identified_here = (
            self._croot[identified] == root and self._flags[identified] & USED_AS_IDENTIFIED
        )
        if held == 1 and is_identified_here:
            return NO_ID
        for m in self._cluster_members(anon):
            if m != identified and self._flags[m] & USED_AS_IDENTIFIED:
                return m
        return NO_ID

    def _describe_refusal(self, i: int, code: int) -> str:
        first, second = self._ids[self._in_a[i]], self._ids[self._in_b[i]]
        kind = self._in_kind[i]
        if code == SAME_IDS and kind == InputKind.IDENTIFY:
            return f"$identified_id and $anon_id are both {first!r}; there is nothing to merge"
        if code == SAME_IDS:
            return f"alias and distinct_id are both {first!r}; an id cannot be its own alias"
        if code == ANON_NON_GUID:
            return (
                f"$anon_id {second!r} is not a UUID, so $identify will not merge it into "
                f"{first!r}; send a $merge through /import to join ids of any form"
            )
        if code == ANON_ASSIGNED_ALREADY:
            other = self._ids[self._identified_elsewhere(self._in_a[i], self._in_b[i])]
            return (
                f"$anon_id {second!r} is already merged with identified id {other!r}, "
                f"so it cannot also be identified as {first!r}"
            )
        if code == ALIAS_ALREADY_EXISTS:
            owner = self.resolve(second)
            return f"{second!r} is already an alias (of {owner!r}); it cannot also alias {first!r}"
        return self._describe_too_many(first, second)

    def _describe_too_many(self, first: str, second: str) -> str:
        size_a = self._csize[self._croot[self._index[first]]]
        size_b = self._csize[self._croot[self._index[second]]]
        return (
            f"joining {first!r} ({size_a} ids) with {second!r} ({size_b} ids) would make a "
            f"cluster of {size_a + size_b} ids, over the limit of {self.max_cluster_size}"
        )


class SimplifiedIdentityEngine(IdentityEngine):
    """Simplified ID Merge: an event with both `$user_id` and `$device_id` links the device.

    A cluster is one user id and its devices; a device links to the user of its earliest link.
    """

    mode = IdentityMode.SIMPLIFIED
    kinds = frozenset((InputKind.LINK,))

    def _decide(self, i: int, a: int, b: int) -> int:
        ra, rb = self._croot[a], self._croot[b]
        if ra != rb and self._canchor_row[rb] != NO_INPUT:
            return ANON_ASSIGNED_ALREADY

        self._union(a, b, self._anchor_row_or(ra, i))
        return APPLIED

    def _describe_refusal(self, i: int, code: int) -> str:
        user, device = self._ids[self._in_a[i]], self._ids[self._in_b[i]]
        owner = self.resolve(device)
        return (
            f"device {device!r} is already linked to user {owner!r}; this event counts under "
            f"{user!r} and links nothing"
        )


class LegacyIdentityEngine(IdentityEngine):
    """Legacy aliases: a table alias -> distinct_id, applied in arrival order, never retroactive.

    A cluster is one tree of the alias table; its canonical id is the tree's root, where every
    chain of aliases ends.
    """

    mode = IdentityMode.LEGACY
    kinds = frozenset((InputKind.CREATE_ALIAS,))
    orders_by_event_time = False

    def _decide(self, i: int, a: int, b: int) -> int:
        if a == b:
            return SAME_IDS
        if self._flags[b] & USED_AS_ALIAS:
            return ALIAS_ALREADY_EXISTS
        ra = self._croot[a]
        if ra == self._croot[b]:
            return ALIAS_CYCLE

        self._flags[b] |= USED_AS_ALIAS
        self._union(a, b, self._anchor_row_or(ra, i))
        return APPLIED

    def _describe_refusal(self, i: int, code: int) -> str:
        target, alias = self._ids[self._in_a[i]], self._ids[self._in_b[i]]
        if code == SAME_IDS:
            return f"alias and distinct_id are both {target!r}; an id cannot be its own alias"
        if code == ALIAS_ALREADY_EXISTS:
            return (
                f"{alias!r} is already an alias (of {self.resolve(alias)!r}); an alias maps to "
                f"one id only, so it cannot also map to {target!r}"
            )
        return f"{target!r} already resolves to {alias!r}, so aliasing {alias!r} to it would loop"


def new_engine(mode: IdentityMode | str, *, max_cluster_size: int = 500) -> IdentityEngine:
    """An empty engine for a project in `mode`; the cap applies to Original ID Merge only."""
    engine_class = _ENGINES[IdentityMode(mode)]
    return engine_class(max_cluster_size=max_cluster_size)


_ENGINES: dict[IdentityMode, type[IdentityEngine]] = {
    IdentityMode.ORIGINAL: OriginalIdentityEngine,
    IdentityMode.SIMPLIFIED: SimplifiedIdentityEngine,
    IdentityMode.LEGACY: LegacyIdentityEngine,
}


def restore_engine(snapshot: bytes | memoryview | Iterable[bytes]) -> IdentityEngine:
    """The engine whose `snapshot()` or `snapshot_chunks()` gave `snapshot`, in the mode it was
    taken in. Chunks are read one at a time, and may come straight from a store."""
    reader = SnapshotReader(snapshot)
    header = reader.header()
    return _ENGINES[IdentityMode(header["mode"])].from_snapshot_reader(header, reader)
