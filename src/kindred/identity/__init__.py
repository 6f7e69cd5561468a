"""Identity resolution under Mixpanel's three identity modes, as a pure library.

Nothing here reads storage, the network or the wall clock: inputs are plain values, the state is a
function of them, and `snapshot()` / `restore_engine()` hand it to whatever store keeps it.
"""

from __future__ import annotations

from kindred.identity.engine import IdentityEngine
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
    Withdrawal,
)
from kindred.identity.rules import new_engine, restore_engine

__all__ = [
    "ERR_ALIAS_ALREADY_EXISTS",
    "ERR_ALIAS_CYCLE",
    "ERR_ANON_ASSIGNED_ALREADY",
    "ERR_ANON_NON_GUID",
    "ERR_MANY_IDS",
    "ERR_SAME_IDS",
    "Anchor",
    "Explanation",
    "IdentityEngine",
    "IdentityInput",
    "IdentityMode",
    "InputKind",
    "Outcome",
    "Withdrawal",
    "new_engine",
    "restore_engine",
]
