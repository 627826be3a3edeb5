"""The one loader of the C++ CPU kernels: every `.cpp` here compiled together into one extension on first use.

One build for all of them, so a fresh machine pays torch's extension build (~30 s) once rather than per kernel.
Without a compiler, or with PROOFLOOP_NATIVE=0, `module()` is None and callers keep their torch paths.

The build directory is named by a hash of what the binary depends on (`build_key`: the sources, the compiler flags,
the torch version, the Python ABI and the CPU's features, which -march=native compiles for), so two clones or
virtual environments never rebuild each other's copy, and a changed one never loads a stale binary. Each build
records its key beside it, so a rebuild says what changed. torch guards a build with a `lock` file that a
killed build leaves behind, after which every later start would wait on it forever; so the build runs under our own
lock that records its owner's pid: a lock whose owner is gone (or older than STALE_S) is removed with a line on
stderr, and a live one is waited on for at most PROOFLOOP_NATIVE_WAIT seconds (default WAIT_S) before the torch
paths are used for this run.
"""
from __future__ import annotations

import hashlib
import json
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
BASE = "proofloop_cpu"  # the extension's name, before its key's hash
KEY_FILE = "proofloop_key.json"  # a finished build's key, for the next build's message

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


def cpu_features() -> str:
    """The CPU's feature flags, which -march=native compiles for: /proc/cpuinfo's `flags` (x86) or `Features` (Arm)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                field, _, value = line.partition(":")
                if field.strip() in ("flags", "Features"):
                    return " ".join(sorted(set(value.split())))
    except OSError:
        pass
    return platform.processor()  # elsewhere: the best name there is


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def build_key(sources: dict[str, str]) -> dict[str, str]:
    """What the binary depends on, by part (a changed part is named when the kernels are rebuilt)."""
    import torch

    return {"sources": digest("\0".join(f"{name}\0{text}" for name, text in sorted(sources.items()))),
            "flags": " ".join([*CFLAGS, *LDFLAGS]), "torch": torch.__version__,
            "python": sys.implementation.cache_tag + sys.abiflags, "machine": platform.machine(),
            "cpu features": digest(cpu_features())}


def name_of(key: dict[str, str]) -> str:
    """proofloop_cpu_<hash of the build key>."""
    return f"{BASE}_{digest(json.dumps(key, sort_keys=True))}"


def build_name(sources: dict[str, str]) -> str:
    return name_of(build_key(sources))


def built(build_dir: Path) -> bool:
    return build_dir.is_dir() and any(f.suffix == ".so" for f in build_dir.iterdir())


def build_message(build_dir: Path, key: dict[str, str]) -> str | None:
    """What to say before loading: nothing when this build exists; else that the kernels compile once, or that they
    are rebuilt and what changed since the newest other build beside it."""
    if built(build_dir):
        return None
    others = sorted((d for d in build_dir.parent.glob(f"{BASE}_*") if d != build_dir and built(d)),
                    key=lambda d: d.stat().st_mtime)
    if not others:
        return f"compiling {BASE} once (the CPU kernels, about 30 s; later starts load it from {build_dir})"
    try:
        before = json.loads((others[-1] / KEY_FILE).read_text())
    except (OSError, ValueError):  # a build from before keys were recorded
        before = {}
    changed = [part if part in ("sources", "cpu features") else f"{part} {before[part]} -> {now}"
               for part, now in key.items() if part in before and before[part] != now]
    why = ", ".join(changed) + " changed" if changed else "sources or flags changed"
    return f"rebuilding {BASE} ({why}; the build in {others[-1]} stays for the checkout that uses it)"


def load(wait_s: float | None = None):
    """Build (or load the built) extension; None on any failure, said on stderr."""
    try:
        from torch.utils.cpp_extension import _get_build_directory, load_inline
    except ImportError:
        return None
    sources = {name: (HERE / name).read_text() for name in SOURCES}
    key = build_key(sources)
    name = name_of(key)
    build_dir = Path(_get_build_directory(name, False))
    if wait_s is None:
        wait_s = float(os.environ.get("PROOFLOOP_NATIVE_WAIT", WAIT_S))
    if not _acquire(build_dir, wait_s):
        say(f"another process is still compiling {BASE} (the CPU kernels) in {build_dir} after {wait_s:.0f} s; "
            "using the slower torch paths for this run")
        return None
    try:
        message = build_message(build_dir, key)
        if message:
            say(message)
        (build_dir / "lock").unlink(missing_ok=True)  # we hold the owner lock, so torch's own is a leftover
        ext = load_inline(name, cpp_sources=list(sources.values()),
                          functions=[f for fs in SOURCES.values() for f in fs],
                          extra_cflags=CFLAGS, extra_ldflags=LDFLAGS, build_directory=str(build_dir), verbose=False)
        (build_dir / KEY_FILE).write_text(json.dumps(key, indent=1))
        return ext
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
                say(f"removing a stale build lock {lock} ({why}); compiling {BASE} (the CPU kernels) again...")
                lock.unlink(missing_ok=True)
                continue
            if time.monotonic() >= deadline:
                return False
            if not said:
                say(f"waiting for another process compiling {BASE} (the CPU kernels, once, about 30 s), up to "
                    f"{wait_s:.0f} s; lock {lock}")
                said = True
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
            continue
        with os.fdopen(fd, "w") as f:
            f.write(f"{socket.gethostname()} {os.getpid()}\n")
        return True
