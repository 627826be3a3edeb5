"""Bundled problem sets, by name, and `resolve`: one problem from `SET/ID`, a file, or `FILE#ID`.

Ids inside a set are `SET/SHORT`, short and typeable:
- imo2025/1 .. imo2025/6, cmo2024/1 .., cmo2025/1 .., putnam2024/A1 .. putnam2024/B6
  (the DeepSeekMath-V2 `problem_idx` without its contest prefix),
- proofbench-basic/001 .. /030, proofbench-advanced/001 .. /030 (the IMO-ProofBench `Problem ID` without `PB-Basic-`),
- answerbench/algebra-001, answerbench/number_theory-100, ... (the IMO-AnswerBench `Problem ID` without `imo-bench-`),
- easy/1 .. easy/6 (written for proofloop: short proofs the demo model can attempt).
`resolve` also takes the original id (`imo2025/IMO2025-1`, `proofbench-basic/PB-Basic-001`), ignores case and
leading zeros (`proofbench-basic/1`, `putnam2024/a1`). The files and their licenses are listed in data/NOTICE.
"""
from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from problems.errors import ProblemError
from problems.loader import load_file
from problems.problem import Problem

DATA = Path(__file__).parent / "data"

DEEPSEEK = "(DeepSeekMath-V2, github.com/deepseek-ai/DeepSeek-Math-V2)"
IMOBENCH = "(IMO-Bench, github.com/google-deepmind/superhuman)"


@dataclass(frozen=True)
class SetInfo:
    name: str
    count: int
    source: str
    license: str


@dataclass(frozen=True)
class _Spec:
    file: str          # in data/
    id_prefix: str     # the original id starts with it; the short id is the rest
    max_points: int | None
    title: str         # the set's own name; the source of a problem whose row names none
    origin: str
    license: str
    lean_file: str | None = None  # a CSV whose `Lean Statement` column is joined by Problem ID


SETS: dict[str, _Spec] = {
    "imo2025": _Spec("IMO2025.json", "IMO2025-", 7, "IMO 2025", DEEPSEEK, "Apache-2.0"),
    "cmo2024": _Spec("CMO2024.json", "CMO2024-", 21, "CMO 2024", DEEPSEEK, "Apache-2.0"),
    "cmo2025": _Spec("CMO2025.json", "CMO2025-", 21, "CMO 2025", DEEPSEEK, "Apache-2.0"),
    "putnam2024": _Spec("Putnam2024.json", "Putnam2024-", 10, "Putnam 2024", DEEPSEEK, "Apache-2.0"),
    "proofbench-basic": _Spec("proofbench_v2.csv", "PB-Basic-", 7, "IMO-ProofBench basic", IMOBENCH,
                              "CC-BY-4.0", lean_file="lean_proof_bench.csv"),
    "proofbench-advanced": _Spec("proofbench_v2.csv", "PB-Advanced-", 7, "IMO-ProofBench advanced", IMOBENCH,
                                 "CC-BY-4.0", lean_file="lean_proof_bench.csv"),
    "answerbench": _Spec("answerbench_v2.csv", "imo-bench-", None, "IMO-AnswerBench", IMOBENCH, "CC-BY-4.0"),
    # within reach of the embedded demo model; each problem also holds a proof with one planted error (for benches)
    "easy": _Spec("easy.json", "easy-", 7, "proofloop easy set", "(written for proofloop)", "Apache-2.0"),
}


def list_sets() -> list[SetInfo]:
    """Every bundled set with its problem count, source and license."""
    return [SetInfo(name, len(_load(name)[0]), f"{spec.title} {spec.origin}", spec.license)
            for name, spec in SETS.items()]


def load_set(name: str) -> list[Problem]:
    """The problems of a bundled set, in their original order, with ids `SET/SHORT`."""
    return list(_load(_set_name(name))[0])


