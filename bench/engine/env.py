"""The machine a run happens on: which device, which libraries, which bench commit.

The runner records these in manifest.json and config.json, and `bench verify` compares
them with the recorded ones to say where bitwise equality cannot be expected.
"""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path

import numpy as np
import torch

from bench import __version__
from bench.config import CompileMode, Device, Precision
from bench.errors import BenchError


def resolve_device(name: str) -> str:
    """"auto" -> "cuda" or "cpu"; "cuda" without a GPU is an error, never a silent fallback."""
    name = Device.parse(name)
    if name == Device.AUTO:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == Device.CUDA and not torch.cuda.is_available():
        raise BenchError("--device cuda was asked for but no CUDA device is available; use --device cpu or auto")
    return name


def resolve_precision(name: str | None, device: str) -> str:
    """The autocast precision: bf16 on CUDA and fp32 on the CPU unless `name` says otherwise."""
    if name is None:
        return "bf16" if device == "cuda" else "fp32"
    return Precision.parse(name)


def resolve_compile(mode: str) -> str:
    return CompileMode.parse(mode)


def versions(device: str = "cpu") -> dict:
    """The libraries that computed the results; the CUDA stack only when it ran."""
    import scipy
    import sklearn
    import torchvision

    out = {"bench": __version__, "python": platform.python_version(), "torch": torch.__version__,
           "torchvision": torchvision.__version__, "numpy": np.__version__, "scipy": scipy.__version__,
           "scikit-learn": sklearn.__version__}
    if device == "cuda":
        out.update(cuda=torch.version.cuda, cudnn=str(torch.backends.cudnn.version()),
                   gpu=torch.cuda.get_device_name(), driver=_cuda_driver())
    return out


def _cuda_driver() -> str | None:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
        return out.stdout.split("\n")[0].strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def device_name(device: str) -> str:
    if device == "cuda":
        return torch.cuda.get_device_name()
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"


def git_commit() -> str | None:
    """The commit of the bench checkout that ran ('+dirty' when it had local changes), or None when bench
    was installed from a package (the manifest's versions.bench names it then)."""
    package = Path(__file__).resolve().parents[1]
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, timeout=5,
                             cwd=package)
        # Only our own checkout counts: an installed copy may sit inside someone else's repository.
        if top.returncode != 0 or Path(top.stdout.strip()).resolve() != package.parent:
            return None
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=package)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, timeout=5, cwd=package)
    except (OSError, subprocess.TimeoutExpired):
        return None
    commit = head.stdout.strip()
    return (commit + ("+dirty" if dirty.stdout.strip() else "")) if head.returncode == 0 and commit else None
