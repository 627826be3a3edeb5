"""The CPU kernels' loader (kernels/cpu/build.py): builds keyed by what the binary depends on, what it says before
a build, and a build lock left behind, which it neither hangs on nor keeps silent about. Nothing here compiles."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

from kernels.cpu import build


def _build_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    sources = {name: (build.HERE / name).read_text() for name in build.SOURCES}
    path = tmp_path / build.build_name(sources)
    path.mkdir(parents=True)
    return path


def test_a_lock_whose_owner_is_gone_is_removed_and_said(tmp_path, monkeypatch, capfd):
    path = _build_dir(tmp_path, monkeypatch)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (path / build.OWNER).write_text(f"{socket.gethostname()} {gone.pid}\n")
    (path / "lock").write_text("")  # torch's own, as a build killed mid-way leaves it
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))  # the build then fails at once, not after ~30 s
    start = time.monotonic()
    assert build.load(wait_s=600) is None
    assert time.monotonic() - start < 120
    err = capfd.readouterr().err
    assert f"process {gone.pid}, is gone" in err and "compiling proofloop_cpu once" in err
    assert "using the slower torch paths" in err
    assert not (path / build.OWNER).exists() and not (path / "lock").exists()


def test_a_live_lock_is_waited_on_for_a_bounded_time(tmp_path, monkeypatch, capfd):
    path = _build_dir(tmp_path, monkeypatch)
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        (path / build.OWNER).write_text(f"{socket.gethostname()} {owner.pid}\n")
        start = time.monotonic()
        assert build.load(wait_s=1.0) is None
        assert time.monotonic() - start < 30
    finally:
        owner.kill()
        owner.wait()
    err = capfd.readouterr().err
    assert "waiting for another process compiling proofloop_cpu" in err and "up to 1 s" in err
    assert "still compiling" in err and "torch paths" in err
    assert (path / build.OWNER).exists()  # not ours to remove


def test_an_old_lock_is_stale_whoever_holds_it(tmp_path, monkeypatch):
    path = _build_dir(tmp_path, monkeypatch)
    lock = path / build.OWNER
    lock.write_text(f"{socket.gethostname()} 1\n")  # pid 1 is alive
    assert build._owner_gone(lock) is None
    old = time.time() - build.STALE_S - 60
    os.utime(lock, (old, old))
    assert "minutes old" in build._owner_gone(lock)


def test_the_build_is_named_by_what_it_depends_on(monkeypatch, tmp_path):
    import torch
    from torch.utils.cpp_extension import _get_build_directory

    sources = {name: (build.HERE / name).read_text() for name in build.SOURCES}
    name = build.build_name(sources)
    assert name == build.build_name(dict(sources)) and name.startswith("proofloop_cpu_")
    assert set(build.build_key(sources)) == {"sources", "flags", "torch", "python", "machine", "cpu features"}
    changes = [lambda: monkeypatch.setitem(sources, "layer_ops.cpp", sources["layer_ops.cpp"] + "\n"),
               lambda: monkeypatch.setattr(build, "CFLAGS", [*build.CFLAGS, "-DX"]),
               lambda: monkeypatch.setattr(torch, "__version__", "0.0.1"),
               lambda: monkeypatch.setattr(build, "cpu_features", lambda: "sse2")]
    names = [name]
    for change in changes:  # each on top of the last: every one gives a name of its own
        change()
        names.append(build.build_name(sources))
    assert len(set(names)) == len(names)
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))  # and a directory of its own
    assert len({_get_build_directory(n, False) for n in names}) == len(names)


def test_what_is_said_before_a_build(tmp_path):
    key = {"sources": "s1", "flags": "-O3", "torch": "2.13.0", "python": "cpython-311", "machine": "x86_64",
           "cpu features": "c1"}
    here = tmp_path / build.name_of(key)
    assert "compiling proofloop_cpu once" in build.build_message(here, key)  # nothing built beside it
    here.mkdir()
    (here / f"{here.name}.so").write_bytes(b"")
    assert build.build_message(here, key) is None  # built: loaded, nothing said
    (here / f"{here.name}.so").unlink()

    older = tmp_path / "proofloop_cpu_0000000000000000"  # another checkout's build, from before keys were kept
    older.mkdir()
    (older / "proofloop_cpu_0000000000000000.so").write_bytes(b"")
    message = build.build_message(here, key)
    assert message.startswith("rebuilding proofloop_cpu (sources or flags changed;") and str(older) in message
    (older / build.KEY_FILE).write_text(json.dumps({**key, "torch": "2.12.0", "sources": "s0"}))
    message = build.build_message(here, key)
    assert "(sources, torch 2.12.0 -> 2.13.0 changed;" in message
