"""The identity engine: ids grouped into clusters, each reported under one canonical id.

The state is a pure function of the inputs: applying them in any arrival order gives the state of
applying them sorted by (event time, arrival). The engine keeps that promise cheaply:

- Each cluster remembers the order key of the newest input that touched it, applied or refused.
  An input not older than that key on both of its clusters cannot change the outcome of anything
  already applied, so it is applied at once, in constant time.
- An older input, or a withdrawn one, replays its component: the ids joined to its own by any
  input at all. Whether an input is refused depends only on the clusters of its two ids, and those
  lie inside its component, so components never need each other to be replayed.

Everything lives in flat arrays indexed by small integers (a row per known id, a row per input),
so that a million ids cost a few hundred bytes each and a snapshot is a handful of `tobytes()`
calls. `resolve()` is a single dict lookup.
"""

from __future__ import annotations

import heapq
import sys
from array import array
from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Iterable, Iterator
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

# Input status, one byte per input: 0 is applied, 1..6 are the refusals of REFUSAL_CODES.
APPLIED = 0
WITHDRAWN = 255
# The `code` of a withdrawn input's Outcome.
WITHDRAWN_CODE = "withdrawn"

# Per-id flags, one byte per id.
USED_AS_IDENTIFIED = 1
USED_AS_ALIAS = 2

NO_ID = -1
NO_INPUT = -1
# The order key of a cluster no input has touched: older than any input.
MIN_KEY = -(2**63)
# Columns grow by this many rows at a time, each row already holding its empty values.
GROWTH_ROWS = 4096
# A snapshot comes in chunks of this size, so that no store reads or writes it whole.
SNAPSHOT_CHUNK_BYTES = 8 << 20


