"""Settings, declared once: name, type, default and help; read from flags and KINDRED_* variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from kindred.errors import ConfigError

ENV_PREFIX = "KINDRED_"


@dataclass(frozen=True, slots=True)
class Settings:
    """How one kindred server runs. Each field is also the variable KINDRED_<FIELD NAME>."""

    data_dir: Path = Path("kindred-data")
    host: str = "127.0.0.1"
    port: int = 8000
    max_cluster_size: int = 500
    flush_interval_ms: float = 2.0
    rate_limit_events_per_second: int = 0
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Defaults, then KINDRED_* variables, then explicit overrides (None means not given)."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for spec in fields(cls):
            variable = ENV_PREFIX + spec.name.upper()
            if variable in environ:
                values[spec.name] = _convert(variable, environ[variable], spec.default)
            if overrides.get(spec.name) is not None:
                values[spec.name] = overrides[spec.name]
        settings = cls(**values)  # type: ignore[arg-type]
        settings.validate()
        return settings

    def validate(self) -> None:
        if not 0 < self.port < 65536:
            raise ConfigError(f"KINDRED_PORT: {self.port} is not a TCP port; use 1 to 65535")
        if self.max_cluster_size < 2:
            raise ConfigError(
                f"KINDRED_MAX_CLUSTER_SIZE: {self.max_cluster_size} is too small; Mixpanel's is 500"
            )
        if self.flush_interval_ms < 0:
            raise ConfigError("KINDRED_FLUSH_INTERVAL_MS must be 0 or more milliseconds")

    @property
    def metadata_path(self) -> Path:
        return self.data_dir / "meta.sqlite"

    @property
    def events_path(self) -> Path:
        return self.data_dir / "kindred.duckdb"


def _convert(variable: str, raw: str, default: object) -> object:
    try:
        if isinstance(default, bool):
            return raw.lower() in ("1", "true", "yes", "on")
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError:
        kind = type(default).__name__
        raise ConfigError(f"{variable}: {raw!r} is not a valid {kind}") from None
    if isinstance(default, Path):
        return Path(raw)
    return raw
