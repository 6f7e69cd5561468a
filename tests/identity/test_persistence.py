"""The identity log seam: a project's engine is its newest snapshot plus the entries after it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pytest

from kindred.identity import (
    IdentityEngine,
    IdentityInput,
    IdentityMode,
    Withdrawal,
    new_engine,
)
from kindred.identity.persistence import InMemoryIdentityLog, checkpoint, load_engine

T0_MS = 1_700_000_000_000
CAP = 3
D1, D2, D3, D4 = (f"00000000-0000-4000-8000-00000000000{n}" for n in range(1, 5))

Entry = IdentityInput | Withdrawal


class CountingIdentityLog(InMemoryIdentityLog):
    """Remembers every entry that `entries_since` handed out, and the seqs it was asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.handed_out: list[Entry] = []
        self.asked: list[int] = []

    def entries_since(self, seq: int) -> Iterable[Entry]:
        entries = list(super().entries_since(seq))
        self.asked.append(seq)
        self.handed_out.extend(entries)
        return entries


def original_entries() -> list[Entry]:
    """Original-mode history with a late input, a refusal, a cap refusal and two withdrawals."""
    at = [T0_MS + 1_000 * k for k in range(10)]
    late = IdentityInput.identify("U2", D1, time_ms=at[1], seq=1)
    alias = IdentityInput.create_alias("U2", "a@x.com", time_ms=at[3], seq=3)
    return [
        IdentityInput.identify("U1", D1, time_ms=at[2], seq=0),
        late,  # takes D1 from U1
        IdentityInput.identify("U1", D2, time_ms=at[4], seq=2),
        alias,
        IdentityInput.create_alias("U3", "a@x.com", time_ms=at[5], seq=4),  # errAliasAlreadyExists
        Withdrawal(late, seq=5),  # D1 back to U1
        IdentityInput.merge("U1", "U2", time_ms=at[6], seq=6),  # errManyIDs at cap 3
        IdentityInput.identify("U3", D3, time_ms=at[7], seq=7),
        Withdrawal(alias, seq=8),  # U3's alias now applies
        IdentityInput.identify("U3", D4, time_ms=at[0], seq=9),  # late: pushes D3 over the cap
        IdentityInput.merge("cookie", "U3", time_ms=at[8], seq=10),  # errManyIDs
    ]


def apply_entry(engine: IdentityEngine, entry: Entry) -> None:
    if isinstance(entry, Withdrawal):
        engine.withdraw(entry.target, seq=entry.seq)
    else:
        engine.apply(entry)


def engine_from(entries: Iterable[Entry]) -> IdentityEngine:
    engine = new_engine(IdentityMode.ORIGINAL, max_cluster_size=CAP)
    for entry in entries:
        apply_entry(engine, entry)
    return engine


def observed(
    engine: IdentityEngine, entries: Sequence[Entry], ids: Iterable[str] = ()
) -> dict[str, object]:
    """What the engine answers about `entries` and their ids (plus `ids`)."""
    inputs = [e for e in entries if isinstance(e, IdentityInput)]
    withdrawn = {e.target for e in entries if isinstance(e, Withdrawal)}
    ids = sorted({*ids, *(i for inp in inputs for i in inp.ids)})
    return {
        "mode": engine.mode,
        "last_seq": engine.last_seq,
        "known": len(engine),
        "resolve": {i: engine.resolve(i) for i in ids},
        "members": {i: engine.members(i) for i in ids},
        "anchors": {i: engine.anchors(i) for i in ids},
        "inputs": {i: engine.inputs(i) for i in ids},
        "outcomes": [engine.outcome(i) for i in inputs if i not in withdrawn],
        "refused": engine.refused(),
    }


@pytest.mark.parametrize("at", [pytest.param(k, id=f"checkpoint-after-{k}") for k in range(12)])
def test_loaded_engine_equals_the_engine_that_wrote_the_log(at: int) -> None:
    entries = original_entries()
    log = InMemoryIdentityLog()
    engine = new_engine(IdentityMode.ORIGINAL, max_cluster_size=CAP)
    for k, entry in enumerate(entries):
        if k == at:
            checkpoint(engine, log)
        log.append(entry)
        apply_entry(engine, entry)
    if at == len(entries):
        checkpoint(engine, log)

    loaded = load_engine(log, IdentityMode.ORIGINAL, max_cluster_size=CAP)

    assert observed(loaded, entries) == observed(engine, entries)
    assert observed(loaded, entries) == observed(engine_from(entries), entries)


