"""The identity engine: ids grouped into clusters, each reported under one canonical id.

The state is a pure function of the inputs: applying them in any arrival order gives the state of
applying them sorted by (event time, arrival). The engine keeps that promise cheaply by tracking two
partitions of the ids it knows:

- clusters: the ids that are one person (joined by applied inputs);
- groups: the ids joined by any input at all, applied or refused. Whether an input is refused
  depends only on the clusters of its two ids, and those lie inside its group, so groups are
  independent: an input that arrives late, or one that is withdrawn, replays its group alone.

An input whose event time is not older than anything its groups have seen is applied directly, in
constant time; only a late input or a withdrawal pays for a replay of the groups it touches.

Everything lives in flat arrays indexed by small integers (one per known id, one per input), so that
a million ids cost a few hundred bytes each and a snapshot is a handful of `tobytes()` calls.
`resolve()` is a single dict lookup.
"""

from __future__ import annotations

import sys
from array import array
from collections import deque
from collections.abc import Iterator
from itertools import accumulate
from typing import Any, ClassVar

import orjson

from kindred.identity.model import (
    ERR_ALIAS_ALREADY_EXISTS,
    ERR_ALIAS_CYCLE,
    ERR_ANON_ASSIGNED_ALREADY,
    ERR_ANON_NON_GUID,
    ERR_MANY_IDS,
    ERR_SAME_IDS,
    Anchor,
    Explanation,
    IdentityInput,
    IdentityMode,
    InputKind,
    Outcome,
)

# Input status, one byte per input. 0 is applied; refusals are 1..6 (see model.REFUSAL_CODES).
APPLIED = 0
WITHDRAWN = 255

# Per-id flags, one byte per id.
USED_AS_IDENTIFIED = 1
USED_AS_ALIAS = 2

NO_ID = -1
NO_INPUT = -1
# The order key of a group that has seen no input yet: older than any real input.
MIN_KEY = -(2**63)


