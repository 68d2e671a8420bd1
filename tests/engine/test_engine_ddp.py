"""The training functions run unchanged under torchrun (2 CPU processes, gloo)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]


def test_torchrun_two_ranks_end_with_identical_weights(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(Path(__file__).with_name("ddp_worker.py")), str(tmp_path)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=False)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=False)
    assert r0["world"] == r1["world"] == 2
    for key in ("clf", "unet"):
        for name, a in r0[key].items():
            torch.testing.assert_close(a, r1[key][name], msg=f"{key}.{name} differs between ranks")
    # the weights did change from the shared initialisation, and only rank 0 wrote checkpoints
    torch.manual_seed(0)
    from engine.models import ConvClassifier, student_config

    init = ConvClassifier(**student_config(32)).state_dict()
    assert any(not torch.equal(init[k], r0["clf"][k]) for k in init)
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["ldm-last.pt", "teacher-last.pt"]
