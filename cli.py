"""proofloop: prove competition problems, grade proofs, and run the local engine, from the terminal.

Thin by design: each command turns flags into a config, makes one call into a package, and renders the result
(rich for people, --json for scripts). Errors from the packages become one red line and exit code 2; a verdict
(no proof accepted, a refuted step) is exit code 1.
"""
from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console, JustifyMethod
from rich.markup import escape

from bench.cli import bench_commands
from kernels.errors import KernelError
from ledger.errors import RunError
from model.errors import ModelError
from model.threads import check_threads
from problems.errors import ProblemError
from prover.errors import ProverError
from verifier.errors import VerifierError

if TYPE_CHECKING:  # annotations only: the commands import their packages when they run
    from ledger.store import RunStore

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
problems_app = typer.Typer(help="List and show bundled problem sets.", no_args_is_help=True)
model_app = typer.Typer(help="Inspect and serve local checkpoints.", no_args_is_help=True)
app.add_typer(problems_app, name="problems")
app.add_typer(model_app, name="model")

console = Console()
err_console = Console(stderr=True)

P = ParamSpec("P")  # a command's parameters, kept by user_errors
R = TypeVar("R")

# Every package's own error class; anything else is a bug and keeps its traceback.
USER_ERRORS: tuple[type[Exception], ...] = (ProblemError, ModelError, VerifierError, ProverError, RunError,
                                              KernelError)