def test_history_makes_a_difference() -> None:
    """Guards the test above: the scenario's entries do change the state as they go."""
    entries = original_entries()

    ids = {i for e in entries if isinstance(e, IdentityInput) for i in e.ids}

    states = [observed(engine_from(entries[:k]), entries[:k], ids) for k in range(len(entries) + 1)]

    assert all(a != b for a, b in zip(states, states[1:], strict=False))
    assert engine_from(entries).refused()


def test_loading_without_a_snapshot_replays_every_entry() -> None:
    entries = original_entries()
    log = CountingIdentityLog()
    for entry in entries:
        log.append(entry)

    loaded = load_engine(log, IdentityMode.ORIGINAL, max_cluster_size=CAP)

    assert log.handed_out == entries
    assert observed(loaded, entries) == observed(engine_from(entries), entries)


def test_loading_a_snapshot_replays_only_the_tail() -> None:
    entries = original_entries()
    log = CountingIdentityLog()
    engine = new_engine(IdentityMode.ORIGINAL, max_cluster_size=CAP)
    for entry in entries[:6]:
        log.append(entry)
        apply_entry(engine, entry)
    checkpoint(engine, log)
    for entry in entries[6:]:
        log.append(entry)

    loaded = load_engine(log, IdentityMode.ORIGINAL, max_cluster_size=CAP)

    assert log.asked == [entries[5].seq]
    assert log.handed_out == entries[6:]
    assert observed(loaded, entries) == observed(engine_from(entries), entries)


def test_tail_can_withdraw_an_input_held_in_the_snapshot() -> None:
    entries = original_entries()
    log = CountingIdentityLog()
    engine = engine_from(entries[:5])
    for entry in entries[:5]:
        log.append(entry)
    checkpoint(engine, log)
    log.append(entries[5])  # withdraws the late identify of D1

    loaded = load_engine(log, IdentityMode.ORIGINAL, max_cluster_size=CAP)

    assert log.handed_out == [entries[5]]
    assert observed(loaded, entries[:6]) == observed(engine_from(entries[:6]), entries[:6])
    assert loaded.resolve(D2) == "U1"
    assert loaded.members(D1) == frozenset({D1, D2, "U1"})
    assert loaded.members("U2") == frozenset({"U2", "a@x.com"})


def test_loaded_engine_does_not_depend_on_whether_a_snapshot_exists() -> None:
    """A server whose cap changed must not get a different state just because a snapshot was
    taken under the old cap: identity state is a function of the inputs (and the configuration)."""
    entries = original_entries()
    log = InMemoryIdentityLog()
    old = new_engine(IdentityMode.ORIGINAL, max_cluster_size=500)
    for entry in entries[:4]:
        log.append(entry)
        apply_entry(old, entry)
    checkpoint(old, log)
    for entry in entries[4:]:
        log.append(entry)

    loaded = load_engine(log, IdentityMode.ORIGINAL, max_cluster_size=CAP)

    assert observed(loaded, entries) == observed(engine_from(entries), entries)


@pytest.mark.parametrize(
    ("mode", "entries"),
    [
        pytest.param(
            IdentityMode.SIMPLIFIED,
            [
                IdentityInput.link("U1", "d1", time_ms=T0_MS + 2, seq=0),
                IdentityInput.link("U2", "d1", time_ms=T0_MS + 1, seq=1),
                IdentityInput.link("U1", "d2", time_ms=T0_MS + 3, seq=2),
                IdentityInput.link("U2", "d2", time_ms=T0_MS + 4, seq=3),
            ],
            id="simplified",
        ),
        pytest.param(
            IdentityMode.LEGACY,
            [
                IdentityInput.create_alias("A", "N", time_ms=T0_MS + 2, seq=0),
                IdentityInput.create_alias("N", "M", time_ms=T0_MS + 1, seq=1),
                IdentityInput.create_alias("B", "N", time_ms=T0_MS, seq=2),
                IdentityInput.create_alias("M", "A", time_ms=T0_MS, seq=3),
            ],
            id="legacy",
        ),
    ],
)
def test_snapshot_plus_tail_restores_every_mode(
    mode: IdentityMode, entries: list[IdentityInput]
) -> None:
    log = CountingIdentityLog()
    engine = new_engine(mode)
    for k, entry in enumerate(entries):
        if k == 2:
            checkpoint(engine, log)
        log.append(entry)
        engine.apply(entry)

    loaded = load_engine(log, mode)

    assert log.handed_out == entries[2:]
    assert observed(loaded, entries) == observed(engine, entries)
