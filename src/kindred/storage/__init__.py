"""Storage: a Protocol per concern (`base.py`) and a backend per database."""
