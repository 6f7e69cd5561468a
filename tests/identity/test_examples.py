"""SPEC.md §3 worked examples (L1-L4, O1-O6, S1-S3) and identity edge cases 50-73, as case tables.

A case is a list of steps in arrival order. `Apply` hands one identity input to the engine and
states its outcome; `Event` passes an event through `identity_input_from_event` first (and checks
the Simplified distinct_id derivation); `Expect` checks resolutions at that moment, which matters
in Legacy, where an event is stored under the id it resolves to when it arrives. After the last
step the case's final resolutions and clusters must hold, and every input must have its final
outcome (the one it was applied with, unless a later step flipped it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

import pytest

from kindred.identity import (
    ERR_ALIAS_ALREADY_EXISTS,
    ERR_ALIAS_CYCLE,
    ERR_ANON_ASSIGNED_ALREADY,
    ERR_ANON_NON_GUID,
    ERR_MANY_IDS,
    ERR_SAME_IDS,
    Anchor,
    IdentityEngine,
    IdentityInput,
    IdentityMode,
    InputKind,
    new_engine,
)
from kindred.identity.events import derive_simplified_ids, identity_input_from_event
from kindred.identity.model import DEVICE_PREFIX
from kindred.identity.profiles import profile_target, visible_profile

LEGACY = IdentityMode.LEGACY
ORIGINAL = IdentityMode.ORIGINAL
SIMPLIFIED = IdentityMode.SIMPLIFIED

T0_MS = 1_700_000_000_000
DEFAULT_CAP = 500


def uuid(n: int) -> str:
    """A UUID-v4-shaped anonymous id, distinct for every `n`."""
    return f"00000000-0000-4000-8000-{n:012x}"


def dev(device_id: str) -> str:
    return DEVICE_PREFIX + device_id


D1, D2, D3, D_NEW, D_NEXT = uuid(1), uuid(2), uuid(3), uuid(1000), uuid(1001)
U1, U2, U9 = "U1", "U2", "U9"


@dataclass(frozen=True, slots=True)
class Apply:
    """One identity input arriving now; `code` is its outcome on arrival.

    `at` is the event time in seconds after T0 (default: the step's position). `flips` names
    earlier inputs (by label) whose outcome this one changes, with their new code.
    """

    kind: InputKind
    ids: tuple[str, str]
    code: str | None = None
    at: int | None = None
    label: str = ""
    flips: Mapping[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Event:
    """An event arriving now. `gives` is the identity input it must become (None: it is inert);
    `stored` is the distinct_id Simplified derives for it."""

    name: str
    properties: Mapping[str, object]
    via_import: bool = False
    gives: tuple[InputKind, str, str] | None = None
    code: str | None = None
    stored: str = ""


@dataclass(frozen=True, slots=True)
class Expect:
    """Resolutions that hold at this point of the arrival order."""

    resolves: Mapping[str, str]


Step: TypeAlias = Apply | Event | Expect


@dataclass(frozen=True, slots=True)
class Case:
    mode: IdentityMode
    steps: tuple[Step, ...]
    resolves: Mapping[str, str] = field(default_factory=dict)
    clusters: tuple[frozenset[str], ...] = ()
    sizes: Mapping[str, int] = field(default_factory=dict)
    cap: int = DEFAULT_CAP


def case(
    mode: IdentityMode,
    *steps: Step,
    resolves: Mapping[str, str] | None = None,
    clusters: Sequence[set[str]] = (),
    sizes: Mapping[str, int] | None = None,
    cap: int = DEFAULT_CAP,
) -> Case:
    frozen = tuple(frozenset(c) for c in clusters)
    return Case(mode, steps, resolves or {}, frozen, sizes or {}, cap)


def identify(
    u: str,
    a: str,
    code: str | None = None,
    *,
    at: int | None = None,
    label: str = "",
    flips: Mapping[str, str | None] | None = None,
) -> Apply:
    return Apply(InputKind.IDENTIFY, (u, a), code, at, label, flips or {})


def alias(
    x: str,
    a: str,
    code: str | None = None,
    *,
    at: int | None = None,
    label: str = "",
    flips: Mapping[str, str | None] | None = None,
) -> Apply:
    return Apply(InputKind.CREATE_ALIAS, (x, a), code, at, label, flips or {})


def merge(
    a: str,
    b: str,
    code: str | None = None,
    *,
    at: int | None = None,
    label: str = "",
    flips: Mapping[str, str | None] | None = None,
) -> Apply:
    return Apply(InputKind.MERGE, (a, b), code, at, label, flips or {})


def link(
    u: str,
    d: str,
    code: str | None = None,
    *,
    at: int | None = None,
    label: str = "",
    flips: Mapping[str, str | None] | None = None,
) -> Apply:
    return Apply(InputKind.LINK, (u, dev(d)), code, at, label, flips or {})


def track(
    name: str,
    properties: Mapping[str, object],
    *,
    via_import: bool = False,
    gives: tuple[InputKind, str, str] | None = None,
    code: str | None = None,
    stored: str = "",
) -> Event:
    return Event(name, properties, via_import, gives, code, stored)


def time_ms(at: int | None, position: int) -> int:
    return T0_MS + 1_000 * (position if at is None else at)


def input_of(
    mode: IdentityMode, step: Apply | Event, position: int, seq: int
) -> IdentityInput | None:
    """The identity input a step hands to the engine, or None for an inert event."""
    if isinstance(step, Apply):
        return IdentityInput(step.kind, step.ids, time_ms(step.at, position), seq)
    if step.stored:
        assert derive_simplified_ids(dict(step.properties))[0] == step.stored
    inp = identity_input_from_event(
        mode,
        step.name,
        dict(step.properties),
        time_ms=time_ms(None, position),
        seq=seq,
        via_import=step.via_import,
    )
    if step.gives is None:
        assert inp is None, f"{step.name} {dict(step.properties)} must not be an identity input"
        return None
    assert inp is not None, f"{step.name} {dict(step.properties)} must be an identity input"
    assert (inp.kind, *inp.ids) == step.gives
    assert (inp.time_ms, inp.seq) == (time_ms(None, position), seq)
    return inp


def assert_description_names_ids(inp: IdentityInput, description: str | None) -> None:
    assert description, f"refusal of {inp} has no description"
    for distinct_id in inp.ids:
        assert distinct_id.removeprefix(DEVICE_PREFIX) in description


def assert_final_state(engine: IdentityEngine, c: Case) -> None:
    for distinct_id, canonical in c.resolves.items():
        assert engine.resolve(distinct_id) == canonical, distinct_id
    for cluster in c.clusters:
        for distinct_id in cluster:
            assert engine.members(distinct_id) == cluster, distinct_id
        assert len({engine.resolve(i) for i in cluster}) == 1
    for distinct_id, size in c.sizes.items():
        assert len(engine.members(distinct_id)) == size, distinct_id


def run_case(c: Case) -> list[tuple[IdentityInput, str | None]]:
    """Run a case in its arrival order; return each input with its final outcome code."""
    engine = new_engine(c.mode, max_cluster_size=c.cap)
    assert engine.mode == c.mode
    labelled: dict[str, IdentityInput] = {}
    final: dict[IdentityInput, str | None] = {}
    for seq, step in enumerate(c.steps):
        if isinstance(step, Expect):
            assert {i: engine.resolve(i) for i in step.resolves} == step.resolves, f"step {seq}"
            continue
        inp = input_of(c.mode, step, seq, seq)
        if inp is None:
            continue
        outcome = engine.apply(inp)
        assert outcome.input == inp
        assert outcome.code == step.code, (seq, outcome.description)
        if step.code is not None:
            assert_description_names_ids(inp, outcome.description)
        flips = step.flips if isinstance(step, Apply) else {}
        flipped = {labelled[label]: code for label, code in flips.items()}
        assert {o.input: o.code for o in outcome.reclassified} == flipped, f"step {seq}"
        final.update(flipped)
        final[inp] = step.code
        if isinstance(step, Apply) and step.label:
            labelled[step.label] = inp

    items = list(final.items())
    # outcome() scans the input's cluster; on edge-73's 10,000 links sample the ends instead.
    for inp, code in items if len(items) <= 1_000 else items[:100] + items[-100:]:
        assert engine.outcome(inp).code == code, inp
    refused = sorted((i for i, code in final.items() if code is not None), key=order_key)
    assert [o.input for o in engine.refused()] == refused
    assert engine.last_seq == max((i.seq for i in final), default=-1)
    assert_final_state(engine, c)
    return list(final.items())


def order_key(inp: IdentityInput) -> tuple[int, int]:
    return (inp.time_ms, inp.seq)


def cap_500_steps() -> tuple[Step, ...]:
    """U1 identified on 498 devices: a cluster of 499 ids."""
    return tuple(identify(U1, uuid(100 + k)) for k in range(498))


CAP_500_CLUSTER = {U1, D_NEW} | {uuid(100 + k) for k in range(498)}
MANY_DEVICES = [f"device-{k}" for k in range(10_000)]

CASES = [
    # ---- Legacy (SPEC §3.1): arrival order, resolution at ingestion, chains followed.
    pytest.param(
        case(
            LEGACY,
            Expect({"A": "A"}),
            alias("A", "sally"),
            Expect({"sally": "A"}),
            resolves={"A": "A", "sally": "A"},
            clusters=[{"A", "sally"}],
        ),
        id="L1",
    ),
    pytest.param(
        case(
            LEGACY,
            alias("A", "sally"),
            Expect({"B": "B"}),
            alias("B", "sally", ERR_ALIAS_ALREADY_EXISTS),
            Expect({"sally": "A", "B": "B"}),
            resolves={"sally": "A", "B": "B"},
            clusters=[{"A", "sally"}, {"B"}],
        ),
        id="L2",
    ),
    pytest.param(
        case(
            LEGACY,
            Expect({"U": "U"}),
            alias("A", "U"),
            Expect({"U": "A"}),
            resolves={"U": "A", "A": "A"},
            clusters=[{"A", "U"}],
        ),
        id="L3",
    ),
    pytest.param(
        case(
            LEGACY,
            alias("A", "N"),
            alias("N", "M"),
            resolves={"M": "A", "N": "A", "A": "A"},
            clusters=[{"A", "N", "M"}],
        ),
        id="L4",
    ),
    pytest.param(
        case(
            LEGACY,
            alias("A", "sally", at=2),
            alias("B", "sally", ERR_ALIAS_ALREADY_EXISTS, at=1),
            resolves={"sally": "A", "B": "B"},
        ),
        id="legacy-late-alias-does-not-take-over",
    ),
    pytest.param(
        case(LEGACY, alias("A", "A", ERR_SAME_IDS), resolves={"A": "A"}, clusters=[{"A"}]),
        id="legacy-alias-to-itself",
    ),
    pytest.param(
        case(
            LEGACY,
            alias("A", "N"),
            alias("N", "A", ERR_ALIAS_CYCLE),
            alias("N", "M"),
            alias("M", "A", ERR_ALIAS_CYCLE),
            resolves={"A": "A", "N": "A", "M": "A"},
            clusters=[{"A", "N", "M"}],
        ),
        id="legacy-alias-cycle",
    ),
    # ---- Original (SPEC §3.2); canonical = earliest anchor (SPEC-DECISIONS).
    pytest.param(
        case(ORIGINAL, identify(U1, D1), resolves={D1: U1, U1: U1}, clusters=[{D1, U1}]),
        id="O1",
    ),
    pytest.param(
        case(
            ORIGINAL,
            identify(U1, D1),
            identify(U1, D2),
            resolves={D1: U1, D2: U1, U1: U1},
            clusters=[{D1, D2, U1}],
        ),
        id="O2",
    ),
    pytest.param(
        case(
            ORIGINAL,
            identify(U1, D1),
            identify(U2, D1, ERR_ANON_ASSIGNED_ALREADY),
            resolves={D1: U1, U2: U2},
            clusters=[{D1, U1}, {U2}],
        ),
        id="O3",
    ),
    pytest.param(
        case(
            ORIGINAL,
            identify(U1, D1, at=2, label="u1"),
            identify(U2, D1, at=1, flips={"u1": ERR_ANON_ASSIGNED_ALREADY}),
            resolves={D1: U2, U1: U1},
            clusters=[{D1, U2}, {U1}],
        ),
        id="O3-late",
    ),
    pytest.param(
        case(
            ORIGINAL,
            identify(U1, D1, at=1),
            identify(U2, D1, ERR_ANON_ASSIGNED_ALREADY, at=1),
            resolves={D1: U1, U2: U2},
            clusters=[{D1, U1}, {U2}],
        ),
        id="O3-same-time-first-arrival-wins",
    ),
    pytest.param(
        case(
            ORIGINAL,
            identify(U1, "cookie-123", ERR_ANON_NON_GUID),
            track("$merge", {"$distinct_ids": ["cookie-123", U1]}),
            Expect({U1: U1, "cookie-123": "cookie-123"}),
            track(
                "$merge",
                {"$distinct_ids": ["cookie-123", U1]},
                via_import=True,
                gives=(InputKind.MERGE, "cookie-123", U1),
            ),
            resolves={U1: "cookie-123"},
            clusters=[{"cookie-123", U1}],
        ),
        id="O4",
    ),
    pytest.param(
        case(
            ORIGINAL,
            alias(U1, "a@x.com"),
            alias(U9, "a@x.com", ERR_ALIAS_ALREADY_EXISTS),
            Expect({U9: U9, "a@x.com": U1}),
            merge(U1, U9),
            resolves={U9: U1, "a@x.com": U1},
            clusters=[{U1, U9, "a@x.com"}],
        ),
        id="O5",
    ),
    pytest.param(
        case(
            ORIGINAL,
            alias(U1, "a@x.com", at=2, label="u1"),
            alias(U9, "a@x.com", at=1, flips={"u1": ERR_ALIAS_ALREADY_EXISTS}),
            merge(U1, U9, at=3),
            resolves={U1: U9, "a@x.com": U9},
            clusters=[{U1, U9, "a@x.com"}],
        ),
        id="O5-late",
    ),
    pytest.param(
        case(
            ORIGINAL,
            *cap_500_steps(),
            identify(U1, D_NEW),
            identify(U1, D_NEXT, ERR_MANY_IDS),
            resolves={D_NEW: U1, D_NEXT: D_NEXT},
            clusters=[CAP_500_CLUSTER, {D_NEXT}],
        ),
        id="O6",
    ),
    pytest.param(
        case(
            ORIGINAL,
            identify(U1, D1),
            identify(U1, D2),
            identify(U1, D3, ERR_MANY_IDS),
            identify(U1, D2),
            resolves={D3: D3},
            clusters=[{U1, D1, D2}, {D3}],
            cap=3,
        ),
        id="O6-cap-3",
    ),
    pytest.param(
        case(
            ORIGINAL,
            identify(U1, D1, at=1),
            identify(U1, D2, at=3, label="d2"),
            identify(U1, D3, at=2, flips={"d2": ERR_MANY_IDS}),
            clusters=[{U1, D1, D3}, {D2}],
            cap=3,
        ),
        id="O6-late",
    ),
    pytest.param(
        case(
            ORIGINAL,
            identify(U1, D1, at=2),
            merge(U2, D1, at=1),
            resolves={U1: U2, D1: U2},
            clusters=[{U1, U2, D1}],
        ),
        id="late-merge-becomes-canonical",
    ),
    pytest.param(
        case(
            ORIGINAL,
            identify(U1, D1),
            identify(U2, D2),
            merge(U2, U1),
            resolves={U2: U1, D2: U1, D1: U1},
            clusters=[{U1, U2, D1, D2}],
        ),
        id="canonical-is-earliest-anchor",
    ),
    pytest.param(
        case(
            ORIGINAL,
            merge(D1, U1),
            identify(U2, D1),
            resolves={U1: D1, U2: D1},
            clusters=[{D1, U1, U2}],
        ),
        id="identify-into-merged-cluster-without-identified-id",
    ),
    pytest.param(
        case(
            ORIGINAL,
            identify(U1, D1),
            merge(U1, U2),
            identify(U2, D1, ERR_ANON_ASSIGNED_ALREADY),
            clusters=[{D1, U1, U2}],
        ),
        id="identify-refused-even-inside-one-cluster",
    ),
    pytest.param(
        case(
            ORIGINAL,
            identify(U1, D1),
            identify(U2, D2),
            merge(U1, U2),
            identify(U1, D2, ERR_ANON_ASSIGNED_ALREADY),
            identify(U1, D1, ERR_ANON_ASSIGNED_ALREADY),  # U2 is in D1's cluster too now
            clusters=[{D1, D2, U1, U2}],
        ),
        id="identify-refused-when-cluster-holds-another-identified-id",
    ),
    pytest.param(
        case(ORIGINAL, alias(U1, U1, ERR_SAME_IDS), clusters=[{U1}]),
        id="original-alias-to-itself",
    ),
    # ---- Simplified (SPEC §3.3), through the event helpers.
    pytest.param(
        case(
            SIMPLIFIED,
            track("e", {"$device_id": "D1"}, stored=dev("D1")),
            track("e", {"$device_id": "D1"}, stored=dev("D1")),
            Expect({dev("D1"): dev("D1")}),
            track(
                "e",
                {"$device_id": "D1", "$user_id": U1},
                gives=(InputKind.LINK, U1, dev("D1")),
                stored=U1,
            ),
            track("e", {"$device_id": "D2"}, stored=dev("D2")),
            track("e", {"$device_id": "D2"}, stored=dev("D2")),
            Expect({dev("D2"): dev("D2")}),
            track(
                "e",
                {"$device_id": "D2", "$user_id": U1},
                gives=(InputKind.LINK, U1, dev("D2")),
                stored=U1,
            ),
            resolves={dev("D1"): U1, dev("D2"): U1, U1: U1},
            clusters=[{U1, dev("D1"), dev("D2")}],
        ),
        id="S1",
    ),
    pytest.param(
        case(
            SIMPLIFIED,
            track(
                "e",
                {"$device_id": "D1", "$user_id": U1},
                gives=(InputKind.LINK, U1, dev("D1")),
                stored=U1,
            ),
            track("e", {"$device_id": "D2"}, stored=dev("D2")),
            track("e", {"$device_id": "D1"}, stored=dev("D1")),
            Expect({dev("D1"): U1, dev("D2"): dev("D2")}),
            track(
                "e",
                {"$device_id": "D2", "$user_id": U2},
                gives=(InputKind.LINK, U2, dev("D2")),
                stored=U2,
            ),
            track(
                "e",
                {"$device_id": "D1", "$user_id": U2},
                gives=(InputKind.LINK, U2, dev("D1")),
                code=ERR_ANON_ASSIGNED_ALREADY,
                stored=U2,
            ),
            resolves={dev("D1"): U1, dev("D2"): U2},
            clusters=[{U1, dev("D1")}, {U2, dev("D2")}],
        ),
        id="S2",
    ),
    pytest.param(
        case(
            SIMPLIFIED,
            link(U1, "D1", at=2, label="u1"),
            link(U2, "D1", at=1, flips={"u1": ERR_ANON_ASSIGNED_ALREADY}),
            resolves={dev("D1"): U2, U1: U1},
            clusters=[{U2, dev("D1")}, {U1}],
        ),
        id="S2-late",
    ),
    pytest.param(
        case(
            SIMPLIFIED,
            track("e", {"distinct_id": "charlie"}, stored="charlie"),
            track("e", {"distinct_id": dev("anon111")}, stored=dev("anon111")),
            track("$identify", {"$identified_id": "charlie", "$anon_id": D1}),
            track("$identify", {"distinct_id": U1, "$device_id": "D1", "$user_id": U1}, stored=U1),
            Expect({dev("D1"): dev("D1"), U1: U1}),
            track(
                "e",
                {"distinct_id": U1, "$device_id": "D1", "$user_id": U1},
                gives=(InputKind.LINK, U1, dev("D1")),
                stored=U1,
            ),
            track(
                "e",
                {"$device_id": "+6512345678", "$user_id": "charlie"},
                gives=(InputKind.LINK, "charlie", dev("+6512345678")),
                stored="charlie",
            ),
            track("e", {"$user_id": "+6512345678"}, stored="+6512345678"),
            resolves={dev("D1"): U1, dev("+6512345678"): "charlie"},
            clusters=[{U1, dev("D1")}, {"charlie", dev("+6512345678")}, {"+6512345678"}],
        ),
        id="S3",
    ),
    # ---- Edge cases 50-73 (SPEC §7), engine-level part.
    pytest.param(
        case(
            LEGACY,
            Expect({"A": "A"}),
            track(
                "$create_alias",
                {"distinct_id": "A", "alias": "sally"},
                gives=(InputKind.CREATE_ALIAS, "A", "sally"),
            ),
            resolves={"sally": "A", "A": "A"},
        ),
        id="edge-50",
    ),
    pytest.param(
        case(
            LEGACY,
            track("$identify", {"$identified_id": U1, "$anon_id": D1}),
            track("$identify", {"distinct_id": U1, "$anon_distinct_id": D1}),
            track("$merge", {"$distinct_ids": [U1, U2]}, via_import=True),
            resolves={D1: D1, U2: U2},
            clusters=[{U1}, {D1}, {U2}],
        ),
        id="legacy-identify-and-merge-are-ordinary-events",
    ),
    pytest.param(
        case(
            LEGACY,
            Expect({"sally": "sally"}),
            alias("A", "sally"),
            Expect({"sally": "A"}),
            clusters=[{"A", "sally"}],
        ),
        id="edge-51",
    ),
    pytest.param(
        case(
            LEGACY,
            alias("A", "sally"),
            alias("B", "sally", ERR_ALIAS_ALREADY_EXISTS),
            resolves={"sally": "A", "B": "B"},
            clusters=[{"A", "sally"}, {"B"}],
        ),
        id="edge-52",
    ),
    pytest.param(
        case(
            ORIGINAL,
            Expect({D1: D1}),
            identify(U1, D1),
            resolves={D1: U1, U1: U1},
            clusters=[{D1, U1}],
        ),
        id="edge-54",
    ),
    pytest.param(
        case(ORIGINAL, identify(U1, U1, ERR_SAME_IDS), clusters=[{U1}]),
        id="edge-55",
    ),
    pytest.param(
        case(ORIGINAL, identify(D1, D1, ERR_SAME_IDS), clusters=[{D1}]),
        id="edge-55-same-before-guid-check",
    ),
    pytest.param(
        case(ORIGINAL, identify(U1, "abc", ERR_ANON_NON_GUID), clusters=[{U1}, {"abc"}]),
        id="edge-56",
    ),
    pytest.param(
        case(ORIGINAL, identify(U1, dev("abc"), ERR_ANON_NON_GUID), clusters=[{U1}]),
        id="edge-56-device-prefix-non-guid",
    ),
    pytest.param(
        case(
            ORIGINAL,
            identify(U1, "00000000-0000-4000-8000-00000000001", ERR_ANON_NON_GUID),
            identify(U1, "00000000000040008000000000000001", ERR_ANON_NON_GUID),
            identify(U1, "g0000000-0000-4000-8000-000000000001", ERR_ANON_NON_GUID),
            clusters=[{U1}],
        ),
        id="edge-56-not-8-4-4-4-12-hex",
    ),
    pytest.param(
        case(
            ORIGINAL,
            identify(U1, "ABCDEF01-2345-6789-ABCD-EF0123456789"),
            identify(U2, "00000000-0000-0000-0000-000000000000"),
            clusters=[{U1, "ABCDEF01-2345-6789-ABCD-EF0123456789"}],
            resolves={"00000000-0000-0000-0000-000000000000": U2},
        ),
        id="edge-56-any-case-any-version",
    ),
    pytest.param(
        case(
            ORIGINAL,
            identify(U1, D1),
            identify(U2, D1, ERR_ANON_ASSIGNED_ALREADY),
            clusters=[{D1, U1}, {U2}],
        ),
        id="edge-57",
    ),
    pytest.param(
        case(
            ORIGINAL,
            identify(U1, D1),
            identify(U1, D2),
            resolves={D1: U1, D2: U1},
            clusters=[{D1, D2, U1}],
        ),
        id="edge-58",
    ),
    pytest.param(
        case(
            ORIGINAL,
            track("$merge", {"$distinct_ids": ["cookie-123", U1]}),
            Expect({U1: U1}),
            track(
                "$merge",
                {"$distinct_ids": ["cookie-123", U1]},
                via_import=True,
                gives=(InputKind.MERGE, "cookie-123", U1),
            ),
            clusters=[{"cookie-123", U1}],
        ),
        id="edge-59",
    ),
    pytest.param(
        case(
            ORIGINAL,
            identify(U1, D1),
            identify(U2, D2),
            merge(U1, U2, ERR_MANY_IDS),
            clusters=[{U1, D1}, {U2, D2}],
            cap=3,
        ),
        id="edge-60",
    ),
    pytest.param(
        case(
            ORIGINAL,
            alias(U1, "a"),
            alias(U1, "b"),
            alias(U1, "c", ERR_MANY_IDS),
            clusters=[{U1, "a", "b"}, {"c"}],
            cap=3,
        ),
        id="edge-60-alias",
    ),
    pytest.param(
        case(
            ORIGINAL,
            alias("X1", "A"),
            alias("X2", "A", ERR_ALIAS_ALREADY_EXISTS),
            alias("X1", "A", ERR_ALIAS_ALREADY_EXISTS),
            resolves={"A": "X1"},
            clusters=[{"X1", "A"}, {"X2"}],
        ),
        id="edge-61",
    ),
    pytest.param(
        case(
            ORIGINAL,
            track(
                "$identify",
                {"distinct_id": U1, "$anon_distinct_id": dev(D1)},
                gives=(InputKind.IDENTIFY, U1, dev(D1)),
            ),
            resolves={dev(D1): U1},
            clusters=[{U1, dev(D1)}],
        ),
        id="edge-64",
    ),
    pytest.param(
        case(
            ORIGINAL,
            track(
                "$identify",
                {"$identified_id": U1, "$anon_id": D1},
                gives=(InputKind.IDENTIFY, U1, D1),
            ),
            track(
                "$create_alias",
                {"distinct_id": U1, "alias": "a@x.com"},
                gives=(InputKind.CREATE_ALIAS, U1, "a@x.com"),
            ),
            clusters=[{U1, D1, "a@x.com"}],
        ),
        id="edge-64-api-spelling",
    ),
    pytest.param(
        case(
            SIMPLIFIED,
            track("e", {"$device_id": "D1"}, stored=dev("D1")),
            clusters=[{dev("D1")}],
        ),
        id="edge-65",
    ),
    pytest.param(
        case(
            SIMPLIFIED,
            track("e", {"$device_id": "D1"}, stored=dev("D1")),
            Expect({dev("D1"): dev("D1")}),
            track(
                "e",
                {"$device_id": "D1", "$user_id": U1},
                gives=(InputKind.LINK, U1, dev("D1")),
                stored=U1,
            ),
            resolves={dev("D1"): U1},
        ),
        id="edge-66",
    ),
    pytest.param(
        case(
            SIMPLIFIED,
            link(U1, "D1"),
            track(
                "e",
                {"$device_id": "D1", "$user_id": U2},
                gives=(InputKind.LINK, U2, dev("D1")),
                code=ERR_ANON_ASSIGNED_ALREADY,
                stored=U2,
            ),
            resolves={dev("D1"): U1, U2: U2},
            clusters=[{U1, dev("D1")}, {U2}],
        ),
        id="edge-67",
    ),
    pytest.param(
        case(SIMPLIFIED, track("e", {"distinct_id": "charlie"}, stored="charlie")),
        id="edge-68",
    ),
    pytest.param(
        case(SIMPLIFIED, track("e", {"distinct_id": dev("x")}, stored=dev("x"))),
        id="edge-69",
    ),
    pytest.param(
        case(
            SIMPLIFIED,
            track(
                "$identify",
                {"$device_id": "D1", "$user_id": U1, "$identified_id": U1, "$anon_id": D1},
            ),
            track("$create_alias", {"$device_id": "D1", "$user_id": U1, "alias": "a@x.com"}),
            track("$merge", {"$device_id": "D1", "$user_id": U1, "$distinct_ids": [U1, dev("D1")]}),
            track(
                "$merge",
                {"$device_id": "D1", "$user_id": U1, "$distinct_ids": [U1, dev("D1")]},
                via_import=True,
            ),
            resolves={dev("D1"): dev("D1"), U1: U1, "a@x.com": "a@x.com"},
            clusters=[{U1}, {dev("D1")}],
        ),
        id="edge-70",
    ),
    pytest.param(
        case(
            SIMPLIFIED,
            *(link(U1, d) for d in MANY_DEVICES),
            resolves={dev(d): U1 for d in MANY_DEVICES},
            sizes={U1: 10_001, dev(MANY_DEVICES[0]): 10_001},
        ),
        id="edge-73",
    ),
]


@pytest.mark.parametrize("c", CASES)
def test_example_reaches_specified_outcomes_and_clusters(c: Case) -> None:
    run_case(c)


def is_reorderable(c: Case) -> bool:
    """Original and Simplified cases of modest size whose inputs have distinct event times."""
    steps = [(i, s) for i, s in enumerate(c.steps) if not isinstance(s, Expect)]
    times = [time_ms(s.at if isinstance(s, Apply) else None, i) for i, s in steps]
    return c.mode != LEGACY and len(set(times)) == len(times) and len(steps) <= 1_000


def reverse_arrival(positions: list[int]) -> list[int]:
    return positions[::-1]


def first_arrives_last(positions: list[int]) -> list[int]:
    return positions[1:] + positions[:1]


REORDERABLE = [p for p in CASES if isinstance(p.values[0], Case) and is_reorderable(p.values[0])]


@pytest.mark.parametrize(
    "reorder", [reverse_arrival, first_arrives_last], ids=["reversed", "first-arrives-last"]
)
@pytest.mark.parametrize("c", REORDERABLE)
def test_example_final_state_does_not_depend_on_arrival_order(
    c: Case, reorder: Callable[[list[int]], list[int]]
) -> None:
    final_codes = {inp.seq: code for inp, code in run_case(c)}
    positions = [i for i, s in enumerate(c.steps) if not isinstance(s, Expect)]

    engine = new_engine(c.mode, max_cluster_size=c.cap)
    arrived: dict[int, IdentityInput] = {}
    for seq, position in enumerate(reorder(positions)):
        step = c.steps[position]
        assert not isinstance(step, Expect)
        inp = input_of(c.mode, step, position, seq)
        if inp is not None:
            engine.apply(inp)
            arrived[position] = inp

    assert {p: engine.outcome(inp).code for p, inp in arrived.items()} == final_codes
    refused = sorted((i for p, i in arrived.items() if final_codes[p] is not None), key=order_key)
    assert [o.input for o in engine.refused()] == refused
    assert_final_state(engine, c)


# ---- Profiles (SPEC-DECISIONS "Profiles"; edge cases 53, 62, 63, 71, 72; L1.5).


@dataclass(frozen=True, slots=True)
class ProfileCase:
    """After `inputs`, an update addressed to `distinct_id` lands on `target`; `visible` is the
    profile queries show for that id's cluster (None: no visible profile)."""

    mode: IdentityMode
    inputs: tuple[Apply, ...]
    distinct_id: str
    profiles: Mapping[str, int]
    target: str
    visible: str | None
    ignore_alias: bool = False


PROFILE_CASES = [
    pytest.param(
        ProfileCase(LEGACY, (alias("A", "sally"),), "sally", {}, target="A", visible=None),
        id="L1.5",
    ),
    pytest.param(
        ProfileCase(LEGACY, (alias("A", "sally"),), "sally", {"A": 1}, target="A", visible="A"),
        id="L1.5-existing-profile",
    ),
    pytest.param(
        ProfileCase(
            LEGACY, (alias("A", "sally"),), "sally", {"A": 1, "sally": 2}, target="A", visible="A"
        ),
        id="edge-53",
    ),
    pytest.param(
        ProfileCase(
            LEGACY,
            (alias("A", "sally"),),
            "sally",
            {"A": 1, "sally": 2},
            target="sally",
            visible="A",
            ignore_alias=True,
        ),
        id="edge-53-ignore-alias",
    ),
    pytest.param(
        ProfileCase(ORIGINAL, (merge(U1, U2),), U2, {U1: 1, U2: 2}, target=U1, visible=U1),
        id="edge-62",
    ),
    pytest.param(
        ProfileCase(ORIGINAL, (identify(U1, D1),), D1, {U1: 1}, target=U1, visible=U1),
        id="edge-63",
    ),
    pytest.param(
        ProfileCase(ORIGINAL, (identify(U1, D1),), D1, {}, target=U1, visible=None),
        id="edge-63-cluster-without-profile-creates-canonical",
    ),
    pytest.param(
        ProfileCase(ORIGINAL, (identify(U1, D1),), U1, {D1: 5}, target=D1, visible=D1),
        id="edge-63-only-member-profile-is-visible",
    ),
    pytest.param(
        ProfileCase(
            ORIGINAL,
            (identify(U1, D1), identify(U1, D2)),
            U1,
            {D1: 7, D2: 5},
            target=D1,
            visible=D1,
        ),
        id="edge-63-most-recently-updated-member-profile",
    ),
    pytest.param(
        ProfileCase(
            ORIGINAL, (identify(U1, D1),), D1, {U1: 1}, target=D1, visible=U1, ignore_alias=True
        ),
        id="edge-63-ignore-alias",
    ),
    pytest.param(
        ProfileCase(
            LEGACY, (alias("A", "sally"),), "A", {"sally": 5}, target="sally", visible="sally"
        ),
        id="legacy-member-profile-is-visible-while-canonical-has-none",
    ),
    pytest.param(
        ProfileCase(ORIGINAL, (), "nobody", {}, target="nobody", visible=None),
        id="unknown-id",
    ),
    pytest.param(
        ProfileCase(SIMPLIFIED, (), dev("D1"), {dev("D1"): 5}, target=dev("D1"), visible=dev("D1")),
        id="edge-71-before-link",
    ),
    pytest.param(
        ProfileCase(SIMPLIFIED, (link(U1, "D1"),), U1, {dev("D1"): 5}, target=U1, visible=None),
        id="edge-71",
    ),
    pytest.param(
        ProfileCase(
            SIMPLIFIED, (link(U1, "D1"),), dev("D1"), {dev("D1"): 5, U1: 3}, target=U1, visible=U1
        ),
        id="edge-72",
    ),
    pytest.param(
        ProfileCase(
            SIMPLIFIED, (link(U1, "D1"),), dev("D1"), {dev("D1"): 5}, target=U1, visible=None
        ),
        id="edge-72-user-without-profile",
    ),
]


@pytest.mark.parametrize("c", PROFILE_CASES)
def test_profile_update_lands_on_the_visible_profile(c: ProfileCase) -> None:
    engine = new_engine(c.mode)
    for seq, step in enumerate(c.inputs):
        inp = input_of(c.mode, step, seq, seq)
        assert inp is not None
        assert engine.apply(inp).is_applied

    target = profile_target(engine, c.distinct_id, ignore_alias=c.ignore_alias, profiles=c.profiles)

    assert target == c.target
    assert visible_profile(engine, c.distinct_id, c.profiles) == c.visible


# ---- Simplified distinct_id derivation (SPEC §3.3 rule 1; S3, edge cases 65, 66, 68, 69).


@pytest.mark.parametrize(
    ("properties", "distinct_id", "added"),
    [
        pytest.param({"distinct_id": "charlie"}, "charlie", {"$user_id": "charlie"}, id="S3.1"),
        pytest.param(
            {"distinct_id": dev("anon111")}, dev("anon111"), {"$device_id": "anon111"}, id="S3.2"
        ),
        pytest.param({"$device_id": "D1"}, dev("D1"), {}, id="edge-65"),
        pytest.param({"$device_id": "D1", "$user_id": U1}, U1, {}, id="edge-66"),
        pytest.param({"distinct_id": "charlie"}, "charlie", {"$user_id": "charlie"}, id="edge-68"),
        pytest.param({"distinct_id": dev("x")}, dev("x"), {"$device_id": "x"}, id="edge-69"),
        pytest.param(
            {"distinct_id": "client-value", "$user_id": U1}, U1, {}, id="user-id-overrides-client"
        ),
        pytest.param(
            {"distinct_id": "client-value", "$device_id": "D1"},
            dev("D1"),
            {},
            id="device-id-overrides-client",
        ),
        pytest.param(
            {"$device_id": "+6512345678", "$user_id": "charlie"}, "charlie", {}, id="S3.4"
        ),
        pytest.param({"$user_id": "+6512345678"}, "+6512345678", {}, id="S3.5"),
    ],
)
def test_simplified_derives_distinct_id_and_added_properties(
    properties: dict[str, object], distinct_id: str, added: dict[str, str]
) -> None:
    assert derive_simplified_ids(properties) == (distinct_id, added)


# ---- The rest of the engine API on the worked examples.


@pytest.mark.parametrize(
    ("mode", "inp"),
    [
        pytest.param(
            SIMPLIFIED,
            IdentityInput.identify(U1, D1, time_ms=T0_MS, seq=0),
            id="simplified-identify",
        ),
        pytest.param(
            SIMPLIFIED,
            IdentityInput.create_alias(U1, "a", time_ms=T0_MS, seq=0),
            id="simplified-alias",
        ),
        pytest.param(
            SIMPLIFIED, IdentityInput.merge(U1, U2, time_ms=T0_MS, seq=0), id="simplified-merge"
        ),
        pytest.param(
            ORIGINAL, IdentityInput.link(U1, "D1", time_ms=T0_MS, seq=0), id="original-link"
        ),
        pytest.param(
            LEGACY, IdentityInput.identify(U1, D1, time_ms=T0_MS, seq=0), id="legacy-identify"
        ),
        pytest.param(LEGACY, IdentityInput.merge(U1, U2, time_ms=T0_MS, seq=0), id="legacy-merge"),
        pytest.param(LEGACY, IdentityInput.link(U1, "D1", time_ms=T0_MS, seq=0), id="legacy-link"),
    ],
)
def test_apply_refuses_a_kind_the_mode_does_not_have(
    mode: IdentityMode, inp: IdentityInput
) -> None:
    engine = new_engine(mode)

    with pytest.raises(ValueError):
        engine.apply(inp)

    assert engine.members(U1) == frozenset({U1})


def o3_engine() -> tuple[IdentityEngine, IdentityInput, IdentityInput]:
    engine = new_engine(ORIGINAL)
    first = IdentityInput.identify(U1, D1, time_ms=T0_MS, seq=0)
    second = IdentityInput.identify(U2, D1, time_ms=T0_MS + 1_000, seq=1)
    engine.apply(first)
    engine.apply(second)
    return engine, first, second


def test_withdrawing_an_identify_lets_the_refused_one_apply() -> None:
    engine, first, second = o3_engine()

    reclassified = engine.withdraw(first, seq=2)

    assert [(o.input, o.code) for o in reclassified] == [(second, None)]
    assert engine.resolve(D1) == U2
    assert engine.members(U1) == frozenset({U1})
    assert engine.refused() == []
    assert engine.last_seq == 2
    with pytest.raises(KeyError):
        engine.outcome(first)


def test_withdrawing_an_unknown_input_raises_key_error() -> None:
    engine, _, _ = o3_engine()

    with pytest.raises(KeyError):
        engine.withdraw(IdentityInput.merge(U1, U2, time_ms=T0_MS, seq=7))


def test_simplified_event_with_device_prefixed_user_id_is_refused() -> None:
    properties: dict[str, object] = {"$user_id": dev("a"), "$device_id": "b"}

    with pytest.raises(ValueError, match="device"):
        derive_simplified_ids(properties)
    with pytest.raises(ValueError, match="device"):
        identity_input_from_event(
            SIMPLIFIED, "e", properties, time_ms=T0_MS, seq=0, via_import=False
        )


def test_explain_follows_a_path_through_the_cluster() -> None:
    engine = new_engine(ORIGINAL)
    first = IdentityInput.identify(U1, D1, time_ms=T0_MS, seq=0)
    second = IdentityInput.identify(U1, D2, time_ms=T0_MS + 1, seq=1)
    engine.apply(first)
    engine.apply(second)

    explanation = engine.explain(D1, D2)

    assert (explanation.a, explanation.b, explanation.is_linked) == (D1, D2, True)
    assert explanation.path == (first, second)


def test_explain_gives_the_path_of_linked_ids_and_the_refusal_between_apart_ones() -> None:
    engine, first, second = o3_engine()

    linked = engine.explain(D1, U1)
    apart = engine.explain(U2, D1)

    assert (linked.is_linked, linked.path, linked.refused) == (True, (first,), ())
    assert (apart.is_linked, apart.path) == (False, ())
    assert [(o.input, o.code) for o in apart.refused] == [(second, ERR_ANON_ASSIGNED_ALREADY)]
    assert linked.reason
    assert apart.reason


def test_inputs_and_anchors_of_a_cluster_follow_event_time() -> None:
    engine = new_engine(ORIGINAL)
    late = IdentityInput.identify(U1, D2, time_ms=T0_MS + 2_000, seq=0)
    refused = IdentityInput.identify(U2, D1, time_ms=T0_MS + 1_000, seq=1)
    early = IdentityInput.identify(U1, D1, time_ms=T0_MS, seq=2)
    for inp in (late, refused, early):
        engine.apply(inp)

    assert [(o.input, o.code) for o in engine.inputs(D1)] == [
        (early, None),
        (refused, ERR_ANON_ASSIGNED_ALREADY),
        (late, None),
    ]
    assert engine.anchors(D2)[0] == Anchor(U1, early)
    assert [a.input for a in engine.anchors(D2)] == sorted(
        (a.input for a in engine.anchors(D2)), key=order_key
    )
    assert engine.anchors("nobody") == ()


def test_new_engine_knows_nothing() -> None:
    engine = new_engine(ORIGINAL)

    assert (engine.last_seq, len(engine), engine.refused()) == (-1, 0, [])
    assert engine.resolve("x") == "x"
    assert engine.members("x") == frozenset({"x"})


def test_same_time_input_with_lower_seq_goes_before_a_refusal_it_arrives_after() -> None:
    """Ties on event time go by seq even when inputs are applied out of seq order: identify(U3,
    D2) precedes the refused identify(U2, D2), which is then refused for D2's identified id."""
    engine = new_engine(ORIGINAL, max_cluster_size=3)
    engine.apply(IdentityInput.merge("x", D2, time_ms=T0_MS, seq=0))
    engine.apply(IdentityInput.merge(U2, "y", time_ms=T0_MS, seq=1))
    refused = IdentityInput.identify(U2, D2, time_ms=T0_MS + 1, seq=5)
    assert engine.apply(refused).code == ERR_MANY_IDS

    outcome = engine.apply(IdentityInput.identify("U3", D2, time_ms=T0_MS + 1, seq=3))

    assert outcome.is_applied
    assert engine.outcome(refused).code == ERR_ANON_ASSIGNED_ALREADY
    assert engine.members(D2) == frozenset({D2, "x", "U3"})
