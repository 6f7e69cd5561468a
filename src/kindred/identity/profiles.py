"""Which stored profile a person shows, and which one an update addressed to an id lands on.

Profiles are stored per raw id and never merged (SPEC-DECISIONS.md, "Profiles"). A cluster shows
one of them, its visible profile: the canonical id's if it has one, else the member profile
updated last. Simplified is the exception: a `$device:` profile is not carried over when the
device links to a user, so there only the user's own profile is ever visible.
"""

from __future__ import annotations

from collections.abc import Mapping

from kindred.identity.engine import IdentityEngine
from kindred.identity.model import IdentityMode


def visible_profile(
    engine: IdentityEngine, distinct_id: str, profiles: Mapping[str, int]
) -> str | None:
    """The raw id whose profile the person of `distinct_id` shows, or None if none exists.

    `profiles` maps every raw id that has a profile to the ms time of its last update.
    """
    canonical = engine.resolve(distinct_id)
    if canonical in profiles:
        return canonical
    if engine.mode is IdentityMode.SIMPLIFIED:
        return None
    held = [member for member in engine.members(distinct_id) if member in profiles]
    if not held:
        return None
    # Ties on time go to the greater id, so that the choice never depends on set order.
    return max(held, key=lambda member: (profiles[member], member))


def profile_target(
    engine: IdentityEngine,
    distinct_id: str,
    *,
    ignore_alias: bool,
    profiles: Mapping[str, int],
) -> str:
    """The raw id whose profile an update addressed to `distinct_id` changes.

    `$ignore_alias: true` addresses the literal id. Otherwise the update lands on the visible
    profile, and creates the canonical id's profile when the person has none yet.
    """
    if ignore_alias:
        return distinct_id
    visible = visible_profile(engine, distinct_id, profiles)
    return engine.resolve(distinct_id) if visible is None else visible