class IdentityEngine:
    """Clusters of ids for one project, under the rule set of one identity mode.

    Not thread-safe: one writer (the ingestion pipeline) owns an engine. Readers that run on other
    threads must go through that writer or work on a restored snapshot.
    """

    mode: ClassVar[IdentityMode]
    kinds: ClassVar[frozenset[InputKind]]
    # Legacy applies its aliases in arrival order; the other modes order by event time first.
    orders_by_event_time: ClassVar[bool] = True

    def __init__(self, *, max_cluster_size: int = 500) -> None:
        if max_cluster_size < 2:
            raise ValueError(f"max_cluster_size must be at least 2, got {max_cluster_size}")
        self.max_cluster_size = max_cluster_size
        self.last_seq = -1

        # Known ids, interned as small integers.
        self._ids: list[str] = []
        self._index: dict[str, int] = {}
        # id -> canonical id, only for ids whose canonical id is another id: resolve() is one get().
        self._canonical: dict[str, str] = {}

        # Clusters. Every id knows its cluster's root directly; the members form a circular list.
        # The other cluster fields are read at the root only.
        self._croot = array("i")
        self._cnext = array("i")
        self._csize = array("i")
        self._canchor = array("i")
        self._canchor_time = array("q")
        self._canchor_seq = array("q")
        self._cidentified = array("i")
        self._flags = bytearray()

        # Groups: a union-find over ids, whose roots hold a linked list of the group's inputs and
        # the order key of the newest one.
        self._gparent = array("i")
        self._gsize = array("i")
        self._ghead = array("i")
        self._gtail = array("i")
        self._gmax_time = array("q")
        self._gmax_seq = array("q")

        # Inputs, in arrival order.
        self._in_kind = bytearray()
        self._in_status = bytearray()
        self._in_a = array("i")
        self._in_b = array("i")
        self._in_time = array("q")
        self._in_seq = array("q")
        self._in_next = array("i")
        self._insert_ids = bytearray()
        self._insert_id_ends = array("q")
        # The sentence of each refused input, by input index; also the index of all refusals.
        self._refusals: dict[int, str] = {}

    # -- Questions --------------------------------------------------------------------------

    def __len__(self) -> int:
        """How many ids the engine has ever seen in an input."""
        return len(self._ids)

    def resolve(self, distinct_id: str) -> str:
        """The canonical id of `distinct_id`; an id no input named resolves to itself."""
        return self._canonical.get(distinct_id, distinct_id)

    def members(self, distinct_id: str) -> frozenset[str]:
        """Every id of the cluster that `distinct_id` belongs to, itself included."""
        x = self._index.get(distinct_id)
        if x is None:
            return frozenset((distinct_id,))
        return frozenset(self._ids[m] for m in self._cluster_members(x))

    def anchors(self, distinct_id: str) -> tuple[Anchor, ...]:
        """The ids that can name the cluster, each with the earliest applied input that made it one."""
        anchors: dict[str, Anchor] = {}
        for outcome in self.inputs(distinct_id):
            first = outcome.input.ids[0]
            if outcome.is_applied and first not in anchors:
                anchors[first] = Anchor(first, outcome.input)
        return tuple(anchors.values())

    def inputs(self, distinct_id: str) -> tuple[Outcome, ...]:
        """Every input, applied or refused, that names an id of this cluster, oldest first."""
        x = self._index.get(distinct_id)
        if x is None:
            return ()
        root = self._croot[x]
        croot, in_a, in_b = self._croot, self._in_a, self._in_b
        touching = [
            i
            for i in self._group_inputs(self._find_group(x))
            if croot[in_a[i]] == root or croot[in_b[i]] == root
        ]
        return tuple(self._outcome_at(i) for i in self._sorted(touching))

    def outcome(self, target: IdentityInput) -> Outcome:
        """The current outcome of an input the engine has seen; KeyError if it has not."""
        return self._outcome_at(self._locate(target))

    def refused(self) -> list[Outcome]:
        """Every input refused in the current state, oldest first."""
        return [self._outcome_at(i) for i in self._sorted(list(self._refusals))]

    def explain(self, a: str, b: str) -> Explanation:
        """Which applied inputs link `a` and `b`, or why they are apart."""
        xa, xb = self._index.get(a), self._index.get(b)
        if a == b:
            return Explanation(a, b, True, (), (), f"{a!r} and {b!r} are the same id")
        if xa is None or xb is None:
            unknown = a if xa is None else b
            reason = f"no identity input names {unknown!r}, so it is a person of its own"
            return Explanation(a, b, False, (), (), reason)
        if self._croot[xa] == self._croot[xb]:
            path = self._path(xa, xb, applied_only=True)
            steps = " then ".join(_describe_input(inp) for inp in path)
            return Explanation(a, b, True, path, (), f"{a!r} and {b!r} are linked by {steps}")
        return self._explain_apart(a, b, xa, xb)

    # -- Changes ----------------------------------------------------------------------------

    def apply(self, inp: IdentityInput) -> Outcome:
        """Apply one input and say what it did.

        An input older than the newest input of the groups it touches replays those groups, so
        that the state is the one of applying every input in (event time, arrival) order.
        """
        if inp.kind not in self.kinds:
            raise ValueError(f"{self.mode} identity mode has no {inp.kind.name} input")

        a = self._intern(inp.ids[0])
        b = self._intern(inp.ids[1])
        i = self._record(inp, a, b)
        key_time = inp.time_ms if self.orders_by_event_time else 0
        ga, gb = self._find_group(a), self._find_group(b)
        if self.last_seq < inp.seq:
            self.last_seq = inp.seq

        if self._is_late(ga, key_time, inp.seq) or self._is_late(gb, key_time, inp.seq):
            before = self._statuses(ga) | self._statuses(gb)
            self._join_groups(ga, gb, i, key_time, inp.seq)
            reclassified = self._replay(self._find_group(a), before)
            return self._outcome_at(i, inp, reclassified)

        status = self._decide(i, a, b)
        if status:
            self._refuse(i, status)
        self._join_groups(ga, gb, i, key_time, inp.seq)
        return self._outcome_at(i, inp)

    def withdraw(self, target: IdentityInput, *, seq: int | None = None) -> tuple[Outcome, ...]:
        """Withdraw an input as if it had never arrived; return the inputs whose outcome changed.

        `seq` is the arrival sequence of the withdrawal itself, so that a store can tell which
        withdrawals a snapshot already holds. KeyError if the engine never saw `target`.
        """
        i = self._locate(target)
        if seq is not None and self.last_seq < seq:
            self.last_seq = seq
        g = self._find_group(self._in_a[i])
        before = self._statuses(g)
        self._refusals.pop(i, None)
        self._in_status[i] = WITHDRAWN
        return self._replay(g, before)

    # -- Snapshots --------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """The whole state as bytes, for a store to save; `restore_engine()` reads it back.

        Loading a snapshot and applying the inputs that arrived after `last_seq` gives the state
        of replaying every input, without replaying them.
        """
        columns = [bytes(getattr(self, name)) for name in _COLUMNS]
        joined_ids = "".join(self._ids).encode()
        id_lengths = array("q", map(len, self._ids))
        canonical_keys = array("i", map(self._index.__getitem__, self._canonical))
        canonical_values = array("i", map(self._index.__getitem__, self._canonical.values()))
        parts = [*columns, bytes(id_lengths), joined_ids, bytes(canonical_keys)]
        parts.append(bytes(canonical_values))
        header = {
            "format": _SNAPSHOT_FORMAT,
            "mode": str(self.mode),
            "max_cluster_size": self.max_cluster_size,
            "last_seq": self.last_seq,
            "byteorder": sys.byteorder,
            "sizes": [len(part) for part in parts],
            "refusals": [[i, sentence] for i, sentence in self._refusals.items()],
        }
        encoded_header = orjson.dumps(header)
        size = len(encoded_header).to_bytes(8, "little")
        return b"".join([_SNAPSHOT_MAGIC, size, encoded_header, *parts])

    @classmethod
    def from_snapshot(cls, data: bytes | memoryview) -> IdentityEngine:
        """The engine a snapshot was taken of; use `restore_engine()`, which picks the mode."""
        header, parts = read_snapshot(data)
        engine = cls(max_cluster_size=header["max_cluster_size"])
        engine.last_seq = header["last_seq"]
        for name, part in zip(_COLUMNS, parts, strict=False):
            getattr(engine, name)[:] = _column_like(getattr(engine, name), part)

        id_lengths, joined_ids, canonical_keys, canonical_values = parts[len(_COLUMNS) :]
        text = bytes(joined_ids).decode()
        ends = list(accumulate(_column_like(array("q"), id_lengths)))
        ids = [text[start:end] for start, end in zip([0, *ends], ends, strict=False)]
        engine._ids = ids
        engine._index = dict(zip(ids, range(len(ids)), strict=True))
        keys = _column_like(array("i"), canonical_keys)
        values = _column_like(array("i"), canonical_values)
        engine._canonical = dict(
            zip(map(ids.__getitem__, keys), map(ids.__getitem__, values), strict=True)
        )
        engine._refusals = dict(header["refusals"])
        return engine

    # -- Rules (one rule set per mode, in kindred.identity.rules) ----------------------------

    def _decide(self, i: int, a: int, b: int) -> int:
        """Apply input `i` (ids `a`, `b`) to the clusters, or return the refusal it earns."""
        raise NotImplementedError

    def _describe_refusal(self, i: int, status: int) -> str:
        """A sentence naming the ids involved, written when the refusal happens."""
        raise NotImplementedError

    # -- Clusters ---------------------------------------------------------------------------

    def _earliest_anchor(self, ra: int, rb: int, anchor: int, time: int, seq: int) -> int:
        """Of the anchors of clusters `ra`, `rb` and a new `anchor`, the earliest one's root.

        Returns `ra` or `rb` when one of their anchors is the earliest, else NO_ID.
        """
        best, best_key = NO_ID, (time, seq)
        for r in (ra, rb):
            if self._canchor[r] != NO_ID:
                key = (self._canchor_time[r], self._canchor_seq[r])
                if key <= best_key:
                    best, best_key = r, key
        return best

    def _union(self, a: int, b: int, anchor: int, anchor_time: int, anchor_seq: int) -> None:
        """Join the clusters of `a` and `b` and name the result after `anchor`."""
        croot, csize, canchor = self._croot, self._csize, self._canchor
        ra, rb = croot[a], croot[b]
        if ra == rb:
            if canchor[ra] == NO_ID:
                canchor[ra] = anchor
                self._canchor_time[ra] = anchor_time
                self._canchor_seq[ra] = anchor_seq
                self._rename_members(ra, self._ids[anchor])
            return

        big, small = (ra, rb) if csize[ra] >= csize[rb] else (rb, ra)
        name = self._ids[anchor]
        # Only the ids whose canonical id changes need their entry rewritten: the small side's,
        # unless the big side is renamed too.
        if canchor[big] == anchor:
            self._move_members(small, big, name)
        else:
            self._move_members(small, big, None)
            self._rename_members(big, name)
        canchor[big] = anchor
        self._canchor_time[big] = anchor_time
        self._canchor_seq[big] = anchor_seq

    def _move_members(self, small: int, big: int, name: str | None) -> None:
        """Move the members of cluster `small` into `big`, renaming them to `name` if given."""
        croot, cnext, ids, canonical = self._croot, self._cnext, self._ids, self._canonical
        m = small
        while True:
            croot[m] = big
            if name is not None:
                member = ids[m]
                if member == name:
                    canonical.pop(member, None)
                else:
                    canonical[member] = name
            m = cnext[m]
            if m == small:
                break
        cnext[big], cnext[small] = cnext[small], cnext[big]
        self._csize[big] += self._csize[small]
        self._cidentified[big] += self._cidentified[small]

    def _rename_members(self, root: int, name: str) -> None:
        ids, canonical = self._ids, self._canonical
        for m in self._cluster_members(root):
            member = ids[m]
            if member == name:
                canonical.pop(member, None)
            else:
                canonical[member] = name

    def _cluster_members(self, x: int) -> Iterator[int]:
        cnext = self._cnext
        m = x
        while True:
            yield m
            m = cnext[m]
            if m == x:
                return

    # -- Groups and replay ------------------------------------------------------------------

    def _find_group(self, x: int) -> int:
        parent = self._gparent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def _is_late(self, g: int, key_time: int, seq: int) -> bool:
        newest_time = self._gmax_time[g]
        return key_time < newest_time or (key_time == newest_time and seq < self._gmax_seq[g])

    def _join_groups(self, ga: int, gb: int, i: int, key_time: int, seq: int) -> None:
        """Join two groups (or one with itself) and append input `i` to the joined list."""
        gsize, ghead, gtail, in_next = self._gsize, self._ghead, self._gtail, self._in_next
        if ga != gb:
            if gsize[ga] < gsize[gb]:
                ga, gb = gb, ga
            self._gparent[gb] = ga
            gsize[ga] += gsize[gb]
            if ghead[gb] != NO_INPUT:
                if ghead[ga] == NO_INPUT:
                    ghead[ga] = ghead[gb]
                else:
                    in_next[gtail[ga]] = ghead[gb]
                gtail[ga] = gtail[gb]
            if not self._is_late(ga, self._gmax_time[gb], self._gmax_seq[gb]):
                self._gmax_time[ga] = self._gmax_time[gb]
                self._gmax_seq[ga] = self._gmax_seq[gb]

        in_next[i] = NO_INPUT
        if ghead[ga] == NO_INPUT:
            ghead[ga] = i
        else:
            in_next[gtail[ga]] = i
        gtail[ga] = i
        if not self._is_late(ga, key_time, seq):
            self._gmax_time[ga] = key_time
            self._gmax_seq[ga] = seq

    def _group_inputs(self, g: int) -> Iterator[int]:
        in_next = self._in_next
        i = self._ghead[g]
        while i != NO_INPUT:
            yield i
            i = in_next[i]

    def _statuses(self, g: int) -> dict[int, int]:
        status = self._in_status
        return {i: status[i] for i in self._group_inputs(g)}

    def _replay(self, g: int, before: dict[int, int]) -> tuple[Outcome, ...]:
        """Rebuild group `g` from its inputs in order; return the outcomes that changed."""
        status = self._in_status
        live = [i for i in self._group_inputs(g) if status[i] != WITHDRAWN]
        members = {self._in_a[i] for i in live} | {self._in_b[i] for i in live}
        members.update(self._group_ids(g))
        for x in members:
            self._reset_id(x)
        for i in live:
            self._refusals.pop(i, None)

        for i in self._sorted(live):
            a, b = self._in_a[i], self._in_b[i]
            ga, gb = self._find_group(a), self._find_group(b)
            code = self._decide(i, a, b)
            status[i] = code
            if code:
                self._refuse(i, code)
            key_time = self._in_time[i] if self.orders_by_event_time else 0
            self._join_groups(ga, gb, i, key_time, self._in_seq[i])

        return tuple(
            self._outcome_at(i)
            for i in self._sorted(list(before))
            if i in before and status[i] != before[i] and status[i] != WITHDRAWN
        )

    def _group_ids(self, g: int) -> set[int]:
        """Every id of group `g`, found through the clusters its inputs touch."""
        found: set[int] = set()
        for i in self._group_inputs(g):
            for x in (self._in_a[i], self._in_b[i]):
                if x not in found:
                    found.update(self._cluster_members(x))
        return found

    def _reset_id(self, x: int) -> None:
        self._croot[x] = x
        self._cnext[x] = x
        self._csize[x] = 1
        self._canchor[x] = NO_ID
        self._cidentified[x] = 0
        self._flags[x] = 0
        self._canonical.pop(self._ids[x], None)
        self._gparent[x] = x
        self._gsize[x] = 1
        self._ghead[x] = NO_INPUT
        self._gtail[x] = NO_INPUT
        self._gmax_time[x] = MIN_KEY
        self._gmax_seq[x] = MIN_KEY

    def _sorted(self, inputs: list[int]) -> list[int]:
        in_time, in_seq = self._in_time, self._in_seq
        if self.orders_by_event_time:
            return sorted(inputs, key=lambda i: (in_time[i], in_seq[i]))
        return sorted(inputs, key=in_seq.__getitem__)

    # -- Storage of ids and inputs ----------------------------------------------------------

    def _intern(self, distinct_id: str) -> int:
        x = self._index.get(distinct_id)
        if x is not None:
            return x
        x = len(self._ids)
        self._ids.append(distinct_id)
        self._index[distinct_id] = x
        for column in (self._croot, self._cnext, self._gparent):
            column.append(x)
        for column in (self._csize, self._gsize):
            column.append(1)
        for column in (self._canchor, self._ghead, self._gtail):
            column.append(NO_ID)
        for column in (self._canchor_time, self._canchor_seq, self._cidentified):
            column.append(0)
        self._gmax_time.append(MIN_KEY)
        self._gmax_seq.append(MIN_KEY)
        self._flags.append(0)
        return x

    def _record(self, inp: IdentityInput, a: int, b: int) -> int:
        i = len(self._in_kind)
        self._in_kind.append(inp.kind)
        self._in_status.append(APPLIED)
        self._in_a.append(a)
        self._in_b.append(b)
        self._in_time.append(inp.time_ms)
        self._in_seq.append(inp.seq)
        self._in_next.append(NO_INPUT)
        self._insert_ids += inp.insert_id.encode()
        self._insert_id_ends.append(len(self._insert_ids))
        return i

    def _refuse(self, i: int, code: int) -> None:
        self._in_status[i] = code
        self._refusals[i] = self._describe_refusal(i, code)

    def _input_at(self, i: int) -> IdentityInput:
        start = self._insert_id_ends[i - 1] if i else 0
        insert_id = self._insert_ids[start : self._insert_id_ends[i]].decode()
        ids = (self._ids[self._in_a[i]], self._ids[self._in_b[i]])
        kind = InputKind(self._in_kind[i])
        return IdentityInput(kind, ids, self._in_time[i], self._in_seq[i], insert_id)

    def _outcome_at(
        self, i: int, inp: IdentityInput | None = None, reclassified: tuple[Outcome, ...] = ()
    ) -> Outcome:
        if inp is None:
            inp = self._input_at(i)
        status = self._in_status[i]
        if status == APPLIED:
            return Outcome(inp, reclassified=reclassified)
        if status == WITHDRAWN:
            return Outcome(inp, "withdrawn", "this input was withdrawn", reclassified)
        return Outcome(inp, REFUSAL_CODES[status], self._refusals[i], reclassified)

    def _locate(self, target: IdentityInput) -> int:
        a = self._index.get(target.ids[0])
        if a is not None:
            for i in self._group_inputs(self._find_group(a)):
                if self._in_seq[i] == target.seq and self._in_kind[i] == target.kind:
                    return i
        raise KeyError(f"the identity engine has no input {_describe_input(target)}")

    # -- Explanations -----------------------------------------------------------------------

    def _path(self, xa: int, xb: int, *, applied_only: bool) -> tuple[IdentityInput, ...]:
        """The inputs along a shortest path from id `xa` to id `xb` in their group."""
        edges: dict[int, list[tuple[int, int]]] = {}
        for i in self._group_inputs(self._find_group(xa)):
            status = self._in_status[i]
            if status == WITHDRAWN or (applied_only and status != APPLIED):
                continue
            a, b = self._in_a[i], self._in_b[i]
            edges.setdefault(a, []).append((b, i))
            edges.setdefault(b, []).append((a, i))

        came_from: dict[int, tuple[int, int]] = {xa: (xa, NO_INPUT)}
        queue = deque([xa])
        while queue and xb not in came_from:
            x = queue.popleft()
            for y, i in edges.get(x, ()):
                if y not in came_from:
                    came_from[y] = (x, i)
                    queue.append(y)
        if xb not in came_from:
            return ()

        steps: list[int] = []
        x = xb
        while x != xa:
            x, i = came_from[x]
            steps.append(i)
        return tuple(self._input_at(i) for i in reversed(steps))

    def _explain_apart(self, a: str, b: str, xa: int, xb: int) -> Explanation:
        path = self._path(xa, xb, applied_only=False)
        refused = tuple(
            self.outcome(inp) for inp in path if self._in_status[self._locate(inp)] != APPLIED
        )
        if not refused:
            reason = f"no identity input links {a!r} with {b!r}"
        else:
            reason = f"{a!r} and {b!r} are apart because " + "; ".join(
                f"{_describe_input(o.input)} was refused ({o.code}: {o.description})"
                for o in refused
            )
        return Explanation(a, b, False, (), refused, reason)


def read_snapshot(data: bytes | memoryview) -> tuple[dict[str, Any], list[memoryview]]:
    """Split a snapshot into its header and its parts; ValueError if it is not one."""
    view = memoryview(data)
    if bytes(view[: len(_SNAPSHOT_MAGIC)]) != _SNAPSHOT_MAGIC:
        raise ValueError("not a kindred identity snapshot (its first bytes are wrong)")
    offset = len(_SNAPSHOT_MAGIC)
    header_size = int.from_bytes(view[offset : offset + 8], "little")
    offset += 8
    header: dict[str, Any] = orjson.loads(view[offset : offset + header_size])
    offset += header_size
    if header["format"] != _SNAPSHOT_FORMAT or header["byteorder"] != sys.byteorder:
        raise ValueError(
            f"identity snapshot format {header['format']} ({header['byteorder']}-endian) cannot "
            f"be read here; rebuild it from the identity inputs"
        )
    parts = []
    for size in header["sizes"]:
        parts.append(view[offset : offset + size])
        offset += size
    return header, parts


def _column_like(column: array[int] | bytearray, part: memoryview) -> array[int] | bytearray:
    if isinstance(column, bytearray):
        return bytearray(part)
    restored = array(column.typecode)
    restored.frombytes(part)
    return restored


def _describe_input(inp: IdentityInput) -> str:
    first, second = inp.ids
    match inp.kind:
        case InputKind.IDENTIFY:
            text = f"$identify of {second!r} as {first!r}"
        case InputKind.CREATE_ALIAS:
            text = f"$create_alias of {second!r} to {first!r}"
        case InputKind.MERGE:
            text = f"$merge of {first!r} and {second!r}"
        case InputKind.LINK:
            text = f"an event linking {second!r} to user {first!r}"
    suffix = f", $insert_id {inp.insert_id!r}" if inp.insert_id else ""
    return f"{text} (time {inp.time_ms}, seq {inp.seq}{suffix})"


# Status byte -> Mixpanel's code; status bytes are stored in snapshots, so only ever append.
REFUSAL_CODES = {
    1: ERR_SAME_IDS,
    2: ERR_ANON_NON_GUID,
    3: ERR_ANON_ASSIGNED_ALREADY,
    4: ERR_MANY_IDS,
    5: ERR_ALIAS_ALREADY_EXISTS,
    6: ERR_ALIAS_CYCLE,
}

_SNAPSHOT_MAGIC = b"KINDRED-IDENTITY\n"
_SNAPSHOT_FORMAT = 1
# The columns a snapshot holds, as they are: everything but the dicts, which are rebuilt from them.
_COLUMNS = (
    "_croot",
    "_cnext",
    "_csize",
    "_canchor",
    "_canchor_time",
    "_canchor_seq",
    "_cidentified",
    "_flags",
    "_gparent",
    "_gsize",
    "_ghead",
    "_gtail",
    "_gmax_time",
    "_gmax_seq",
    "_in_kind",
    "_in_status",
    "_in_a",
    "_in_b",
    "_in_time",
    "_in_seq",
    "_in_next",
    "_insert_ids",
    "_insert_id_ends",
)