class IdentityEngine:
    """Clusters of ids for one project, under the rule set of one identity mode.

    Not thread-safe: one writer (the ingestion pipeline) owns an engine. Readers on other threads
    go through that writer, or work on an engine restored from a snapshot.
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
        # Ids whose entry in _canonical was rewritten since take_renamed() last emptied it: a
        # superset of the ids whose canonical id changed, which the store must re-point.
        self._renamed: set[int] = set()

        # Clusters. Every id knows its cluster's root directly, and the members form a circular
        # list. The other cluster columns are read at the root only.
        self._croot = array("i")
        self._cnext = array("i")
        self._csize = array("i")
        # The row of the input that made the cluster's anchor (its canonical id): the anchor is
        # that input's first id, and its order key the input's.
        self._canchor_row = array("i")
        self._cidentified = array("i")
        self._cnewest_time = array("q")
        self._cnewest_seq = array("q")
        self._flags = bytearray()
        # The inputs that name each id, as a linked list through _in_next_a / _in_next_b.
        self._first_input = array("i")

        # Inputs, in arrival order.
        self._input_count = 0
        self._in_kind = bytearray()
        self._in_status = bytearray()
        self._in_a = array("i")
        self._in_b = array("i")
        self._in_time = array("q")
        self._in_seq = array("q")
        self._in_next_a = array("i")
        self._in_next_b = array("i")
        self._insert_ids = bytearray()
        self._insert_id_ends = array("q")
        # The sentence of each refused input, by input row: also the index of all refusals.
        self._refusals: dict[int, str] = {}

    # -- Questions --------------------------------------------------------------------------

    def __len__(self) -> int:
        """How many ids the engine has seen in an input."""
        return len(self._ids)

    def resolve(self, distinct_id: str) -> str:
        """The canonical id of `distinct_id`; an id no input named resolves to itself."""
        return self._canonical.get(distinct_id, distinct_id)

    def take_renamed(self) -> list[str]:
        """The ids whose canonical id may have changed since the last call; empties the list.

        The pipeline re-points the events it already stored under these ids at their new person.
        """
        renamed = [self._ids[x] for x in self._renamed]
        self._renamed.clear()
        return renamed

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

    def inputs(self, distinct_id: str, *, include_withdrawn: bool = False) -> tuple[Outcome, ...]:
        """Every input, applied or refused, that names an id of this cluster, oldest first.

        With `include_withdrawn`, the withdrawn ones too, their code being `WITHDRAWN_CODE`.
        """
        x = self._index.get(distinct_id)
        if x is None:
            return ()
        rows = {i for m in self._cluster_members(x) for i in self._inputs_naming(m)}
        if not include_withdrawn:
            rows = {i for i in rows if self._in_status[i] != WITHDRAWN}
        return tuple(self._outcome_at(i) for i in self._sorted(list(rows)))

    def inputs_with_insert_id(self, insert_id: str) -> tuple[IdentityInput, ...]:
        """The inputs not withdrawn whose event carried `insert_id`, in arrival order.

        Usually one; more when an SDK retried the event. A scan of the packed insert ids, which
        finds a match with bytes.find() and keeps it only if it spans a whole row.
        """
        if not insert_id:
            return ()
        needle = insert_id.encode()
        ends, n = self._insert_id_ends, self._input_count
        found = []
        start = self._insert_ids.find(needle)
        while start != -1:
            end = start + len(needle)
            # The first row ending at `end` is the one whose insert id ends there; rows without
            # an insert id after it end there too, but start there as well.
            i = bisect_left(ends, end, 0, n)
            if i < n and ends[i] == end and (ends[i - 1] if i else 0) == start:
                found.append(i)
            start = self._insert_ids.find(needle, start + 1)
        return tuple(self._input_at(i) for i in found if self._in_status[i] != WITHDRAWN)

    def outcome(self, target: IdentityInput) -> Outcome:
        """The current outcome of an input the engine has seen; KeyError if it has not."""
        return self._outcome_at(self._locate(target))

    def refused(self) -> list[Outcome]:
        """Every input refused in the current state, oldest first."""
        return [self._outcome_at(i) for i in self._sorted(list(self._refusals))]

    def refusal_counts(self) -> Counter[str]:
        """How many inputs are refused in the current state, by Mixpanel's code."""
        return Counter(REFUSAL_CODES[self._in_status[i]] for i in self._refusals)

    def largest_clusters(self, limit: int) -> list[tuple[str, int]]:
        """(canonical id, number of ids) of the `limit` largest clusters of two ids or more."""
        croot, csize, ids = self._croot, self._csize, self._ids
        roots = (x for x in range(len(ids)) if croot[x] == x and csize[x] > 1)
        largest = heapq.nlargest(limit, roots, key=csize.__getitem__)
        return [(self.resolve(ids[x]), csize[x]) for x in largest]

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
            steps = " then ".join(_describe_input(self._input_at(i)) for i in path)
            return Explanation(
                a, b, True, tuple(map(self._input_at, path)), (), f"linked by {steps}"
            )
        return self._explain_apart(a, b, xa, xb)

    # -- Changes ----------------------------------------------------------------------------

    def apply(self, inp: IdentityInput) -> Outcome:
        """Apply one input and say what it did.

        An input older than the newest input of the clusters it touches replays its component,
        so that the state is the one of applying every input in (event time, arrival) order.
        """
        if inp.kind not in self.kinds:
            raise ValueError(f"{self.mode} identity mode has no {inp.kind.name} input")
        if self.last_seq < inp.seq:
            self.last_seq = inp.seq

        index = self._index
        first, second = inp.ids
        a = index.get(first)
        if a is None:
            a = self._add_id(first)
        b = index.get(second)
        if b is None:
            b = self._add_id(second)
        i = self._record(inp, a, b)

        time = inp.time_ms if self.orders_by_event_time else 0
        seq = inp.seq
        croot, newest_time, newest_seq = self._croot, self._cnewest_time, self._cnewest_seq
        ra, rb = croot[a], croot[b]
        if (
            time < newest_time[ra]
            or time < newest_time[rb]
            or (time == newest_time[ra] and seq < newest_seq[ra])
            or (time == newest_time[rb] and seq < newest_seq[rb])
        ):
            reclassified = self._replay(self._component(a, b), exclude=i)
            return self._outcome_at(i, inp, reclassified)

        code = self._decide(i, a, b)
        ra, rb = croot[a], croot[b]
        newest_time[ra] = newest_time[rb] = time
        newest_seq[ra] = newest_seq[rb] = seq
        if code:
            self._refuse(i, code)
            return self._outcome_at(i, inp)
        return Outcome(inp)

    def withdraw(self, target: IdentityInput, *, seq: int | None = None) -> tuple[Outcome, ...]:
        """Withdraw an input as if it had never arrived; return the inputs whose outcome changed.

        `seq` is the arrival sequence of the withdrawal itself, so that a store can tell which
        withdrawals a snapshot already holds. KeyError if the engine never saw `target`.
        """
        i = self._locate(target)
        if seq is not None and self.last_seq < seq:
            self.last_seq = seq
        component = self._component(self._in_a[i], self._in_b[i])
        self._in_status[i] = WITHDRAWN
        self._refusals.pop(i, None)
        return self._replay(component, exclude=i)

    # -- Snapshots --------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """The whole state as one bytes object: `snapshot_chunks()` joined."""
        return b"".join(self.snapshot_chunks())

    def snapshot_chunks(self, chunk_bytes: int = SNAPSHOT_CHUNK_BYTES) -> Iterator[bytes]:
        """The whole state as a snapshot in chunks of at most `chunk_bytes`, for a store to keep
        in order; `restore_engine()` reads them back.

        Loading a snapshot and applying the inputs that arrived after `last_seq` gives the state
        of replaying every input, without replaying them. The snapshot is built one column at a
        time as the chunks are taken, so saving it costs memory for a column beside the engine,
        not for the whole snapshot: with a million identities the snapshot is about 225 MB.
        Take all the chunks before the engine changes again.
        """
        return _rechunk(self._snapshot_pieces(), chunk_bytes)

    def _snapshot_pieces(self) -> Iterator[bytes]:
        """The header, then every part as a frame: its length in 8 bytes, then its bytes."""
        header = {
            "format": _SNAPSHOT_FORMAT,
            "mode": str(self.mode),
            "max_cluster_size": self.max_cluster_size,
            "last_seq": self.last_seq,
            "byteorder": sys.byteorder,
            "ids_per_frame": _IDS_PER_FRAME,
            "refusals": [[i, sentence] for i, sentence in self._refusals.items()],
        }
        encoded_header = orjson.dumps(header)
        yield _SNAPSHOT_MAGIC + len(encoded_header).to_bytes(8, "little") + encoded_header

        n_ids, n_inputs = len(self._ids), self._input_count
        for name in _COLUMNS:
            rows = n_ids if name in _ID_COLUMNS else n_inputs
            yield from _frame(bytes(getattr(self, name)[:rows]))
        yield from _frame(bytes(self._insert_ids))
        yield from _frame(bytes(array("q", map(len, self._ids))))
        # The ids' text in frames of a few MB, so that a restore never holds all of it at once.
        for start in range(0, n_ids, _IDS_PER_FRAME):
            yield from _frame("".join(self._ids[start : start + _IDS_PER_FRAME]).encode())
        yield from _frame(bytes(array("i", map(self._index.__getitem__, self._canonical))))
        yield from _frame(bytes(array("i", map(self._index.__getitem__, self._canonical.values()))))

    @classmethod
    def from_snapshot(cls, snapshot: bytes | memoryview | Iterable[bytes]) -> IdentityEngine:
        """The engine a snapshot was taken of; use `restore_engine()`, which picks the mode."""
        reader = SnapshotReader(snapshot)
        return cls.from_snapshot_reader(reader.header(), reader)

    @classmethod
    def from_snapshot_reader(cls, header: dict[str, Any], reader: SnapshotReader) -> IdentityEngine:
        """The engine of a snapshot whose header has been read; the parts are read in order."""
        engine = cls(max_cluster_size=header["max_cluster_size"])
        engine.last_seq = header["last_seq"]
        for name in _COLUMNS:
            getattr(engine, name)[:] = _column_like(getattr(engine, name), reader.part())
        engine._input_count = len(engine._in_kind)
        engine._insert_ids = bytearray(reader.part())

        id_lengths = _column_like(array("q"), reader.part())
        per_frame = header.get("ids_per_frame") or max(len(id_lengths), 1)  # format 1: one frame
        ids: list[str] = []
        for start in range(0, len(id_lengths), per_frame):
            text = str(reader.part(), "utf-8")
            ends = list(accumulate(id_lengths[start : start + per_frame]))
            ids.extend(text[begin:end] for begin, end in zip([0, *ends], ends, strict=False))
        engine._ids = ids
        engine._index = dict(zip(ids, range(len(ids)), strict=True))

        keys = _column_like(array("i"), reader.part())
        values = _column_like(array("i"), reader.part())
        engine._canonical = dict(
            zip(map(ids.__getitem__, keys), map(ids.__getitem__, values), strict=True)
        )
        engine._refusals = dict(header["refusals"])
        return engine

    # -- Rules (one rule set per mode, in kindred.identity.rules) ----------------------------

    def _decide(self, i: int, a: int, b: int) -> int:
        """Apply input `i` (ids `a`, `b`) to the clusters, or return the refusal it earns."""
        raise NotImplementedError

    def _describe_refusal(self, i: int, code: int) -> str:
        """A sentence naming the ids involved, written when the refusal happens."""
        raise NotImplementedError

    # -- Clusters ---------------------------------------------------------------------------

    def _earliest_anchor(self, ra: int, rb: int, i: int) -> int:
        """Of the anchors of clusters `ra` and `rb` and input `i`, the row of the oldest."""
        in_time, in_seq, anchor_row = self._in_time, self._in_seq, self._canchor_row
        best, best_key = i, (in_time[i], in_seq[i])
        for r in (ra, rb):
            row = anchor_row[r]
            if row != NO_INPUT and (in_time[row], in_seq[row]) <= best_key:
                best, best_key = row, (in_time[row], in_seq[row])
        return best

    def _union(self, a: int, b: int, anchor_row: int) -> None:
        """Join the clusters of `a` and `b`, named after the anchor made by input `anchor_row`."""
        croot, canchor_row, in_a = self._croot, self._canchor_row, self._in_a
        ra, rb = croot[a], croot[b]
        anchor = in_a[anchor_row]
        if ra == rb:
            if canchor_row[ra] == NO_INPUT:
                canchor_row[ra] = anchor_row
                self._rename_members(ra, self._ids[anchor])
            return

        big, small = (ra, rb) if self._csize[ra] >= self._csize[rb] else (rb, ra)
        name = self._ids[anchor]
        # Only the ids whose canonical id changes need their entry rewritten: the small side's,
        # unless the big side is renamed too.
        if canchor_row[big] != NO_INPUT and in_a[canchor_row[big]] == anchor:
            self._move_members(small, big, name)
        else:
            self._move_members(small, big, None)
            self._rename_members(big, name)
        canchor_row[big] = anchor_row

    def _anchor_row_or(self, root: int, i: int) -> int:
        """The row that made cluster `root`'s anchor, or `i` if it has none yet."""
        row = self._canchor_row[root]
        return i if row == NO_INPUT else row

    def _move_members(self, small: int, big: int, name: str | None) -> None:
        """Move the members of cluster `small` into `big`, renaming them to `name` if given."""
        croot, cnext, ids, canonical = self._croot, self._cnext, self._ids, self._canonical
        renamed = self._renamed
        m = small
        while True:
            croot[m] = big
            if name is not None:
                renamed.add(m)
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
        ids, canonical, renamed = self._ids, self._canonical, self._renamed
        for m in self._cluster_members(root):
            renamed.add(m)
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

    # -- Components and replay --------------------------------------------------------------

    def _inputs_naming(self, x: int) -> Iterator[int]:
        """The rows of every input that names id `x`, withdrawn ones included, newest first."""
        in_a, next_a, next_b = self._in_a, self._in_next_a, self._in_next_b
        i = self._first_input[x]
        while i != NO_INPUT:
            yield i
            i = next_a[i] if in_a[i] == x else next_b[i]

    def _component(self, a: int, b: int) -> tuple[set[int], list[int]]:
        """The ids joined to `a` or `b` by any input, and the rows of those inputs."""
        ids = {a, b}
        rows: set[int] = set()
        pending = [a, b]
        in_a, in_b = self._in_a, self._in_b
        while pending:
            for i in self._inputs_naming(pending.pop()):
                if i in rows:
                    continue
                rows.add(i)
                for y in (in_a[i], in_b[i]):
                    if y not in ids:
                        ids.add(y)
                        pending.append(y)
        return ids, list(rows)

    def _replay(
        self, component: tuple[set[int], list[int]], *, exclude: int
    ) -> tuple[Outcome, ...]:
        """Rebuild a component from its inputs in order; return the outcomes that changed.

        `exclude` is the row that caused the replay: its own change is no reclassification.
        """
        ids, rows = component
        status = self._in_status
        live = [i for i in self._sorted(rows) if status[i] != WITHDRAWN]
        before = {i: status[i] for i in live}
        for x in ids:
            self._reset_id(x)
        for i in live:
            self._refusals.pop(i, None)

        croot, newest_time, newest_seq = self._croot, self._cnewest_time, self._cnewest_seq
        for i in live:
            a, b = self._in_a[i], self._in_b[i]
            code = self._decide(i, a, b)
            status[i] = code
            if code:
                self._refuse(i, code)
            ra, rb = croot[a], croot[b]
            newest_time[ra] = newest_time[rb] = self._in_time[i] if self.orders_by_event_time else 0
            newest_seq[ra] = newest_seq[rb] = self._in_seq[i]

        return tuple(self._outcome_at(i) for i in live if i != exclude and status[i] != before[i])

    def _reset_id(self, x: int) -> None:
        self._croot[x] = x
        self._cnext[x] = x
        self._csize[x] = 1
        self._canchor_row[x] = NO_INPUT
        self._cidentified[x] = 0
        self._cnewest_time[x] = MIN_KEY
        self._cnewest_seq[x] = MIN_KEY
        self._flags[x] = 0
        self._canonical.pop(self._ids[x], None)
        self._renamed.add(x)

    def _sorted(self, rows: list[int]) -> list[int]:
        in_time, in_seq = self._in_time, self._in_seq
        if self.orders_by_event_time:
            return sorted(rows, key=lambda i: (in_time[i], in_seq[i]))
        return sorted(rows, key=in_seq.__getitem__)

    # -- Storage of ids and inputs ----------------------------------------------------------

    def _add_id(self, distinct_id: str) -> int:
        """Give an id the engine has not seen its row."""
        x = len(self._ids)
        if x == len(self._croot):
            self._grow_id_columns()
        self._ids.append(distinct_id)
        self._index[distinct_id] = x
        return x

    def _grow_id_columns(self) -> None:
        start, n = len(self._croot), GROWTH_ROWS
        self._croot.extend(range(start, start + n))
        self._cnext.extend(range(start, start + n))
        self._csize.extend(array("i", [1]) * n)
        for column in (self._canchor_row, self._first_input):
            column.extend(array("i", [NO_INPUT]) * n)
        for column in (self._cnewest_time, self._cnewest_seq):
            column.extend(array("q", [MIN_KEY]) * n)
        self._cidentified.extend(array("i", [0]) * n)
        self._flags.extend(bytes(n))

    def _record(self, inp: IdentityInput, a: int, b: int) -> int:
        i = self._input_count
        if i == len(self._in_kind):
            self._grow_input_columns()
        self._input_count = i + 1
        self._in_kind[i] = inp.kind
        self._in_a[i] = a
        self._in_b[i] = b
        self._in_time[i] = inp.time_ms
        self._in_seq[i] = inp.seq
        if inp.insert_id:
            self._insert_ids += inp.insert_id.encode()
        self._insert_id_ends[i] = len(self._insert_ids)

        # Prepend the row to the input lists of both ids (once when they are the same id).
        first_input = self._first_input
        self._in_next_a[i] = first_input[a]
        first_input[a] = i
        if b != a:
            self._in_next_b[i] = first_input[b]
            first_input[b] = i
        return i

    def _grow_input_columns(self) -> None:
        n = GROWTH_ROWS
        self._in_kind.extend(bytes(n))
        self._in_status.extend(bytes(n))
        for column in (self._in_a, self._in_b, self._in_next_a, self._in_next_b):
            column.extend(array("i", [0]) * n)
        for column in (self._in_time, self._in_seq, self._insert_id_ends):
            column.extend(array("q", [0]) * n)

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
        code = self._in_status[i]
        if code == APPLIED:
            return Outcome(inp, reclassified=reclassified)
        if code == WITHDRAWN:
            return Outcome(inp, WITHDRAWN_CODE, "this input was withdrawn", reclassified)
        return Outcome(inp, REFUSAL_CODES[code], self._refusals[i], reclassified)

    def _locate(self, target: IdentityInput) -> int:
        # The second id (an anonymous id, an alias, a device) is named by few inputs; a user id
        # can be named by thousands.
        x = self._index.get(target.ids[1])
        if x is not None:
            for i in self._inputs_naming(x):
                is_same = self._in_seq[i] == target.seq and self._in_kind[i] == target.kind
                if is_same and self._in_status[i] != WITHDRAWN:
                    return i
        raise KeyError(f"the identity engine has no input {_describe_input(target)}")

    # -- Explanations -----------------------------------------------------------------------

    def _path(self, xa: int, xb: int, *, applied_only: bool) -> list[int]:
        """The rows of the inputs along a shortest path from id `xa` to id `xb`."""
        came_from: dict[int, tuple[int, int]] = {xa: (xa, NO_INPUT)}
        queue = deque([xa])
        while queue and xb not in came_from:
            x = queue.popleft()
            for i in self._inputs_naming(x):
                code = self._in_status[i]
                if code == WITHDRAWN or (applied_only and code != APPLIED):
                    continue
                y = self._in_b[i] if self._in_a[i] == x else self._in_a[i]
                if y not in came_from:
                    came_from[y] = (x, i)
                    queue.append(y)
        if xb not in came_from:
            return []

        steps: list[int] = []
        x = xb
        while x != xa:
            x, i = came_from[x]
            steps.append(i)
        return steps[::-1]

    def _explain_apart(self, a: str, b: str, xa: int, xb: int) -> Explanation:
        path = self._path(xa, xb, applied_only=False)
        refused = tuple(self._outcome_at(i) for i in path if self._in_status[i] != APPLIED)
        if not refused:
            reason = f"no identity input links {a!r} with {b!r}"
        else:
            reason = "apart because " + "; ".join(
                f"{_describe_input(o.input)} was refused ({o.code}: {o.description})"
                for o in refused
            )
        return Explanation(a, b, False, (), refused, reason)