def resolve(ref: str) -> Problem:
    """One problem from `SET/ID`, a file holding exactly one problem, or `FILE#ID`."""
    ref = ref.strip()
    if not ref:
        raise ProblemError("no problem given; name one as SET/ID (e.g. imo2025/1) or give a problem file")
    if Path(ref).is_file():
        return _one_from_file(Path(ref), None)
    if "#" in ref:
        file, _, pid = ref.rpartition("#")
        if Path(file).exists() or not _looks_like_set_ref(file):
            return _one_from_file(Path(file), pid)
    name, slash, pid = ref.partition("/")
    if name.lower() in SETS:
        if not slash or not pid:
            first = _load(name.lower())[0][0].id
            raise ProblemError(f"'{name}' is a problem set; name one of its problems, e.g. {first} "
                               f"(`proofloop problems show {first}`)")
        return _find_in_set(name.lower(), pid)
    if _looks_like_set_ref(ref):
        raise ProblemError(f"unknown problem set '{name}' (and no file '{ref}'); known sets: {', '.join(SETS)}")
    return _one_from_file(Path(ref), None)  # a missing file says so


def _looks_like_set_ref(ref: str) -> bool:
    """`name/id` with no file-ish parts: no extension, one slash, a set-like name."""
    return bool(re.fullmatch(r"[A-Za-z][\w-]*(/[^/]+)?", ref)) and Path(ref).suffix.lower() not in (
        ".md", ".markdown", ".txt", ".json", ".jsonl", ".csv")


def _set_name(name: str) -> str:
    if name.lower() not in SETS:
        raise ProblemError(f"unknown problem set '{name}'; known sets: {', '.join(SETS)}")
    return name.lower()


def _key(pid: str) -> str:
    """Ids compare without case and leading zeros: `PB-Basic-001` ~ `pb-basic-1`."""
    return re.sub(r"\d+", lambda m: str(int(m.group())), pid.strip().lower())


@functools.cache
def _load(name: str) -> tuple[tuple[Problem, ...], dict[str, Problem]]:
    """(problems, alias key -> problem) of one set, read once per process."""
    spec = SETS[name]
    rows = [p for p in load_file(DATA / spec.file) if p.id.startswith(spec.id_prefix)]
    lean = {}
    if spec.lean_file:
        lean = {p.id: p.lean_statement for p in load_file(DATA / spec.lean_file) if p.lean_statement}
    problems: list[Problem] = []
    aliases: dict[str, Problem] = {}
    for row in rows:
        short = row.id[len(spec.id_prefix):]
        p = dataclasses.replace(row, id=f"{name}/{short}", max_points=spec.max_points,
                                source=row.source or spec.title,
                                lean_statement=row.lean_statement or lean.get(row.id))
        problems.append(p)
        for alias in (short, row.id):
            aliases.setdefault(_key(alias), p)
    return tuple(problems), aliases


def _find_in_set(name: str, pid: str) -> Problem:
    problems, aliases = _load(name)
    p = aliases.get(_key(pid))
    if p is None:
        raise ProblemError(f"unknown problem '{name}/{pid}'; {name} has {len(problems)} problems: "
                           f"{_some_ids(problems)} (`proofloop problems list`)")
    return p


def _one_from_file(path: Path, pid: str | None) -> Problem:
    problems = load_file(path)
    if pid is None:
        if len(problems) == 1:
            return problems[0]
        raise ProblemError(f"{path} holds {len(problems)} problems; name one as {path}#ID, "
                           f"e.g. {path}#{problems[0].id} (ids: {_some_ids(problems)})")
    matches = [p for p in problems if _key(p.id) == _key(pid)]
    if not matches:
        raise ProblemError(f"no problem '{pid}' in {path}; its ids: {_some_ids(problems)}")
    return matches[0]


def _some_ids(problems: Iterable[Problem], n: int = 5) -> str:
    ids = [p.id for p in problems]
    return ", ".join(ids[:n]) + (f", ... ({len(ids)} in all)" if len(ids) > n else "")
