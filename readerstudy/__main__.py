"""``python -m readerstudy`` is the same as the ``readerstudy`` command."""

from __future__ import annotations

from readerstudy.cli.app import run

run()