class SnapshotReader:
    """Reads a snapshot from its chunks in order, keeping only the chunk it is in.

    Reads both formats: 1, one blob whose header lists the size of every part, and 2, the chunks
    of `snapshot_chunks()`, where each part is framed with its length.
    """

    def __init__(self, snapshot: bytes | memoryview | Iterable[bytes]) -> None:
        if isinstance(snapshot, bytes | bytearray | memoryview):
            snapshot = [bytes(snapshot)]
        self._chunks = iter(snapshot)
        self._view = memoryview(b"")
        self._sizes: Iterator[int] | None = None

    def header(self) -> dict[str, Any]:
        """The header; ValueError if these bytes are no snapshot this version reads."""
        if bytes(self._read(len(_SNAPSHOT_MAGIC))) != _SNAPSHOT_MAGIC:
            raise ValueError("not a kindred identity snapshot (its first bytes are wrong)")
        header_size = int.from_bytes(self._read(8), "little")
        header: dict[str, Any] = orjson.loads(self._read(header_size))
        if header["format"] not in (1, _SNAPSHOT_FORMAT) or header["byteorder"] != sys.byteorder:
            raise ValueError(
                f"identity snapshot format {header['format']} ({header['byteorder']}-endian) "
                "cannot be read here; rebuild it from the identity inputs"
            )
        if header["format"] == 1:
            self._sizes = iter(header["sizes"])
        return header

    def part(self) -> bytes | bytearray | memoryview:
        """The next part."""
        size = int.from_bytes(self._read(8), "little") if self._sizes is None else next(self._sizes)
        return self._read(size)

    def _read(self, n: int) -> bytes | bytearray | memoryview:
        if len(self._view) >= n:
            found, self._view = self._view[:n], self._view[n:]
            return found
        gathered = bytearray(self._view)
        self._view = memoryview(b"")
        while len(gathered) < n:
            chunk = next(self._chunks, None)
            if chunk is None:
                raise ValueError("the identity snapshot ends early: it was cut short")
            view = memoryview(chunk)
            missing = n - len(gathered)
            gathered += view[:missing]
            self._view = view[missing:]
        return gathered


