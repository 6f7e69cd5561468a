"""Integer keys for distinct ids, so that reports group and join on 8 bytes instead of strings.

A key is the first 8 bytes of the id's BLAKE2b digest, read as a signed 64-bit integer: the same
id gets the same key in every process, every backend and every version of kindred, with no
dictionary to keep in memory or on disk. The empty id (events sent without a user) has the key 0,
which reports leave out of per-user counts.

Two ids could share a key. With n ids the chance of any collision is about n² / 2⁶⁵: one in
370,000 for 10M ids in one project. A collision would count the two ids' people as one in reports;
raw export, profiles and identity never use keys.
"""

from __future__ import annotations

from hashlib import blake2b

NO_USER_KEY = 0


def id_key(distinct_id: str) -> int:
    """The key of `distinct_id`; 0 for the empty id."""
    if not distinct_id:
        return NO_USER_KEY
    digest = blake2b(distinct_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)
