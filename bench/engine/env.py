"""The machine a run happens on: which device, which libraries, which bench commit.

The runner records these in manifest.json and config.json, and `bench verify` compares
them with the recorded ones to say where bitwise equality cannot be expected.
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import numpy as np

from bench import __version__
from bench.config import CompileMode, Device, Precision
from bench.errors import BenchError

# torch is imported inside the functions that ask it about the device, not at the top: the report imports this
# module for shared_machine and SHARED_LOAD_SHARE alone, and importing torch costs it ~2 s.


def resolve_device(name: str) -> str:
    """"auto" -> "cuda" or "cpu"; "cuda" without a GPU is an error, never a silent fallback."""
    import torch

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
    import torch
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
    import torch

    if device == "cuda":
        return torch.cuda.get_device_name()
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"


# The machine counts as shared when, at the start or the end of training, other processes kept more than this share
# of its logical cores busy (bench.engine.env.shared_machine); the report prints the rule beside its answer.
SHARED_LOAD_SHARE = 0.5


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo's "model name" on Linux), else what `platform` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _sep, value = line.partition(":")
                if key.strip() in ("model name", "Hardware", "Processor") and value.strip():
                    return " ".join(value.split())
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def total_memory() -> int | None:
    """The machine's physical memory in bytes (None where the OS does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


def load_average() -> float | None:
    """The 1-minute load average (runnable processes), None where the OS has none (Windows)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def machine(device: str) -> dict:
    """What the machine is, as structured fields (the report words them in its own language): CPU model, logical
    cores, cores this process may use, torch's threads, memory, OS, and on CUDA the GPU's name and memory. Plus the
    load average at the start of training (`load_start`; the runner adds `load_end`), from which shared_machine
    tells whether other work competed for the cores. Standard library and torch only: it runs on GPU machines."""
    import torch

    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    out = {"cpu": cpu_model(), "architecture": platform.machine() or None, "logical_cores": os.cpu_count(),
           "usable_cores": usable, "torch_threads": torch.get_num_threads(), "memory_bytes": total_memory(),
           "os": platform.system() or None, "os_release": platform.release() or None,
           "load_start": load_average(), "load_end": None}
    if device == "cuda":
        props = torch.cuda.get_device_properties(torch.cuda.current_device())
        out["gpu"] = {"name": props.name, "memory_bytes": int(props.total_memory),
                      "count": torch.cuda.device_count()}
    return out


def shared_machine(record: dict | None) -> bool | None:
    """Whether other processes competed for the machine during training, by the recorded load averages.

    The 1-minute load average counts runnable processes. At the start, before training, this run adds little to it,
    so the whole of it is other work; at the end, this run's own torch threads are part of it and are subtracted.
    Shared when either figure exceeds SHARED_LOAD_SHARE of the cores this run could use. None when not recorded.
    """
    if not isinstance(record, dict):
        return None
    cores = record.get("usable_cores") or record.get("logical_cores")
    others = []
    if isinstance(record.get("load_start"), (int, float)):
        others.append(record["load_start"])
    if isinstance(record.get("load_end"), (int, float)):
        others.append(record["load_end"] - (record.get("torch_threads") or 0))
    if not others or not isinstance(cores, int) or cores < 1:
        return None
    return max(others) > SHARED_LOAD_SHARE * cores


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
