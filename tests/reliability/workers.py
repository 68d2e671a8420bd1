"""Child processes for the reliability tests: readers that read through the services.

Run as a script (``python workers.py MODE JSON``): it imports the app once, then forks the
readers, so dozens of processes start in milliseconds instead of seconds each. Prints one JSON
line with what every child acknowledged (a read counts as acknowledged once ``submit`` returned).

Modes
-----
concurrent   every reader of ``names`` reads all its cases at once (a barrier starts them together)
same-reader  two processes read as the same reader; both submit the first case at the same moment
crash        fork one reader again and again and SIGKILL it at random moments (``kills`` times)
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import sys
import time
import traceback
from typing import Any

import support

from readerstudy.core.errors import ConflictError
from readerstudy.core.reading import ManualClock, ReadingState
from readerstudy.services.auth import sign_in
from readerstudy.services.context import open_context
from readerstudy.services.reading import ReadingService


def _service(db: str, name: str) -> tuple[Any, ReadingService, ManualClock]:
    ctx = open_context(db)
    clock = ManualClock()
    user = sign_in(ctx, support.STUDY, name, support.PIN, now=clock.now)
    return ctx, ReadingService(ctx, user, clock=clock.monotonic_ns, wall_clock=clock.now, prefetch=False), clock


def _read_one(svc: ReadingService, clock: ManualClock, acks: list[list[str]]) -> None:
    """Read the current case (both reads in a sequential arm); append (case, phase) per acknowledged read."""
    flow = svc.flow
    assert flow is not None
    cid = flow.current_case
    if flow.state == ReadingState.DISPLAYED:
        clock.advance(3.0)
        svc.submit(30 + len(acks) % 60, 0, 3)
        acks.append([cid, "unaided"])
    if flow.state == ReadingState.UNAIDED_LOCKED:
        svc.reveal_ai()
        clock.advance(1.5)
        svc.submit(55, 1, 4)
        acks.append([cid, "aided"])


def _concurrent_child(db: str, name: str, barrier: Any, out: Any) -> None:
    acks: list[list[str]] = []
    error = None
    try:
        ctx, svc, clock = _service(db, name)
        barrier.wait(timeout=120)
        flow = svc.open()
        while flow is not None and svc.start_case() is not None:
            svc.display()
            _read_one(svc, clock, acks)
        svc.close()
        ctx.close()
    except BaseException:  # report every crash to the parent, whatever it is
        error = traceback.format_exc()
    out.put({"name": name, "acks": acks, "error": error, "pid": os.getpid()})


def _same_reader_child(db: str, name: str, barrier: Any, out: Any) -> None:
    acks: list[list[str]] = []
    conflicts: list[str] = []
    error = None
    try:
        ctx, svc, clock = _service(db, name)
        flow = svc.open()
        svc.start_case()
        svc.display()
        barrier.wait(timeout=120)  # both windows show the same case; both submit now
        while flow is not None:
            try:
                _read_one(svc, clock, acks)
            except ConflictError as exc:
                conflicts.append(str(exc))
            flow = svc.open()  # the reading list, reopened: it resumes where the other left it
            if flow is None or svc.start_case() is None:
                break
            svc.display()
        svc.close()
        ctx.close()
    except BaseException:
        error = traceback.format_exc()
    out.put({"name": name, "acks": acks, "conflicts": conflicts, "error": error, "pid": os.getpid()})


def run_forked(target: Any, db: str, names: list[str]) -> list[dict[str, Any]]:
    fork = mp.get_context("fork")
    barrier, out = fork.Barrier(len(names)), fork.Queue()
    procs = [fork.Process(target=target, args=(db, n, barrier, out)) for n in names]
    for p in procs:
        p.start()
    results = [out.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        if p.exitcode != 0:
            results.append({"name": p.name, "acks": [], "error": f"exit code {p.exitcode}"})
    return results


def crash_child(db: str, name: str, emit: Any) -> None:
    """Read until done, emitting ``RESUME case state`` once and ``ACK case phase`` after each submit."""
    ctx, svc, clock = _service(db, name)
    flow = svc.open()
    first = True
    while flow is not None and svc.start_case() is not None:
        svc.display()
        if first:
            emit(f"RESUME {flow.current_case} {flow.state}")
            first = False
        flow_state = flow.state
        cid = flow.current_case
        if flow_state == ReadingState.DISPLAYED:
            clock.advance(3.0)
            svc.submit(37, 0, 3)
            emit(f"ACK {cid} unaided")
        if flow.state == ReadingState.UNAIDED_LOCKED:
            svc.reveal_ai()
            clock.advance(1.5)
            svc.submit(62, 1, 4)
            emit(f"ACK {cid} aided")
    emit("DONE")


def _parse(run: dict[str, Any], line: str) -> None:
    kind, _, rest = line.partition(" ")
    if kind == "RESUME" and run["resume"] is None:
        run["resume"] = rest.split()
    elif kind == "ACK":
        run["acks"].append(rest.split())
    elif kind == "DONE":
        run["done"] = True
    elif kind == "ERROR":
        run["error"] = rest


def _one_run(db: str, name: str, delay: float, early: bool, final: bool) -> dict[str, Any]:
    """Fork a reader; SIGKILL it ``delay`` s after start (``early``) or after its resume point is on screen."""
    import select
    import signal

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the reader: nothing of the parent's state but imported modules
        os.close(r)
        code = 0
        try:
            crash_child(db, name, lambda line: os.write(w, (line + "\n").encode()))
        except BaseException:
            os.write(w, ("ERROR " + traceback.format_exc().replace("\n", " | ") + "\n").encode())
            code = 1
        os._exit(code)
    os.close(w)
    run: dict[str, Any] = {"name": name, "resume": None, "acks": [], "killed": False, "done": False, "error": None}
    buf, deadline = b"", (time.perf_counter() + delay) if early else None
    while True:
        wait = 30.0 if final or deadline is None else max(0.0, deadline - time.perf_counter())
        ready, _, _ = select.select([r], [], [], wait)
        if not ready:
            if final or deadline is None:
                run["error"] = "no output for 30 s"
            os.kill(pid, signal.SIGKILL)
            run["killed"] = True
            break
        chunk = os.read(r, 65536)
        if not chunk:
            break
        *lines, buf = (buf + chunk).split(b"\n")
        for line in lines:
            _parse(run, line.decode())
            if run["resume"] is not None and deadline is None:
                deadline = time.perf_counter() + delay
    os.waitpid(pid, 0)
    while chunk := os.read(r, 65536):  # what the child wrote before it died did happen: keep it
        buf += chunk
    for line in buf.split(b"\n"):
        if line:
            _parse(run, line.decode())
    os.close(r)
    return run


def crash_loop(db: str, names: list[str], kills: int, seed: int, max_s: float) -> dict[str, Any]:
    """Fork readers and SIGKILL them at random moments ``kills`` times, then let the last one finish."""
    import random

    rng = random.Random(seed)
    runs: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    killed = 0
    for name in names:
        while True:
            final = killed >= kills or time.perf_counter() - t0 > max_s
            early = rng.random() < 0.15  # some kills during start-up (sign-in, resume), most while reading
            run = _one_run(db, name, rng.uniform(0.0, 0.25) if early else rng.uniform(0.0, 0.2), early, final)
            runs.append(run)
            killed += run["killed"]
            if run["done"] or run["error"] or final:
                break
        if killed >= kills or time.perf_counter() - t0 > max_s:
            break
    return {"runs": runs, "kills": killed, "wall_s": time.perf_counter() - t0}


def main() -> None:
    mode, args = sys.argv[1], json.loads(sys.argv[2])
    if "store" in args:
        os.environ["READERSTUDY_STORE"] = args["store"]
    t0 = time.perf_counter()
    if mode == "crash":
        out = crash_loop(args["db"], args["names"], args["kills"], args["seed"], args["max_s"])
        print(json.dumps(out))
        return
    target = _concurrent_child if mode == "concurrent" else _same_reader_child
    results = run_forked(target, args["db"], args["names"])
    print(json.dumps({"results": results, "wall_s": time.perf_counter() - t0}))


if __name__ == "__main__":
    main()
