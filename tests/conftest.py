"""Shared fixtures: a migrated database with its store, the demo study, a real PostgreSQL server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from readerstudy.services.auth import local_session

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


LOCAL = local_session("test")  # the CLI's local coordinator session (reaches every study)


@pytest.fixture
def ctx(tmp_path: Path):  # noqa: ANN201
    from readerstudy.services.context import open_context

    c = open_context(tmp_path / "study.sqlite")
    yield c
    c.close()


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both demo studies without their reading protocol (tests apply their own) and without the
    shipped model's predictions (tests add their own models), built once per test session; use
    ``demo_ctx`` for a writable copy. ``fresh_demo_db`` is the demo exactly as ``readerstudy demo``
    builds it."""
    from readerstudy.services.context import open_context
    from readerstudy.services.demo import build_demo

    path = tmp_path_factory.mktemp("demo") / "demo.sqlite"
    c = open_context(path)
    build_demo(c, LOCAL, with_protocol=False, with_model=False)
    c.close()
    return path


@pytest.fixture(scope="session")
def fresh_demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo as ``readerstudy demo`` builds it (protocol, shipped model's predictions), once per
    session; read-only: copy it (``copy_db``) before writing."""
    from readerstudy.services.context import open_context
    from readerstudy.services.demo import build_demo

    path = tmp_path_factory.mktemp("fresh-demo") / "demo.sqlite"
    c = open_context(path)
    build_demo(c, LOCAL)
    c.close()
    return path


@pytest.fixture(scope="session")
def copy_db():  # noqa: ANN201
    """``copy_db(src, folder) -> Path``: a private copy of a database file and its store."""
    import sqlite3

    from readerstudy.paths import store_dir_for

    def copy(src: Path, folder: Path) -> Path:
        dest = folder / src.name
        a, b = sqlite3.connect(src), sqlite3.connect(dest)
        a.backup(b)
        a.close()
        b.close()
        shutil.copytree(store_dir_for(src), store_dir_for(dest))
        return dest

    return copy


@pytest.fixture(scope="session")
def copy_demo(demo_db: Path):  # noqa: ANN201
    """``copy_demo(folder) -> Path``: a private copy of the demo database (and its store) in ``folder``."""
    import sqlite3

    from readerstudy.paths import store_dir_for

    def copy(folder: Path) -> Path:
        dest = folder / "demo.sqlite"
        src, dst = sqlite3.connect(demo_db), sqlite3.connect(dest)
        src.backup(dst)
        src.close()
        dst.close()
        shutil.copytree(store_dir_for(demo_db), store_dir_for(dest))
        return dest

    return copy


@pytest.fixture(scope="session")
def sim_db(copy_demo, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The demo study read by seeded simulated readers (tests/reports/simreads.py), built once per
    session; read-only for tests: copy it with ``sim_copy``. Holds the corrected read's ids."""
    import sys

    from readerstudy.services.context import open_context

    sys.path.insert(0, str(Path(__file__).resolve().parent / "reports"))
    from simreads import simulate_demo

    root = tmp_path_factory.mktemp("simdemo")
    path = copy_demo(root)
    ctx = open_context(path)
    info = simulate_demo(ctx, seed=11)
    ctx.close()
    return {"path": path, **info}


@pytest.fixture(scope="session")
def sim_copy(sim_db):  # noqa: ANN201
    """``sim_copy(folder) -> Path``: a private, writable copy of the simulated demo database and its store."""
    import sqlite3

    from readerstudy.paths import store_dir_for

    def copy(folder: Path) -> Path:
        dest = folder / "sim.sqlite"
        src, dst = sqlite3.connect(sim_db["path"]), sqlite3.connect(dest)
        src.backup(dst)
        src.close()
        dst.close()
        shutil.copytree(store_dir_for(sim_db["path"]), store_dir_for(dest))
        return dest

    return copy


@pytest.fixture(scope="session")
def sim_data(sim_db):  # noqa: ANN201
    """The report input of the simulated demo (3 readers x 3 arms x 79 cases + the model)."""
    from readerstudy.services.context import open_context
    from readerstudy.services.demo import BUSI_STUDY
    from readerstudy.services.report_data import collect_report_data

    ctx = open_context(sim_db["path"])
    try:
        return collect_report_data(ctx, LOCAL, BUSI_STUDY)
    finally:
        ctx.close()


@pytest.fixture
def demo_ctx(copy_demo, tmp_path: Path):  # noqa: ANN001, ANN201
    """A private, writable copy of the demo database and its store."""
    from readerstudy.services.context import open_context

    c = open_context(copy_demo(tmp_path))
    yield c
    c.close()


def _pg_bin() -> Path | None:
    for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (d / "initdb").exists():
            return d
    return None


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """Start a throw-away PostgreSQL server (Debian's binaries) on a free port; yield its URL.

    ``.ci/system-deps.sh`` installs the server. Without it these tests fail (not skip) in CI,
    because a silently skipped back-end test would hide a broken PostgreSQL path.
    """
    bindir = _pg_bin()
    if bindir is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL binaries missing: .ci/system-deps.sh should have installed 'postgresql'")
        pytest.skip("PostgreSQL server binaries not installed (run .ci/system-deps.sh)")
    data = Path(tempfile.mkdtemp(prefix="rs-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(data, "postgres", "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run([*run_as, str(bindir / "initdb"), "-D", str(data / "db"), "-U", "rs", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True)
    subprocess.run([*run_as, str(bindir / "pg_ctl"), "-D", str(data / "db"), "-w", "-l", str(data / "log"),
                    "-o", f"-p {port} -k {data} -h 127.0.0.1", "start"], check=True, capture_output=True)
    try:
        url = f"postgresql+psycopg://rs@127.0.0.1:{port}/postgres"
        deadline = time.time() + 20
        import sqlalchemy as sa

        while True:
            try:
                sa.create_engine(url).connect().close()
                break
            except Exception:
                if time.time() > deadline:
                    raise
                time.sleep(0.3)
        yield url
    finally:
        subprocess.run([*run_as, str(bindir / "pg_ctl"), "-D", str(data / "db"), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(data, ignore_errors=True)
