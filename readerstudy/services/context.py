"""The application context: one database (upgraded to head) and its pixel store."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from readerstudy.paths import default_db_path, store_dir_for, user_data_dir
from readerstudy.storage.db import make_engine, sqlite_path, to_url
from readerstudy.storage.migrate import upgrade
from readerstudy.storage.store import PixelStore
from readerstudy.storage.uow import UnitOfWork

STORE_ENV = "READERSTUDY_STORE"


@dataclass
class AppContext:
    url: str
    engine: Engine
    store: PixelStore
    backup: Path | None = None

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.engine)

    def close(self) -> None:
        self.engine.dispose()


def open_context(db: str | os.PathLike[str] | None = None, *, migrate: bool = True) -> AppContext:
    """Open (and by default back up + upgrade to head) the database given by ``--db``/env/default."""
    target = str(db) if db and "://" in str(db) else default_db_path(db)
    url = to_url(target)
    backup = upgrade(url) if migrate else None
    path = sqlite_path(url)
    if os.environ.get(STORE_ENV):
        store_root = Path(os.environ[STORE_ENV])
    elif path is not None:
        store_root = store_dir_for(path)
    else:
        store_root = user_data_dir() / "store"
    store_root.mkdir(parents=True, exist_ok=True)
    return AppContext(url=url, engine=make_engine(url), store=PixelStore(store_root), backup=backup)
