"""The CPU kernels' loader (kernels/cpu/build.py) with a build lock left behind: it neither hangs nor stays silent."""
from __future__ import annotations

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
    assert f"process {gone.pid}, is gone" in err and "compiling the CPU kernels" in err
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
    assert "waiting up to 1 s" in err and "once" in err
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


def test_the_build_is_named_by_what_it_depends_on(monkeypatch):
    sources = {name: (build.HERE / name).read_text() for name in build.SOURCES}
    name = build.build_name(sources)
    assert name == build.build_name(dict(sources)) and name.startswith("proofloop_cpu_")
    assert build.build_name({**sources, "layer_ops.cpp": sources["layer_ops.cpp"] + "\n"}) != name
    monkeypatch.setattr(build, "CFLAGS", [*build.CFLAGS, "-DX"])
    assert build.build_name(sources) != name
