"""proofloop: prove competition problems, grade proofs, and run the local engine, from the terminal.

Thin by design: each command turns flags into a config, makes one call into a package, and renders the result
(rich for people, --json for scripts). Errors from the packages become one red line and exit code 2.
"""
from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape

from model.errors import ModelError
from problems.errors import ProblemError
from verifier.errors import VerifierError

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
problems_app = typer.Typer(help="List and show bundled problem sets.", no_args_is_help=True)
model_app = typer.Typer(help="Inspect and serve local checkpoints.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks that print ratios against a reference measured in the same run.",
                        no_args_is_help=True)
app.add_typer(problems_app, name="problems")
app.add_typer(model_app, name="model")
app.add_typer(bench_app, name="bench")

console = Console()
err_console = Console(stderr=True)

# Every package's own error class; anything else is a bug and keeps its traceback.
USER_ERRORS: tuple[type[Exception], ...] = (ProblemError, ModelError, VerifierError)


def user_errors(fn):
    """Turn a package error into one red line and exit code 2 (traceback with PROOFLOOP_DEBUG=1)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except USER_ERRORS as e:
            if os.environ.get("PROOFLOOP_DEBUG"):
                raise
            err_console.print(f"[red]error:[/red] {escape(str(e))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2)

    return wrapper


def print_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


# ---- commands are added below, one function each ----


if __name__ == "__main__":
    app()
