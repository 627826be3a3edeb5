"""Read problems from a file: Markdown, JSON / JSONL (DeepSeekMath-V2 formats) or CSV (IMO-Bench formats).

Formats, chosen by the file's extension:
- `.md`, `.markdown`, `.txt`: one problem; the text is the statement. Optional front matter between `---` lines
  with `key: value` lines for id, answer, source, max_points (our own small parser; `|` starts an indented block).
  Without an `id`, the file's stem is the id.
- `.json`: a list of objects (or one object). DeepSeekMath-V2 inputs `{id, question, answer, contest, problem_idx}`
  and outputs `{question, problem_idx, model_prediction, solution?, grading guidelines?, level?, type?, source?}`;
  a generic `{id?, problem | statement, reference_solution?, grading_guidelines?, answer?, max_points?}` too
  (without an id, a record's id is its number in the file, from 1).
- `.jsonl`: one such object per line.
- `.csv`: IMO-Bench columns `Problem ID, Problem` plus any of `Solution, Grading guidelines, Short Answer, Source,
  Lean Statement` (IMO-ProofBench, IMO-AnswerBench, lean_proof_bench, GradingBench). Rows repeating a Problem ID
  (GradingBench grades many responses per problem) give one problem.
"""
from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from problems.errors import ProblemError
from problems.problem import Problem
from problems.textfile import read_text_file

MARKDOWN_SUFFIXES = (".md", ".markdown", ".txt")
SUFFIXES = MARKDOWN_SUFFIXES + (".json", ".jsonl", ".csv")
FRONT_MATTER_KEYS = ("id", "answer", "source", "max_points")
CSV_REQUIRED = ("Problem ID", "Problem")
CSV_OPTIONAL = ("Solution", "Grading guidelines", "Short Answer", "Source", "Lean Statement")

# Full marks per contest, by the prefix of a DeepSeekMath-V2 problem_idx (IMO2025-1, PB-Basic-001, ...).
CONTEST_MAX_POINTS = {"IMO": 7, "PB": 7, "CMO": 21, "Putnam": 10}


def contest_max_points(problem_idx: str) -> int | None:
    """Full marks for a DeepSeekMath-V2 / IMO-Bench problem id: IMO and ProofBench 7, CMO 21, Putnam 10."""
    m = re.match(r"[A-Za-z]+", problem_idx or "")
    return CONTEST_MAX_POINTS.get(m.group()) if m else None


def contest_source(problem_idx: str) -> str:
    """`IMO2025-1` -> `IMO 2025, P1`; `Putnam2024-A1` -> `Putnam 2024, A1`; anything else unchanged."""
    m = re.fullmatch(r"([A-Za-z]+)(\d{4})-(\w+)", problem_idx or "")
    if not m:
        return problem_idx or ""
    name, year, num = m.groups()
    return f"{name} {year}, {'P' + num if num.isdigit() else num}"


def load_file(path: str | Path) -> list[Problem]:
    """All problems in one file, in file order; a ProblemError names the file and what is wrong."""
    path = Path(path)
    text = read_text(path)
    suffix = path.suffix.lower()
    if suffix in MARKDOWN_SUFFIXES:
        return [parse_markdown(text, path)]
    if suffix == ".json":
        return _from_records(_json_records(text, path), path)
    if suffix == ".jsonl":
        return _from_records(_jsonl_records(text, path), path)
    if suffix == ".csv":
        return parse_csv(text, path)
    raise ProblemError(f"{path}: unknown problem file type '{path.suffix}'; use one of {', '.join(SUFFIXES)}")


MAX_PROBLEM_FILE_BYTES = 32 << 20  # 32 MiB: several times the largest benchmark file; refused before reading


def read_text(path: Path) -> str:
    if path.is_file() and path.stat().st_size > MAX_PROBLEM_FILE_BYTES:
        size = path.stat().st_size / (1 << 20)
        raise ProblemError(f"problem file {path} is {size:.0f} MiB, over the 32 MiB limit; split it into smaller "
                           "files (or keep only the problems you need)")
    return read_text_file(path, "problem file", "a text file (.md, .json, .jsonl or .csv)",
                          missing_hint="check the path, or name a bundled problem as SET/ID "
                                       "(see `proofloop problems list`)",
                          empty_hint="write the problem statement into it")


