"""Devices: the best one here, and a requested one checked."""

from __future__ import annotations

import torch

from featviz.errors import DeviceError


def best_device() -> torch.device:
    """The fastest device here: the current CUDA GPU, else Apple's MPS, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_device(device: torch.device | str | None) -> torch.device | None:
    """Check a requested device; ``"cuda"`` means the current GPU. None stays None.

    Raises:
        DeviceError: a device that is not a device name, or one this machine does not have.
    """
    if device is None:
        return None
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise DeviceError(
            f"device={device!r} is not a device; use 'cpu', 'cuda', 'cuda:1' or 'mps' (or leave "
            "it out to use the GPU when there is one)"
        ) from error
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(
                f"device={device!r} was asked for, but this machine has no usable CUDA GPU "
                f"(torch {torch.__version__}, torch.cuda.is_available() is False); use "
                "device='cpu', or leave device out to pick the best device available"
            )
        if resolved.index is None:
            return torch.device("cuda", torch.cuda.current_device())
        if resolved.index >= torch.cuda.device_count():
            raise DeviceError(
                f"device={device!r} was asked for, but this machine has "
                f"{torch.cuda.device_count()} CUDA GPU(s) (cuda:0..cuda:{torch.cuda.device_count() - 1})"
            )
    if resolved.type == "mps" and best_device().type != "mps":
        raise DeviceError(f"device={device!r} was asked for, but Apple MPS is not available here; use 'cpu'")
    return resolved


def free_memory(device: torch.device) -> int:
    """Bytes free for tensors on ``device``: the GPU's free memory, else the memory the operating
    system says is available (``MemAvailable``; 4 GiB where it cannot tell)."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 * 2**30


__all__ = ["best_device", "resolve_device", "free_memory"]
