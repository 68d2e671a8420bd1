"""Where things are: bundled resources, migrations, and the user's data.

The one module that resolves paths, so the same code works from a clone and from an
installed wheel (``resources`` and ``migrations`` are packages of their own).
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

APP_NAME = "readerstudy"
DB_ENV = "READERSTUDY_DB"


def resources_dir() -> Path:
    """Directory of the bundled ``resources`` package (icons, styles, demo data, templates)."""
    return Path(str(files("resources")))


def migrations_dir() -> Path:
    """Directory of the Alembic ``migrations`` package (``env.py`` and ``versions/``)."""
    return Path(str(files("migrations")))


def demo_dir() -> Path:
    """The bundled BUSI demo images (``resources/demo/busi``)."""
    return resources_dir() / "demo" / "busi"


def shipped_model_dir() -> Path:
    """The shipped DiffKD student trained on busi-train (``resources/models/diffkd-student-busi``):
    ``student/`` (the ``save_pretrained`` checkpoint), ``provenance.json`` and ``PROVENANCE.md``."""
    return resources_dir() / "models" / "diffkd-student-busi"


def user_data_dir() -> Path:
    """Per-user data directory (platformdirs), created on first use."""
    from platformdirs import user_data_dir as _udd

    path = Path(_udd(APP_NAME, appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_db_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The database file to use: ``explicit`` (``--db``), then ``$READERSTUDY_DB``, then platformdirs."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get(DB_ENV)
    if env:
        return Path(env).expanduser()
    return user_data_dir() / "readerstudy.sqlite"


def store_dir_for(db_path: Path) -> Path:
    """Where the pixel store of a database lives: next to the database file (``<db>.store/``)."""
    return db_path.with_name(db_path.name + ".store")