# ---- Markdown ----

def parse_markdown(text: str, path: Path) -> Problem:
    """One problem: optional front matter, then the statement."""
    meta: dict[str, str] = {}
    body = text
    if text.startswith("---\n") or text.strip() == "---":
        lines = text.split("\n")
        try:
            end = next(i for i in range(1, len(lines)) if lines[i].rstrip() == "---")
        except StopIteration:
            raise ProblemError(f"{path}: front matter opened with '---' on line 1 is never closed; "
                               "end it with a line '---'") from None
        meta = parse_front_matter(lines[1:end], path, first_line=2)
        body = "\n".join(lines[end + 1:])
    statement = body.strip()
    if not statement:
        raise ProblemError(f"{path}: no problem statement after the front matter; write the statement below it")
    max_points = None
    if meta.get("max_points"):
        try:
            max_points = int(meta["max_points"])
        except ValueError:
            raise ProblemError(f"{path}: max_points must be a whole number, got '{meta['max_points']}'") from None
    return Problem(id=meta.get("id") or path.stem, statement=statement, answer=meta.get("answer") or None,
                   source=meta.get("source", ""), max_points=max_points)


def parse_front_matter(lines: list[str], path: Path, first_line: int = 1) -> dict[str, str]:
    """`key: value` lines; values may be quoted; `key: |` takes the indented lines below it; `#` starts a comment."""
    meta: dict[str, str] = {}
    i = 0
    while i < len(lines):
        line, lineno = lines[i], first_line + i
        i += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = re.fullmatch(r"([A-Za-z_][\w-]*)\s*:\s*(.*?)\s*", line)
        if not m:
            raise ProblemError(f"{path}, line {lineno}: front matter line is not 'key: value': {line.strip()!r}")
        key, value = m.group(1).lower(), m.group(2)
        if key not in FRONT_MATTER_KEYS:
            raise ProblemError(f"{path}, line {lineno}: unknown front matter key '{key}'; "
                               f"known keys: {', '.join(FRONT_MATTER_KEYS)}")
        if value in ("|", ">"):
            block = []
            while i < len(lines) and (not lines[i].strip() or lines[i][:1] in " \t"):
                block.append(lines[i])
                i += 1
            indent = min((len(b) - len(b.lstrip()) for b in block if b.strip()), default=0)
            parts = [b[indent:] for b in block]
            value = ("\n" if value == "|" else " ").join(parts).strip()
        else:
            value = _unquote(value, path, lineno)
        meta[key] = value
    return meta


def _unquote(value: str, path: Path, lineno: int) -> str:
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1].replace("''", "'")
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            return str(json.loads(value))
        except json.JSONDecodeError:
            return value[1:-1]
    if value[:1] in ("'", '"'):
        raise ProblemError(f"{path}, line {lineno}: quote opened but not closed: {value!r}")
    return re.sub(r"\s+#.*$", "", value)  # a trailing comment


# ---- JSON / JSONL ----