def user_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn a package error into one red line and exit code 2 (traceback with PROOFLOOP_DEBUG=1)."""

    @functools.wraps(fn)  # typer reads the command's parameters through __wrapped__
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except USER_ERRORS as e:
            if os.environ.get("PROOFLOOP_DEBUG"):
                raise
            err_console.print(f"[red]error:[/red] {escape(str(e))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None  # the error is shown above; its traceback only with PROOFLOOP_DEBUG

    return wrapper


def print_json(obj: object) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


app.add_typer(bench_commands(user_errors, print_json), name="bench")


# ---- commands are added below, one function each ----

# The local engine's CPU threads, on every command that can run it (model/threads.py says why the default).
ThreadsOpt = typer.Option(None, "--threads", help="CPU threads of the local engine (default: the cores this process "
                          "may use less those other work keeps busy, from the load average; OMP_NUM_THREADS when set).")


@model_app.command("serve")
@user_errors
def model_serve(path: str = typer.Argument(..., help="A checkpoint directory, or 'demo' for the embedded demo model."),
                host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
                port: int = typer.Option(8000, "--port", help="Port to listen on (0: any free port)."),
                dtype: str | None = typer.Option(None, "--dtype", help="float32, bfloat16 or float16 (default: "
                                                    "the checkpoint's; float32 on CPU)."),
                device: str | None = typer.Option(None, "--device", help="cpu or cuda (default: cuda if present)."),
                max_batch: int = typer.Option(16, "--max-batch", help="Most sequences decoded together."),
                cache_gb: float = typer.Option(1.0, "--cache-gb", help="Memory for the paged cache, in GiB."),
                name: str | None = typer.Option(None, "--name", help="Model name served (default: the "
                                                   "checkpoint directory's name)."),
                allow_host: list[str] = typer.Option([], "--allow-host", help="A Host name to answer besides "
                                                     "loopback and --host (repeatable; '*': any)."),
                threads: int | None = ThreadsOpt) -> None:
    """Serve a checkpoint over an OpenAI-compatible API (/v1/chat/completions, /v1/completions, /v1/models)."""
    from model.backends.local import demo_checkpoint
    from model.embedded import EMBEDDED
    from model.engine.engine import Engine, default_device
    from model.serve.server import EngineServer
    from model.threads import use_threads

    use_threads(threads)
    checkpoint = demo_checkpoint(path) if path == "demo" or path in EMBEDDED else Path(path)
    with console.status(f"loading {escape(str(checkpoint))}"):
        engine = Engine(checkpoint, device=device or default_device(), dtype=dtype, max_batch=max_batch,
                        cache_gb=cache_gb)
    try:
        server = EngineServer(engine, host=host, port=port, model_name=name, allow_hosts=tuple(allow_host))
    except OSError as e:
        raise ModelError(f"cannot listen on {host}:{port} ({e.strerror or e}); pick another --port") from None
    console.print(f"engine: {escape(engine.describe())}", highlight=False)
    console.print(f"serving [bold]{escape(server.model_name)}[/bold] at {server.base_url} "
                  f"({engine.capacity:,} cached tokens, {engine.dtype}); Ctrl-C stops")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        server.loop.stop()


@model_app.command("info")
@user_errors
def model_info(path: Path = typer.Argument(..., help="A checkpoint directory (config.json + safetensors) or a .gguf."),
               as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON.")) -> None:
    """Describe a local checkpoint: architecture, parameter count, attention and FFN kinds, layers, experts, dtype."""
    from rich.table import Table

    from model.info import describe

    info = describe(path)
    if as_json:
        print_json(info)
        return
    table = Table(title=escape(str(path)), show_header=False)
    for key, value in info.items():
        if value is None or key == "path":
            continue
        if key in ("parameters", "active_parameters"):
            value = f"{value:,} ({value / 1e9:.3g} B)" if value >= 1e8 else f"{value:,}"
        table.add_row(key.replace("_", " "), escape(str(value)))
    console.print(table)


@problems_app.command("list")
@user_errors
def problems_list(as_json: bool = typer.Option(False, "--json", help="Print the sets as JSON.")) -> None:
    """List the bundled problem sets: name, number of problems, source and license."""
    from dataclasses import asdict

    from rich.table import Table

    from problems.sets import list_sets

    sets = list_sets()
    if as_json:
        print_json([asdict(s) for s in sets])
        return
    table = Table(title="Problem sets (show one with `proofloop problems show SET/ID`)")
    columns: tuple[tuple[str, JustifyMethod], ...] = (("name", "left"), ("count", "right"), ("source", "left"),
                                                      ("license", "left"))
    for column, justify in columns:
        table.add_column(column, justify=justify, overflow="fold")
    for s in sets:
        table.add_row(s.name, str(s.count), escape(s.source), s.license)
    console.print(table)


@problems_app.command("show")
@user_errors
def problems_show(ref: str = typer.Argument(..., help="SET/ID (e.g. imo2025/1), a problem file, or FILE#ID."),
                  as_json: bool = typer.Option(False, "--json", help="Print the problem as JSON.")) -> None:
    """Show one problem: its statement, answer and source."""
    from rich.panel import Panel
    from rich.text import Text

    from problems.sets import resolve

    p = resolve(ref)
    if as_json:
        print_json(p.to_dict())
        return
    title = p.id + (f" ({p.max_points} points)" if p.max_points else "")
    console.print(Panel(Text(p.statement), title=Text(title), subtitle=Text(p.source) if p.source else None,
                        expand=False))
    console.print(Text.assemble(("answer: ", "bold"), p.answer or ("none given", "dim")))
    if p.source:
        console.print(Text.assemble(("source: ", "bold"), p.source))
    extras = [name for name, value in (("reference solution", p.reference_solution),
                                       ("grading guidelines", p.grading_guidelines),
                                       ("Lean statement", p.lean_statement)) if value]
    if extras:
        console.print(f"[dim]also: {', '.join(extras)} (see --json)[/dim]")


# Backend flags shared by the commands that call a model.
EndpointOpt = typer.Option(None, "--endpoint", envvar="PROOFLOOP_ENDPOINT",
                           help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1 (vLLM, SGLang).")
ModelOpt = typer.Option(None, "--model", envvar="PROOFLOOP_MODEL",
                        help="Model name on the server (default: its first).")
ApiKeyOpt = typer.Option(None, "--api-key", envvar="PROOFLOOP_API_KEY", help="API key for the server.",
                         show_default=False)
LocalOpt = typer.Option(None, "--local", help="The in-process engine's model: a checkpoint directory, a GGUF file, "
                        "or an embedded model (demo = the default, qwen2.5-coder-0.5b, smollm2-135m).")
PromptsOpt = typer.Option(None, "--prompts", help="Directory of prompt templates overriding the built-in ones.")
TemperatureOpt = typer.Option(1.0, "--temperature", help="Sampling temperature of every model call.")
TopPOpt = typer.Option(0.95, "--top-p", help="Nucleus sampling of every model call.")
ConcurrencyOpt = typer.Option(8, "--concurrency", help="Requests in flight to a server.")
TimeoutOpt = typer.Option(600.0, "--timeout", help="Seconds a server call may take before it is retried.")
StructuredOpt = typer.Option(None, "--structured/--no-structured",
                             help="Answers in the templates' shapes (grammar-constrained decoding; a JSON schema to "
                                  "a server). Default: on for the local engine, off for a server.")


def say_engine(backend: object) -> None:
    """The local engine's start line on stderr (stdout stays the result's): the model, device and the decode
    kernels that run. Nothing for a server."""
    engine = getattr(backend, "engine", None)
    if engine is not None:
        err_console.print(f"local engine: {escape(engine.describe())}", highlight=False, soft_wrap=True)


def structured_default(structured: bool | None, backend: object) -> bool:
    """--structured as given, else on for the in-process engine (small models need it to answer in form) and off for
    servers (a strong model answers in form, and not every server takes a schema)."""
    if structured is not None:
        return structured
    return str(getattr(backend, "name", "")).startswith("local:")


def resume_command(ctx: typer.Context, run_dir: Path) -> str:
    """The command line that continues this run: the command's arguments and the options given on the command line
    (not those from the environment, which a resume in the same shell sees again), then --run RUN --resume."""
    import shlex

    words, options = ["proofloop", ctx.info_name or "prove"], []
    for param in ctx.command.params:
        name = param.name or ""
        source = ctx.get_parameter_source(name)
        if name in ("run", "resume") or source is None or source.name != "COMMANDLINE":
            continue
        value = ctx.params[name]
        if param.param_type_name == "argument":
            words.append(str(value))
            continue
        flag = max(param.opts, key=len)  # --candidates, not -n
        if getattr(param, "is_flag", False):
            options.append(flag if value else param.secondary_opts[0] if param.secondary_opts else "")
        elif name == "api_key":  # a secret is never printed
            options += [flag, "KEY"]
        else:
            options += [flag, str(value)]
    return shlex.join(words + [o for o in options if o] + ["--run", str(run_dir), "--resume"])


def stop_interrupted(ctx: typer.Context, store: RunStore, run_dir: Path) -> NoReturn:
    """Ctrl-C: the run is marked interrupted (its calls so far stay recorded), and how to continue it goes to
    stderr; exit code 130, the shell's for SIGINT."""
    from ledger.store import INTERRUPTED

    store.set_meta("status", INTERRUPTED)
    calls = sum(n for by in store.call_stats()["calls"].values() for n in by.values())
    command = resume_command(ctx, run_dir)
    err_console.print(f"interrupted: the run is kept in {escape(str(run_dir))} ({calls} calls recorded); "
                      "continue it with:", highlight=False, soft_wrap=True)
    err_console.print(f"  {escape(command)}", highlight=False, soft_wrap=True)
    if "--api-key KEY" in command:
        err_console.print("  (KEY: the API key you gave; it is not printed)", highlight=False, soft_wrap=True)
    raise typer.Exit(130)


