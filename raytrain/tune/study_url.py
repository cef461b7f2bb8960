"""`tune.optuna_storage` URLs: how they are shown, and the database driver they name."""

from __future__ import annotations

import importlib.util
import re


def shown(url: str) -> str:
    """The URL with its password masked, for the terminal, summary.json and the dry run (a
    password belongs in PGPASSWORD, ~/.pgpass or the MySQL option file, not in the YAML)."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", url)


def with_driver(url: str) -> str:
    """SQLAlchemy 2.1 reads `postgresql://` as psycopg 3; with only psycopg2 installed (the
    `psycopg2-binary` wheel raytrain depends on) name that driver instead."""
    plain = "postgresql://"
    if (
        url.startswith(plain)
        and importlib.util.find_spec("psycopg") is None
        and importlib.util.find_spec("psycopg2") is not None
    ):
        return "postgresql+psycopg2://" + url[len(plain) :]
    return url
