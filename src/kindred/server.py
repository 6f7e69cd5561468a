"""Putting a server together from settings: stores, pipeline, services, the default project."""

from __future__ import annotations

import secrets

from kindred.api.ratelimit import RateLimiter
from kindred.api.services import Services
from kindred.identity import IdentityMode
from kindred.pipeline import Pipeline
from kindred.settings import Settings
from kindred.storage.base import MetadataStore, Project
from kindred.storage.duckdb_store import DuckDBEventStore
from kindred.storage.sqlite_meta import SQLiteMetadataStore

DEFAULT_PROJECT = "default"


def open_metadata(settings: Settings) -> MetadataStore:
    """The metadata store of a data dir; safe to open beside a running server."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SQLiteMetadataStore(settings.metadata_path)


def build_services(settings: Settings) -> Services:
    """Everything a server needs, opened on `settings.data_dir`. The pipeline is not started."""
    meta = open_metadata(settings)
    store = DuckDBEventStore(settings.events_path)
    pipeline = Pipeline(
        store,
        meta,
        max_cluster_size=settings.max_cluster_size,
        flush_interval_seconds=settings.flush_interval_ms / 1000,
    )
    limiter = RateLimiter(settings.rate_limit_events_per_second)
    return Services(meta=meta, store=store, pipeline=pipeline, rate_limiter=limiter)


def create_project(
    meta: MetadataStore,
    name: str,
    *,
    token: str | None = None,
    secret: str | None = None,
    identity_mode: IdentityMode = IdentityMode.ORIGINAL,
) -> Project:
    """A new project; a token and a secret are generated when not given."""
    return meta.create_project(
        name,
        token=token or secrets.token_hex(16),
        secret=secret or secrets.token_hex(16),
        identity_mode=identity_mode,
    )


def ensure_default_project(meta: MetadataStore) -> Project | None:
    """Create the `default` project on an empty data dir; return it, or None if there were projects."""
    if meta.projects():
        return None
    return create_project(meta, DEFAULT_PROJECT)