def run_directory(run: Path | None, resume: bool, name: str) -> Path:
    """--run, or with no --run a new directory runs/<time>-<name>; --resume needs the directory named."""
    import re
    import time

    if resume and run is None:
        raise ProverError("--resume needs --run DIR: the run directory to continue")
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "run"
    return run or Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{slug}"


@app.command()
@user_errors
def prove(
    ctx: typer.Context,
    problem: str = typer.Argument(...,
                                  help="SET/ID of a bundled problem (e.g. imo2025/1), a problem file, or FILE#ID."),
    endpoint: str | None = EndpointOpt,
    model: str | None = ModelOpt,
    api_key: str | None = ApiKeyOpt,
    local: str | None = LocalOpt,
    candidates: int = typer.Option(4, "--candidates", "-n", help="Proofs drafted in the first round."),
    verifications: int = typer.Option(4, "--verifications", "-m", help="Verifications per proof."),
    rounds: int = typer.Option(3, "--rounds", "-r", help="Rounds: the first drafts, the others refine."),
    refine_top: int = typer.Option(2, "--refine-top", help="Best proofs refined each round."),
    feedback: int = typer.Option(2, "--feedback",
                                 help="Verifications fed back per refined proof (one refinement each)."),
    accept: str = typer.Option("all", "--accept", help="'all' (every verification passes) or 'consecutive:K[:F]'."),
    meta: bool = typer.Option(True, "--meta/--no-meta", help="Meta-verify issues; only confirmed ones are fed back."),
    exact: bool = typer.Option(True, "--exact/--no-exact",
                               help="Check each step's computations and the final answer exactly (sympy)."),
    early_stop: bool = typer.Option(False, "--early-stop/--no-early-stop",
                                    help="Verify in waves; stop a proof's verifications once no answer to them could "
                                         "change whether it is accepted, refined or selected."),
    temperature: float = TemperatureOpt,
    top_p: float = TopPOpt,
    max_tokens: int = typer.Option(8192, "--max-tokens", help="Most tokens per model answer."),
    seed: int | None = typer.Option(None, "--seed", help="Base seed; each call gets its own stable seed."),
    token_budget: int | None = typer.Option(None, "--token-budget", help="Stop after this many tokens in the run."),
    time_budget: float | None = typer.Option(None, "--time-budget", help="Stop after this many seconds."),
    concurrency: int = ConcurrencyOpt,
    timeout: float = TimeoutOpt,
    prompts: Path | None = PromptsOpt,
    structured: bool | None = StructuredOpt,
    threads: int | None = ThreadsOpt,
    run: Path | None = typer.Option(None, "--run", help="Run directory (default: runs/<time>-<problem>)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --run; finished calls are not redone."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of the live view."),
) -> None:
    """Prove a problem: draft, verify, meta-verify and refine, and print the best proof with its score.

    Exit status: 0 when a proof was accepted, 1 when none was (the best one is still printed), 2 on an error,
    130 when interrupted (Ctrl-C; the run can be resumed).
    """
    from rich.panel import Panel
    from rich.text import Text

    from model.backends.choose import backend_from_flags
    from problems.sets import resolve
    from prover.config import SearchConfig
    from prover.search import Search, open_run
    from prover.summary import summary
    from report.live import SearchView
    from report.terminal import print_prove_summary
    from verifier.prompts import Templates

    check_threads(threads)
    prob = resolve(problem)
    run_dir = run_directory(run, resume, prob.id)
    templates = Templates(prompts)
    config = SearchConfig(candidates=candidates, verifications=verifications, rounds=rounds, refine_top=refine_top,
                          feedback_per_proof=feedback, accept=accept, meta=meta, exact=exact, early_stop=early_stop,
                          temperature=temperature,
                          top_p=top_p, max_tokens=max_tokens, seed=seed, token_budget=token_budget,
                          time_budget=time_budget)
    backend = backend_from_flags(endpoint, model, api_key, local, concurrency=concurrency, timeout=timeout,
                                 threads=threads)
    say_engine(backend)
    config = replace(config, structured=structured_default(structured, backend))
    store = open_run(run_dir, resume, prob, config, backend, templates)
    try:
        search = Search(prob, config, backend, store, templates)
        if as_json:
            result = search.run()
        else:
            with SearchView(console, prob.id) as view:
                search.on_event = search.calls.on_event = view.event
                result = search.run()
        out = summary(prob, result, str(run_dir))
    except KeyboardInterrupt:
        stop_interrupted(ctx, store, run_dir)
    finally:
        store.close()
    if as_json:
        print_json(out)
    else:
        b = result.best
        if b is None:
            console.print("[red]no usable proof[/red]")
        else:
            console.print(Panel(Text(b.proof.text), title=Text(f"best proof {b.id} of {prob.id}"), expand=False))
        print_prove_summary(console, prob.id, result, str(run_dir), write_report(run_dir), rounds)
    if result.status != "accepted":
        raise typer.Exit(1)  # the verdict, for scripts: no proof was accepted


def write_report(run_dir: Path) -> str | None:
    """RUN/report.html from the run store; None (and a one-line note) when it cannot be written: the run stands."""
    from report.build import render_run

    target = run_dir / "report.html"
    try:
        target.write_text(render_run(run_dir)[0], encoding="utf-8")
    except Exception as e:  # a report is a view of the run; failing to write it must not fail the proof
        console.print(f"[yellow]report not written[/yellow]: {escape(f'{type(e).__name__}: {e}'[:200])}")
        return None
    return str(target)


@app.command()
@user_errors
def verify(
    problem: str = typer.Argument(..., help="SET/ID of a bundled problem, a problem file, or FILE#ID."),
    proof_file: Path = typer.Argument(..., help="A text/Markdown file holding the proof to grade."),
    endpoint: str | None = EndpointOpt,
    model: str | None = ModelOpt,
    api_key: str | None = ApiKeyOpt,
    local: str | None = LocalOpt,
    verifications: int = typer.Option(4, "--verifications", "-m", help="Verifications to run."),
    meta: bool = typer.Option(True, "--meta/--no-meta", help="Meta-verify the issues raised."),
    temperature: float = TemperatureOpt,
    max_tokens: int = typer.Option(8192, "--max-tokens"),
    prompts: Path | None = PromptsOpt,
    structured: bool | None = StructuredOpt,
    threads: int | None = ThreadsOpt,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    symbolic: bool = typer.Option(False, "--symbolic", help="Exact checks with sympy: each step's computations "
                                  "and the final answer. Needs no model when no --endpoint/--local is given."),
    lean: bool = typer.Option(False, "--lean", help="Compile the proof's ```lean block with your Lean toolchain."),
    lean_project: Path | None = typer.Option(None, "--lean-project", help="A Lake project (e.g. with Mathlib) "
                                                "to run `lake env lean` in; implies --lean."),
) -> None:
    """Grade one given proof: score, and issues pinned to step numbers.

    Exit status: 1 when an exact check refutes the proof (a refuted step or a wrong final answer with --symbolic,
    a Lean error with --lean), else 0 (model scores do not change it); 2 on an error.
    """
    from ledger.sampling import CallSampling
    from model.backends.choose import backend_from_flags
    from problems.sets import resolve
    from report.terminal import print_verification
    from verifier.grading import grade_proof
    from verifier.prompts import Templates
    from verifier.proof_file import read_proof
    from verifier.steps import segment

    check_threads(threads)
    prob = resolve(problem)
    proof = segment(read_proof(proof_file))
    if verifications < 1:
        raise VerifierError(f"--verifications must be at least 1 (got {verifications})")
    exact = None
    if symbolic or lean or lean_project is not None:
        from verifier.evidence import exact_evidence

        exact = exact_evidence(prob, proof, symbolic=symbolic, answer=symbolic,
                               lean=lean or lean_project is not None, lean_project=lean_project)
    results = []
    if exact is None or endpoint or local:  # exact checks alone need no model
        backend = backend_from_flags(endpoint, model, api_key, local, threads=threads)
        say_engine(backend)
        results = grade_proof(backend, prob, proof, verifications, meta, Templates(prompts),
                              CallSampling(temperature=temperature, max_tokens=max_tokens),
                              structured=structured_default(structured, backend))
    scores = [v.score for v in results if v.score is not None]
    mean = sum(scores) / len(scores) if scores else None
    if as_json:
        print_json({"problem_id": prob.id, "mean_score": mean, "scores": [v.score for v in results],
                    "statuses": [v.status for v in results],
                    "steps": [vars(s) for s in proof.steps],
                    "verifications": [v.to_dict() for v in results],
                    "exact": exact.to_dict() if exact is not None else None})
    else:
        print_verification(console, prob.id, proof, results, exact)
    if exact is not None and exact.issues:
        raise typer.Exit(1)  # the verdict, for scripts: an exact check refutes the proof


@app.command()
@user_errors
def export(run: Path = typer.Argument(..., help="A run directory."),
           output: Path | None = typer.Option(None, "-o", "--output", help="Write here instead of stdout.")) -> None:
    """Write every model call of a run as JSON lines (kind, key, request, completion, usage, status)."""
    from ledger.store import RunStore

    store = RunStore.open(run)
    try:
        lines = [json.dumps(c, ensure_ascii=False) for c in store.calls()]
    finally:
        store.close()
    text = "\n".join(lines) + ("\n" if lines else "")
    if output:
        output.write_text(text, encoding="utf-8")
        err_console.print(f"{len(lines)} calls written to {output}")
    else:
        sys.stdout.write(text)


@app.command()
@user_errors
def grade(
    ctx: typer.Context,
    input: Path = typer.Argument(..., help="GradingBench CSV, DeepSeekMath-V2 outputs JSONL, IMO-ProofBench CSV "
                                           "(with --proofs), or JSONL of {problem, proof, human_points?, ...}."),
    endpoint: str | None = EndpointOpt,
    model: str | None = ModelOpt,
    api_key: str | None = ApiKeyOpt,
    local: str | None = LocalOpt,
    verifications: int = typer.Option(4, "--verifications", "-m", help="Gradings per proof (mean / majority)."),
    rubric: str = typer.Option("auto", "--rubric", help="binary (0/0.5/1), points (0-7 with reference solution "
                                                        "and guidelines), or auto (points where the set has them)."),
    proofs: Path | None = typer.Option(None, "--proofs", help="JSONL of proofs for an IMO-ProofBench CSV."),
    limit: int | None = typer.Option(None, "--limit", help="Grade only the first N proofs."),
    temperature: float = TemperatureOpt,
    top_p: float = TopPOpt,
    max_tokens: int = typer.Option(8192, "--max-tokens", help="Most tokens per grading."),
    seed: int | None = typer.Option(None, "--seed", help="Base seed; each grading gets its own stable seed."),
    concurrency: int = ConcurrencyOpt,
    timeout: float = TimeoutOpt,
    prompts: Path | None = PromptsOpt,
    structured: bool | None = StructuredOpt,
    threads: int | None = ThreadsOpt,
    run: Path | None = typer.Option(None, "--run", help="Run directory (default: runs/<time>-grade-<input>)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --run; finished gradings are kept."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object (n, metrics, items, calls, tokens)."),
) -> None:
    """Grade a set of proofs M times each and report agreement with the human grades (accuracy, MAE, correlations)."""
    import time

    from model.backends.choose import backend_from_flags
    from report.grade_view import GradeProgress, print_summary
    from verifier.batch import GradeConfig, GradeRun, open_run, read_grades, summarize
    from verifier.grading_input import read_grading_input
    from verifier.prompts import Templates

    if limit is not None and limit < 1:
        raise VerifierError(f"--limit must be at least 1 (got {limit})")
    check_threads(threads)
    items = read_grading_input(input, proofs)[:limit]
    run_dir = run_directory(run, resume, f"grade-{input.stem}")
    config = GradeConfig(verifications=verifications, rubric=rubric, temperature=temperature, top_p=top_p,
                         max_tokens=max_tokens, seed=seed)
    templates = Templates(prompts)
    backend = backend_from_flags(endpoint, model, api_key, local, concurrency=concurrency, timeout=timeout,
                                 threads=threads)
    say_engine(backend)
    config = replace(config, structured=structured_default(structured, backend))
    store = open_run(run_dir, resume, input.name, items, config, backend, templates)
    started = time.monotonic()
    try:
        grader = GradeRun(items, config, backend, store, templates)
        if as_json:
            grader.run()
        else:
            with GradeProgress(console) as progress:
                grader.calls.on_event = progress.event
                grader.run()
        _, grades = read_grades(store)
        out = summarize(grades, store.call_stats(), str(run_dir), time.monotonic() - started)
    except KeyboardInterrupt:
        stop_interrupted(ctx, store, run_dir)
    finally:
        store.close()
    if as_json:
        print_json(out)
    else:
        print_summary(console, out)


@app.command()
@user_errors
def report(run: Path = typer.Argument(..., help="A run directory (from prove or grade)."),
           output: Path | None = typer.Option(None, "-o", "--output", help="HTML file (default: RUN/report.html)."),
           as_json: bool = typer.Option(False, "--json", help="Print what was written as JSON.")) -> None:
    """Write one self-contained HTML report of a run: opens offline from file://, math as MathML."""
    from report.build import render_run

    text, stats = render_run(run)
    target = output or run / "report.html"
    target.write_text(text, encoding="utf-8")
    stats["output"] = str(target)
    if as_json:
        print_json(stats)
    else:
        console.print(f"{escape(str(target))}: {stats['kind']} report, {stats['formulas']} formulas, "
                      f"{stats['unconverted']} shown as source (not converted), {stats['seconds']:.1f} s")


@app.command()
@user_errors
def serve(runs: list[Path] = typer.Argument(..., help="Run directories to browse."),
          port: int = typer.Option(8765, "--port", help="Port (0 picks a free one)."),
          host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; keep loopback unless you mean it."),
          refresh: int = typer.Option(5, "--refresh", help="Seconds between reloads of a run in progress."),
          allow_host: list[str] = typer.Option([], "--allow-host", help="A Host name to answer besides loopback and "
                                               "--host (repeatable; '*': any).")) -> None:
    """Browse runs in a local web browser (read-only): a list of runs, each run's report, live while it runs."""
    from report.serve import make_server

    server = make_server(runs, host, port, refresh, tuple(allow_host))
    host_name, port_number = server.socket.getsockname()[:2]  # the bound address (port 0 picks one)
    console.print(f"serving {len(runs)} run(s) on http://{host_name}:{port_number}/ "
                  "(Ctrl-C stops)", highlight=False)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    app()
