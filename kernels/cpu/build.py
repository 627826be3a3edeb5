"""The one loader of the C++ CPU kernels: every `.cpp` here compiled together into one extension on first use.

One build for all of them, so a fresh machine pays torch's extension build (~30 s) once rather than per kernel.
Without a compiler, or with PROOFLOOP_NATIVE=0, `module()` is None and callers keep their torch paths.

The build directory is named by a hash of the sources, the torch and Python versions and the compiler flags, so two
clones or virtual environments never rebuild each other's copy. torch guards a build with a `lock` file that a
killed build leaves behind, after which every later start would wait on it forever; so the build runs under our own
lock that records its owner's pid: a lock whose owner is gone (or older than STALE_S) is removed with a line on
stderr, and a live one is waited on for at most PROOFLOOP_NATIVE_WAIT seconds (default WAIT_S) before the torch
paths are used for this run.
"""
from __future__ import annotations

import hashlib
import os
import platform
import socket
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# each source and the functions it exports to Python
SOURCES = {
    "paged_attention.cpp": ["paged_decode", "rope_store_decode"],
    "panel_gemm.cpp": ["panel_linear", "panel_gemm_supported"],
    "layer_ops.cpp": ["add_rms_norm_", "silu_mul"],
}
CFLAGS = ["-O3", "-march=native", "-fopenmp", "-ffast-math"]
LDFLAGS = ["-lmvec"]
WAIT_S = 300.0  # a build takes ~30 s, minutes on a loaded machine
STALE_S = 1800.0  # a lock older than this is stale whoever holds it: no build takes that long
OWNER = "proofloop.lock"  # ours, beside torch's `lock`

_module = None
_tried = False


def module():
    """The compiled extension, or None (no compiler, PROOFLOOP_NATIVE=0, or another build did not finish in time)."""
    global _module, _tried
    if not _tried:
        _tried = True
        if os.environ.get("PROOFLOOP_NATIVE", "1") != "0":
            _module = load()
    return _module


def say(message: str) -> None:
    print(f"proofloop: {message}", file=sys.stderr, flush=True)


def build_name(sources: dict[str, str]) -> str:
    """proofloop_cpu_<hash of what the binary depends on>."""
    import torch

    h = hashlib.sha256()
    for name, text in sorted(sources.items()):
        h.update(name.encode() + b"\0" + text.encode() + b"\0")
    h.update(" ".join([torch.__version__, sys.version.split()[0], platform.machine(), *CFLAGS, *LDFLAGS]).encode())
    return f"proofloop_cpu_{h.hexdigest()[:16]}"


def load(wait_s: float | None = None):
    """Build (or load the built) extension; None on any failure, said on stderr."""
    try:
        from torch.utils.cpp_extension import _get_build_directory, load_inline
    except ImportError:
        return None
    sources = {name: (HERE / name).read_text() for name in SOURCES}
    name = build_name(sources)
    build_dir = Path(_get_build_directory(name, False))
    if wait_s is None:
        wait_s = float(os.environ.get("PROOFLOOP_NATIVE_WAIT", WAIT_S))
    if not _acquire(build_dir, wait_s):
        say(f"another process is still compiling the CPU kernels in {build_dir} after {wait_s:.0f} s; "
            "using the slower torch paths for this run")
        return None
    try:
        if not any(f.suffix == ".so" for f in build_dir.iterdir()):
            say("compiling the CPU kernels (once, about 30 s)...")
        (build_dir / "lock").unlink(missing_ok=True)  # we hold the owner lock, so torch's own is a leftover
        return load_inline(name, cpp_sources=list(sources.values()),
                           functions=[f for fs in SOURCES.values() for f in fs],
                           extra_cflags=CFLAGS, extra_ldflags=LDFLAGS, build_directory=str(build_dir), verbose=False)
    except Exception as e:  # no compiler or headers: the torch paths still work
        first = (str(e).strip().splitlines() or [""])[0][:200]
        say(f"the CPU kernels did not build ({type(e).__name__}: {first}); using the slower torch paths")
        return None
    finally:
        (build_dir / OWNER).unlink(missing_ok=True)


def _owner_gone(lock: Path) -> str | None:
    """Why the lock is stale (its owner's process is gone, or it is too old), or None while it may be in use."""
    try:
        text, age = lock.read_text(), time.time() - lock.stat().st_mtime
    except OSError:
        return None  # released meanwhile
    if age > STALE_S:
        return f"it is {age / 60:.0f} minutes old"
    host, _, pid = text.strip().rpartition(" ")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return f"its owner, process {pid}, is gone"
        except PermissionError:
            pass  # alive, another user's
    return None


def _acquire(build_dir: Path, wait_s: float) -> bool:
    """Take the owner lock (host and pid inside), removing a stale one; False after waiting wait_s for a live one."""
    build_dir.mkdir(parents=True, exist_ok=True)
    lock = build_dir / OWNER
    deadline, said = time.monotonic() + wait_s, False
    while True:
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            why = _owner_gone(lock)
            if why:
                say(f"removing a stale build lock {lock} ({why}); compiling the CPU kernels once more...")
                lock.unlink(missing_ok=True)
                continue
            if time.monotonic() >= deadline:
                return False
            if not said:
                say(f"waiting up to {wait_s:.0f} s for another process compiling the CPU kernels "
                    f"(once, about 30 s; lock {lock})...")
                said = True
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
            continue
        with os.fdopen(fd, "w") as f:
            f.write(f"{socket.gethostname()} {os.getpid()}\n")
        return True
