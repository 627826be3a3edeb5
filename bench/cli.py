"""`proofloop bench ...`: the benchmark commands, each a thin call into this package's module of the same name."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape

from model.errors import ModelError

console = Console()


def positive_ints(value: str, option: str) -> tuple[int, ...]:
    """'1,16' -> (1, 16); ModelError naming the option otherwise."""
    try:
        numbers = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        numbers = ()
    if not numbers or min(numbers) < 1:
        raise ModelError(f"{option} {value!r}: give whole numbers >= 1, comma-separated, like 1,16")
    return numbers


def bench_commands(user_errors: Callable, print_json: Callable) -> typer.Typer:
    """The `bench` command group; user_errors and print_json are the CLI's own (one error line, exit 2; JSON out)."""
    bench_app = typer.Typer(help="Benchmarks that print ratios against a reference measured in the same run.",
                            no_args_is_help=True)

    @bench_app.command("engine")
    @user_errors
    def bench_engine(model: Optional[Path] = typer.Option(None, "--model",  # noqa: UP045 - typer reads Optional
                                                          help="Checkpoint (default: the demo model)."),
                     batch: str = typer.Option("1,16", "--batch", help="Batch sizes, comma-separated."),
                     tokens: int = typer.Option(32, "--tokens", help="New tokens per sequence."),
                     threads: int = typer.Option(1, "--threads", help="CPU threads for both sides (0: torch's "
                                                 "default; on a CPU shared with other work, more than 1 makes "
                                                 "timings erratic)."),
                     as_json: bool = typer.Option(False, "--json", help="Print the measurements as JSON.")) -> None:
        """Decode tokens/s of our engine vs transformers' generate (same checkpoint, dtype and run), and the prefill
        saved by the prefix cache for 16 requests sharing a 512-token prefix."""
        import contextlib

        from bench import engine as bench

        batches = positive_ints(batch, "--batch")
        if tokens < 2:
            raise ModelError("--tokens must be >= 2")
        with contextlib.nullcontext() if as_json else console.status("benchmarking") as status:
            progress = None if status is None else (lambda msg: status.update(msg))
            result = bench.run(model, batches, tokens, threads=threads or None, progress=progress)
        if as_json:
            print_json(result)
        else:
            console.print(escape(bench.render(result)), highlight=False)


    @bench_app.command("dsa")
    @user_errors
    def bench_dsa(context: str = typer.Option("4k,16k,32k", "--context", help="Context lengths, comma-separated."),
                  heads: int = typer.Option(128, "--heads", help="Attention heads (V3.2 has 128)."),
                  topk: int = typer.Option(2048, "--topk", help="Tokens the indexer selects."),
                  threads: int = typer.Option(1, "--threads", help="CPU threads (0: torch's default)."),
                  as_json: bool = typer.Option(False, "--json", help="Print the measurements as JSON.")) -> None:
        """Time one decode step's attention: DSA (indexer + top-k + sparse MLA) vs dense MLA, at each context length."""
        from bench import dsa as bench

        try:
            contexts = bench.parse_context(context)
        except ValueError as e:
            raise ModelError(f"--context: {e}") from None
        if not contexts or heads < 1 or topk < 1:
            raise ModelError("--context needs at least one length; --heads and --topk must be >= 1")
        result = bench.run(contexts, heads=heads, topk=topk, threads=threads or None)
        if as_json:
            print_json(result)
        else:
            console.print(escape(bench.render(result)), highlight=False)


    @bench_app.command("cpu")
    @user_errors
    def bench_cpu(batch: str = typer.Option("1,8,16,32", "--batch", help="GEMM row counts, comma-separated."),
                  context: str = typer.Option("128,1024,4096", "--context", help="Attention lengths, comma-separated."),
                  threads: int = typer.Option(1, "--threads", help="CPU threads (0: torch's default)."),
                  as_json: bool = typer.Option(False, "--json", help="Print the measurements as JSON.")) -> None:
        """Time our C++ CPU decode kernels against torch in their place: the GEMM on the demo model's shapes vs oneDNN
        and F.linear, and paged decode attention vs gather + SDPA."""
        from bench import cpu as bench

        batches, contexts = positive_ints(batch, "--batch"), positive_ints(context, "--context")
        with console.status("benchmarking the CPU kernels"):
            result = bench.run(batches, contexts, threads=threads or None)
        if as_json:
            print_json(result)
        else:
            console.print(escape(bench.render(result)), highlight=False)


    @bench_app.command("kernels")
    @user_errors
    def bench_kernels(quick: bool = typer.Option(False, "--quick", help="Fewer shapes and shorter timing runs."),
                      as_json: bool = typer.Option(False, "--json", help="Print the measurements as JSON.")) -> None:
        """Time each Triton kernel against its PyTorch reference and torch's best equivalent: ms, GB/s, TFLOP/s and
        fraction of the GPU's peak. Needs CUDA; without it, checks each kernel once under the CPU interpreter."""
        import contextlib

        from bench import kernels as bench

        with contextlib.nullcontext() if as_json else console.status("benchmarking kernels") as status:
            progress = None if status is None else (lambda msg: status.update(f"benchmarking {msg}"))
            result = bench.run(quick=quick, progress=progress)
        if as_json:
            print_json(result)
            return
        if not result["cuda"]:
            console.print("[yellow]No CUDA device: kernel timings need a GPU. Ran the interpreter smoke check instead."
                          "[/yellow]")
        console.print(bench.render(result))

    @bench_app.command("structured")
    @user_errors
    def bench_structured(model: str = typer.Option("demo", "--model", help="A checkpoint, a GGUF file, or an "
                                                   "embedded model's name."),
                         batch: int = typer.Option(4, "--batch", help="Requests decoded together."),
                         tokens: int = typer.Option(96, "--tokens", help="Token budget of each answer."),
                         repeats: int = typer.Option(3, "--repeats", help="Timed rounds of each side."),
                         as_json: bool = typer.Option(False, "--json", help="Print the measurements as JSON.")) -> None:
        """Time per token of grammar-constrained decoding vs free decoding, same engine and requests."""
        from bench import structured as bench

        if min(batch, tokens, repeats) < 1:
            raise ModelError("--batch, --tokens and --repeats must be >= 1")
        with console.status("benchmarking structured decoding"):
            result = bench.run(model, batch, tokens, repeats)
        if as_json:
            print_json(result)
        else:
            console.print(escape(bench.render(result)), highlight=False)

    @bench_app.command("demo-model")
    @user_errors
    def bench_demo_model(model: str = typer.Option("demo", "--model", help="A checkpoint directory, a GGUF file, "
                                                   "or 'demo' (the embedded default)."),
                         samples: int = typer.Option(2, "--samples", help="Samples per problem and proof."),
                         problems: int = typer.Option(6, "--problems", help="How many easy-set problems."),
                         max_tokens: int = typer.Option(512, "--max-tokens", help="Token budget of each answer."),
                         as_json: bool = typer.Option(False, "--json", help="Print the measurements as JSON.")) -> None:
        """A candidate embedded model on the easy set: parse rates with and without structured outputs, mean
        verifier score on correct vs planted-error proofs, load time, memory, decode speed."""
        import contextlib

        from bench import demo_model as bench

        if min(samples, problems, max_tokens) < 1:
            raise ModelError("--samples, --problems and --max-tokens must be >= 1")
        checkpoint = model
        if model.endswith(".gguf"):
            from model.gguf_import import convert

            checkpoint = str(convert(model))
        with contextlib.nullcontext() if as_json else console.status("benchmarking") as status:
            progress = None if status is None else (lambda msg: status.update(msg))
            result = bench.run(checkpoint, samples, max_tokens, problems, progress=progress)
        if as_json:
            print_json(result)
        else:
            console.print(escape(bench.render(result)), highlight=False)

    return bench_app
