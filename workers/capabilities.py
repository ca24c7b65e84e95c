"""What a worker can run: ``SPT_API_WORKER_CAPABILITIES``, else detected by importing onnxruntime.

``cpu`` always; ``onnx`` when onnxruntime imports; ``gpu`` and ``cuda`` only when onnxruntime's CUDA
execution provider is present *and* a GPU is visible. Imported by worker processes only (the
embedded pool detects in its spawned processes): the API process never imports onnxruntime.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess

from spt_api.config import Settings

__all__ = ["capabilities_of", "capabilities_of_text", "detect_capabilities", "gpu_visible"]

#: Seconds nvidia-smi may take to list the GPUs before none is assumed.
NVIDIA_SMI_TIMEOUT = 10


def gpu_visible() -> bool:
    """Whether this process can see an NVIDIA GPU (a device node, or nvidia-smi listing one)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1", "none", "NoDevFiles"):
        return False
    if glob.glob("/dev/nvidia[0-9]*"):
        return True
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return False
    try:
        listed = subprocess.run([smi, "-L"], capture_output=True, timeout=NVIDIA_SMI_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return listed.returncode == 0 and b"GPU" in listed.stdout


def detect_capabilities() -> frozenset[str]:
    """What this process can run, found by importing onnxruntime (only where a worker runs)."""
    found = {"cpu"}
    try:
        import onnxruntime
    except Exception:  # not installed, or broken: this worker serves no ONNX model
        return frozenset(found)
    found.add("onnx")
    if "CUDAExecutionProvider" in onnxruntime.get_available_providers() and gpu_visible():
        found |= {"gpu", "cuda"}
    return frozenset(found)


def capabilities_of_text(configured: str) -> frozenset[str]:
    """The capabilities in ``configured`` (comma-separated), or the detected ones when it is empty."""
    named = {c.strip().lower() for c in configured.split(",") if c.strip()}
    return frozenset(named) if named else detect_capabilities()


def capabilities_of(settings: Settings) -> frozenset[str]:
    """``SPT_API_WORKER_CAPABILITIES`` when set, else :func:`detect_capabilities`."""
    return capabilities_of_text(settings.worker_capabilities)


