"""Ingest: validates the five input topics and forwards them as signals or dead letters."""

from services.ingest.service import run_ingest

__all__ = ["run_ingest"]
