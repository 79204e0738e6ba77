"""The command line's HTTP client to a running server (shared by every CLI command group)."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import httpx

DEFAULT_URL = "http://127.0.0.1:8080"


def client(args: argparse.Namespace) -> httpx.Client:
    """A client for ``args.url`` with ``args.key`` (else $OPSCONDUCTOR_API_KEY, else data/admin.key)."""
    key = args.key or os.environ.get("OPSCONDUCTOR_API_KEY")
    if not key:
        key_file = Path(os.environ.get("OPSCONDUCTOR_DATA_DIR", "data")) / "admin.key"
        if key_file.exists():
            key = key_file.read_text().strip()
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a request line per call is noise on a terminal
    return httpx.Client(base_url=args.url, headers=headers, timeout=60.0)
