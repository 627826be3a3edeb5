"""--threads: the local engine's CPU threads, and the default when it is not given (model/threads.py)."""
from __future__ import annotations

import os

import pytest
import torch
from typer.testing import CliRunner

import cli
from model import threads
from model.backends import choose


@pytest.fixture
def machine(monkeypatch):
    """A machine of `total` CPUs of which this process may use `ours`, under a load average of `load`."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "cgroup_cpus", lambda: None)

    def make(ours: int, total: int, load: float) -> int:
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(ours)))
        monkeypatch.setattr(os, "cpu_count", lambda: total)
        monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
        return threads.default_threads()

    return make


def test_the_default_leaves_out_the_cores_others_keep_busy(machine):
    assert machine(2, 2, 0.1) == 2  # idle: every core
    assert machine(2, 2, 2.1) == 1  # the busy 2-core machine of the issue: one thread, never zero
    assert machine(8, 8, 3.0) == 5
    assert machine(2, 64, 30.0) == 1  # 2 of a busy host's 64 CPUs: our share of its load is about one CPU
    assert machine(2, 64, 1.0) == 2
    assert machine(96, 96, 0.0) == threads.CAP


def test_omp_num_threads_is_the_default_when_set(machine, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.default_threads() == 3


def test_a_cgroup_quota_bounds_the_cpus(tmp_path):
    cpu_max = tmp_path / "cpu.max"
    for text, cpus in (("200000 100000\n", 2), ("150000 100000\n", 2), ("max 100000\n", None)):
        cpu_max.write_text(text)
        assert threads.cgroup_cpus(cpu_max) == cpus
    assert threads.cgroup_cpus(tmp_path / "none") is None


def test_the_local_backend_runs_with_the_threads_given(monkeypatch):
    from model.backends.local import LocalBackend

    monkeypatch.setattr(LocalBackend, "from_path", classmethod(lambda cls, path: "engine"))
    before = torch.get_num_threads()
    try:
        assert choose.backend_from_flags(local="ckpt", threads=1) == "engine"
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("args", [["prove", "imo2025/1", "--threads", "0"],
                                  ["grade", "problems/data/gradingbench_sample.csv", "--threads", "-2"],
                                  ["verify", "imo2025/1", "README.md", "--threads", "0"],
                                  ["model", "serve", "demo", "--threads", "0"]])
def test_a_bad_thread_count_is_one_line(args):
    r = CliRunner().invoke(cli.app, args)
    assert r.exit_code == 2 and r.output.strip().count("\n") == 0, r.output
    assert "--threads must be at least 1" in r.output