def _frame(part: bytes) -> Iterator[bytes]:
    yield len(part).to_bytes(8, "little")
    yield part


def _rechunk(pieces: Iterable[bytes], chunk_bytes: int) -> Iterator[bytes]:
    """`pieces` cut and joined into chunks of `chunk_bytes` (the last one shorter)."""
    buffer = bytearray()
    for piece in pieces:
        view = memoryview(piece)
        while len(buffer) + len(view) >= chunk_bytes:
            taken = chunk_bytes - len(buffer)
            buffer += view[:taken]
            view = view[taken:]
            yield bytes(buffer)
            buffer.clear()
        buffer += view
    if buffer:
        yield bytes(buffer)


def _column_like(
    column: array[int] | bytearray, part: bytes | bytearray | memoryview
) -> array[int] | bytearray:
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
# 2: the parts framed with their lengths, the ids' text in frames of `_IDS_PER_FRAME` ids.
_SNAPSHOT_FORMAT = 2
_IDS_PER_FRAME = 65_536
# The columns a snapshot holds, cut to the rows in use; the dicts are rebuilt from them.
_ID_COLUMNS = (
    "_croot",
    "_cnext",
    "_csize",
    "_canchor_row",
    "_cidentified",
    "_cnewest_time",
    "_cnewest_seq",
    "_flags",
    "_first_input",
)
_INPUT_COLUMNS = (
    "_in_kind",
    "_in_status",
    "_in_a",
    "_in_b",
    "_in_time",
    "_in_seq",
    "_in_next_a",
    "_in_next_b",
    "_insert_id_ends",
)
_COLUMNS = _ID_COLUMNS + _INPUT_COLUMNS
