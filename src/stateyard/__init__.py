"""Stateyard: metadata-defined entities served as a permissioned, audited HTTP API."""

__version__ = "0.1.0"
