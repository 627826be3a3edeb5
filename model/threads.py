"""How many CPU threads the local engine uses: torch's intra-op pool, which the C++ CPU kernels share (they are
built with OpenMP and load the same runtime as torch).

torch's default is one thread per core. On a machine where other work keeps cores busy that is far slower than
fewer threads: each parallel op waits for its slowest thread, and a thread whose core is taken waits for a
scheduler slice. Measured on a 2-core machine under a load of 2: the demo model decoding 24 tokens for 4 prompts
took 2.1 s with one thread and 30 s with two. So the default is the cores this process may use less those the rest
of the machine keeps busy, at least one.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

from model.errors import ModelError

CAP = 16  # past this a decode step's small ops gain less from more threads than they pay to synchronise them
CPU_MAX = Path("/sys/fs/cgroup/cpu.max")  # a cgroup v2 CPU quota: "QUOTA PERIOD", or "max PERIOD" for none


def check_threads(threads: int | None) -> None:
    if threads is not None and threads < 1:
        raise ModelError(f"--threads must be at least 1 (got {threads}); leave it out for the default")


def cgroup_cpus(cpu_max: Path = CPU_MAX) -> int | None:
    """The CPUs a container's quota allows, rounded up; None without a quota."""
    try:
        quota, period = cpu_max.read_text().split()[:2]
        return max(1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):  # no cgroup v2 file, or "max": no quota
        return None


def available_cpus() -> int:
    """The CPUs this process may run on: its affinity mask, within a container's quota."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = cgroup_cpus()
    return max(1, min(cpus, quota) if quota else cpus)


def default_threads() -> int:
    """OMP_NUM_THREADS when set; else the available CPUs less those others keep busy (the 1-minute load average,
    our share of it where we may use only some of the machine's CPUs), between 1 and CAP."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    cpus = available_cpus()
    try:
        load = os.getloadavg()[0]
    except OSError:  # not known here
        load = 0.0
    busy = load * cpus / max(os.cpu_count() or cpus, cpus)
    return max(1, min(CAP, cpus - round(busy)))


def use_threads(threads: int | None) -> int:
    """Set torch's (and so the CPU kernels') thread count: `threads`, or the default; returns the count."""
    check_threads(threads)
    import torch

    n = threads or default_threads()
    torch.set_num_threads(n)
    return n
