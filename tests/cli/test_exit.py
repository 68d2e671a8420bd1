"""``readerstudy`` (:func:`readerstudy.cli.app.run`) leaves without Python's teardown only when that loses nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import atexit, sys, threading, time
from pathlib import Path
from readerstudy.cli import app
marker = Path(sys.argv[1])
atexit.register(lambda: marker.write_text("exit handlers ran"))
if sys.argv[2] == "thread":  # a non-daemon thread still working when the command returns
    late = Path(sys.argv[1] + ".thread")
    threading.Thread(target=lambda: (time.sleep(0.5), late.write_text("done"))).start()
sys.stdout.write("unflushed line")  # no newline: still in the buffer when main() returns
sys.argv = ["readerstudy", "--version"]
app.run()
"""


def _run(tmp_path: Path, mode: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "marker"), mode], capture_output=True,
                          text=True, timeout=120)


def test_fast_exit_runs_exit_handlers_and_flushes_output(tmp_path: Path) -> None:
    done = _run(tmp_path, "plain")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("unflushed linereaderstudy ")
    assert (tmp_path / "marker").read_text() == "exit handlers ran"


def test_a_running_thread_is_waited_for(tmp_path: Path) -> None:
    done = _run(tmp_path, "thread")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "marker.thread").read_text() == "done"
    assert (tmp_path / "marker").read_text() == "exit handlers ran"


def test_the_exit_code_is_kept(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "readerstudy", "report", "--db", str(tmp_path / "none.sqlite"),
                           "--study", "x", "--out", str(tmp_path / "o")], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "readerstudy: error" in done.stderr
