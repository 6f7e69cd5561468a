"""JSON text for stored properties, shared by the backends."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson

from kindred.storage.errors import PermanentStorageError


def encode_properties(
    values: Sequence[dict[str, Any]], describe: Callable[[int], str]
) -> list[str]:
    """Each value as JSON text. When value i is not JSON, the error names it with `describe(i)`."""
    dumps = orjson.dumps
    try:
        return [dumps(value).decode() for value in values]
    except TypeError:
        for index, value in enumerate(values):
            try:
                dumps(value)
            except TypeError as exc:
                raise PermanentStorageError(
                    f"{describe(index)}: properties cannot be stored as JSON ({exc}); the layer "
                    "that built the batch must pass only JSON values"
                ) from exc
        raise
