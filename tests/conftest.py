"""Shared fixtures: a tiny hand-written CNN that keeps unit tests at CPU-seconds."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn


class TinyCNN(nn.Module):
    """conv1 → relu1 → conv2 → relu2 → conv3 → relu3 → pool → fc (10 classes), 32 px input."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.bn2 = nn.BatchNorm2d(16)
        self.relu2 = nn.ReLU()
        self.conv3 = nn.Conv2d(16, 16, 3, padding=1)
        self.relu3 = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu1(self.conv1(x))
        x = self.relu2(self.bn2(self.conv2(x)))
        x = self.relu3(self.conv3(x))
        return self.fc(self.pool(x).flatten(1))


@pytest.fixture
def tiny() -> TinyCNN:
    torch.manual_seed(0)  # fixture weights only; featviz itself never reads the global seed
    model = TinyCNN()
    with torch.no_grad():  # give BatchNorm non-trivial statistics
        model.bn2.running_mean.uniform_(-0.1, 0.1)
        model.bn2.running_var.uniform_(0.5, 1.5)
    return model


def snapshot(model: nn.Module) -> dict[str, object]:
    """Everything render promises to leave unchanged."""
    return {
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "training": {n: m.training for n, m in model.named_modules()},
        "requires_grad": {n: p.requires_grad for n, p in model.named_parameters()},
        "grads": {n: p.grad for n, p in model.named_parameters()},
        "hooks": {
            n: (len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks))
            for n, m in model.named_modules()
        },
    }


def assert_untouched(model: nn.Module, before: dict[str, object]) -> None:
    after = snapshot(model)
    assert after["training"] == before["training"]
    assert after["requires_grad"] == before["requires_grad"]
    assert after["hooks"] == before["hooks"]
    assert all(g is None for g in after["grads"].values())
    for key, value in before["state"].items():
        assert torch.equal(after["state"][key], value), key


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory) -> None:
    """featviz's measurement cache (CPU batch sizes) goes to a folder of this test session."""
    import os

    os.environ["FEATVIZ_CACHE_DIR"] = str(tmp_path_factory.mktemp("featviz_cache"))


def featviz_command(args: list[str], processes: int = 1) -> subprocess.CompletedProcess[str]:
    """``python -m featviz ARGS``, or under ``torchrun`` with ``processes`` ranks (gloo, CPU), with
    the tests' models importable and one thread per rank."""
    tests = Path(__file__).resolve().parent
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tests), str(tests.parent)]),
        "OMP_NUM_THREADS": "1",
    }
    launcher = [sys.executable]
    if processes > 1:
        torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
        launcher = [torchrun, "--standalone", "--nproc-per-node", str(processes)]
    return subprocess.run(
        [*launcher, "-m", "featviz", *args], env=env, capture_output=True, text=True, timeout=300
    )


def files_written(folder: Path) -> list[str]:
    """The files under ``folder`` (relative paths, sorted), the per-rank lock files aside."""
    return sorted(
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and not p.name.startswith(".lock.")
    )
