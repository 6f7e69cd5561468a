"""Pure ingestion: wire payloads in, validated and normalised records (or per-record errors) out.

Nothing here does I/O or reads the clock: the caller passes `now_ms`.
"""