def _json_records(text: str, path: Path) -> list[tuple[int | None, object]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ProblemError(f"{path}: malformed JSON at line {e.lineno}, column {e.colno}: {e.msg}; "
                           "fix the file (a .jsonl file holds one object per line)") from None
    items = data if isinstance(data, list) else [data]
    return [(None, item) for item in items]


def _jsonl_records(text: str, path: Path) -> list[tuple[int | None, object]]:
    records: list[tuple[int | None, object]] = []
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            records.append((lineno, json.loads(line)))
        except json.JSONDecodeError as e:
            raise ProblemError(f"{path}: malformed JSON on line {lineno} (column {e.colno}: {e.msg}); "
                               "each line must be one JSON object") from None
    return records


def _from_records(records: list[tuple[int | None, object]], path: Path) -> list[Problem]:
    if not records:
        raise ProblemError(f"{path}: no problems in the file (an empty list); add at least one")
    problems = []
    for n, (lineno, item) in enumerate(records, 1):
        where = f"{path}, line {lineno}" if lineno is not None else f"{path}, item {n}"
        if not isinstance(item, dict):
            raise ProblemError(f"{where}: expected a JSON object, got {type(item).__name__}")
        problems.append(problem_from_record(item, where, default_id=str(n)))
    return _unique(problems, path)


def problem_from_record(item: dict, where: str = "record", default_id: str | None = None) -> Problem:
    """One Problem from a DeepSeekMath-V2 inputs/outputs object or a generic {problem | statement, ...} object.

    The id is `problem_idx`, else `id`, else default_id (the loader passes the record's number, from 1).
    """
    statement = _text(item.get("question", item.get("problem", item.get("statement"))))
    if not statement:
        raise ProblemError(f"{where}: no problem statement; expected a 'question' (DeepSeekMath-V2), "
                           "'problem' or 'statement' field")
    idx = _text(item.get("problem_idx")) or _text(item.get("id")) or default_id
    if not idx:
        raise ProblemError(f"{where}: no problem id; add a 'problem_idx' or 'id' field")
    max_points = item.get("max_points")
    if max_points is None:
        max_points = contest_max_points(idx)
    try:
        max_points = int(max_points) if max_points is not None else None
    except (TypeError, ValueError):
        raise ProblemError(f"{where}: max_points must be a whole number, got {max_points!r}") from None
    return Problem(
        id=idx,
        statement=statement,
        reference_solution=_text(item.get("solution", item.get("reference_solution"))),
        grading_guidelines=_text(item.get("grading guidelines", item.get("grading_guidelines"))),
        answer=_text(item.get("answer")),
        source=_text(item.get("source")) or (contest_source(idx) if item.get("contest") or contest_max_points(idx)
                                             else ""),
        max_points=max_points,
    )


def _text(value: object) -> str | None:
    """A field's text, with JSON null, the string 'null' (DeepSeekMath-V2's no-answer marker) and '' as None."""
    if value is None:
        return None
    value = str(value).strip()
    return None if value in ("", "null", "None") else value


# ---- CSV ----

def parse_csv(text: str, path: Path) -> list[Problem]:
    """IMO-Bench CSV rows -> problems (ProofBench rows get max_points 7)."""
    csv.field_size_limit(1 << 30)
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        columns = [c.strip() for c in reader.fieldnames or []]
        missing = [c for c in CSV_REQUIRED if c not in columns]
        if missing:
            raise ProblemError(
                f"{path}: CSV lacks the column(s) {', '.join(repr(c) for c in missing)}; an IMO-Bench CSV has "
                f"'Problem ID', 'Problem' and optionally {', '.join(repr(c) for c in CSV_OPTIONAL)} "
                f"(found: {', '.join(repr(c) for c in columns) or 'no header'})")
        rows = [{(k or "").strip(): v for k, v in row.items()} for row in reader]
    except csv.Error as e:
        raise ProblemError(f"{path}: malformed CSV: {e}; check quoting") from None
    proof_bench = "Grading guidelines" in columns or "Solution" in columns
    problems = []
    for lineno, row in enumerate(rows, 2):
        pid, statement = _text(row.get("Problem ID")), _text(row.get("Problem"))
        if not pid or not statement:
            raise ProblemError(f"{path}, row {lineno}: empty {'Problem ID' if not pid else 'Problem'}; "
                               "every row needs both")
        problems.append(Problem(
            id=pid,
            statement=statement,
            reference_solution=_text(row.get("Solution")),
            grading_guidelines=_text(row.get("Grading guidelines")),
            answer=_text(row.get("Short Answer")),
            source=_text(row.get("Source")) or _text(row.get("Problem Source")) or "",
            max_points=7 if proof_bench else None,
            lean_statement=_text(row.get("Lean Statement")),
        ))
    if not problems:
        raise ProblemError(f"{path}: CSV has a header but no rows; add at least one problem")
    return _unique(problems, path)


def _unique(problems: list[Problem], path: Path) -> list[Problem]:
    """Drop repeats of an id with the same statement; two different statements under one id are an error."""
    seen: dict[str, Problem] = {}
    for p in problems:
        if p.id in seen:
            if seen[p.id].statement != p.statement:
                raise ProblemError(f"{path}: id '{p.id}' is used by two different problems; give each its own id")
            continue
        seen[p.id] = p
    return list(seen.values())
