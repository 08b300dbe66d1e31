"""What `bench train` and `bench all` ask for (`TrainRequest`), and the policy that turns it into run and
executor options: which device, which precision, how many threads, which executor settings are legal."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bench.config import ExecutorOptions, RunOptions
from bench.errors import BenchError
from bench.protocol import BUILTIN, Protocol

ARTIFACTS_ROOT = Path("artifacts")  # run directories default to artifacts/<profile>


@dataclass(frozen=True)
class TrainRequest:
    """One training command's options, as given (before device resolution)."""

    models: tuple[str, ...]              # models to train, in order
    seeds: tuple[int, ...] = (0,)        # one run per seed
    protocol: Protocol = BUILTIN         # the active protocol (built-in, plus --protocol FILE)
    data_dir: Path | None = None         # CIFAR-10 root; None: bench.data.cifar10.default_data_dir()
    download: bool = True                # fetch missing data / weights through torchvision
    verify: bool = True                  # check the pixel arrays' SHA-256
    profile_name: str = "full"           # full or smoke
    artifacts_dir: Path | None = None    # run directory; None: artifacts/<profile>
    device: str = "auto"                 # Device: auto, cpu or cuda
    precision: str | None = None         # Precision; None: bf16 on CUDA, fp32 on CPU
    input_pipeline: str = "fast"         # Pipeline
    num_workers: int = 2                 # DataLoader workers (torchvision pipeline)
    epochs: int | None = None            # override of the schedule's length
    weights_path: Path | None = None     # local pretrained weights of the models that use some (--vgg-weights)
    pretrained: bool = True              # False: random initialisation of those models, recorded as such
    model_settings: dict = field(default_factory=dict)  # builder settings (frozen_blocks, image_size); each
    #                                      model takes those its registry defaults name
    compile_mode: str = "none"           # CompileMode
    deterministic: bool = False          # deterministic CUDA kernels
    force: bool = False                  # retrain finished models, discard incomparable ones
    dry_run: bool = False                # print the plan, train nothing
    # Where the jobs run, as given: cpus_per_job 0 means "not given" (Ray then uses this process's thread count).
    executor: ExecutorOptions = ExecutorOptions(cpus_per_job=0)
    command: tuple[str, ...] = ()        # the argv recorded in the manifest

    @property
    def out(self) -> Path:
        """The run directory."""
        return self.artifacts_dir or ARTIFACTS_ROOT / self.profile_name


def resolve_options(request: TrainRequest) -> tuple[RunOptions, ExecutorOptions]:
    """The resolved device and precision, and executor options whose thread count is settled.

    A Ray driver need not have the GPUs its cluster has; a Ray job's thread count defaults to this
    process's, which keeps its results bitwise equal to a local run's.
    """
    from bench.engine.env import resolve_device, resolve_precision

    ex = request.executor
    if ex.address is not None and not ex.address.strip():
        raise BenchError("--ray-address is empty, which names no cluster; give HOST:PORT or 'auto', or leave it "
                         "out to start a local Ray instance")
    if ex.name == "ray":
        from bench.executors.ray import require_ray

        require_ray()
        wants_gpu = request.device == "cuda" or (request.device == "auto" and ex.gpus_per_job > 0)
        device = "cuda" if wants_gpu else resolve_device(request.device)
        if device == "cuda" and ex.gpus_per_job == 0:
            raise BenchError("--device cuda with --executor ray needs --gpus-per-job (e.g. 1, or 0.25 to pack "
                             "four jobs)")
        import torch

        ex = ExecutorOptions(ex.name, ex.address, ex.cpus_per_job or torch.get_num_threads(), ex.gpus_per_job,
                             ex.max_retries, ex.connect_timeout)
    else:
        if ex.address or ex.cpus_per_job or ex.gpus_per_job or ex.connect_timeout is not None:
            raise BenchError("--ray-address, --cpus-per-job, --gpus-per-job and --ray-timeout need --executor ray")
        device = resolve_device(request.device)
        ex = ExecutorOptions(ex.name, None, 1, 0.0, ex.max_retries)
    options = RunOptions(device=device, precision=resolve_precision(request.precision, device),
                         pipeline=request.input_pipeline, num_workers=request.num_workers,
                         deterministic=request.deterministic, compile=request.compile_mode)
    return options, ex


def jobs_threads(request: TrainRequest, executor: ExecutorOptions) -> int | None:
    """torch's thread count where the jobs run, when it is not this process's (Ray: the CPUs per job)."""
    return executor.cpus_per_job if request.executor.name == "ray" else None
