"""Self-contained HTML reports of run stores: a prove run (proof, steps with issues, candidates, usage) or a grade
run (index of items with human and our grades, then each item). One file, no network: CSS and our one small
script are inline, math is MathML, and a Content-Security-Policy lets nothing else run."""
from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from ledger.errors import RunError
from ledger.store import RUNNING, RunStore
from prover.candidate import Candidate, best as best_candidate
from report.grade_view import METRIC_ROWS, fmt as fmt_metric
from report.markup import Renderer
from verifier.batch import read_grades, summarize
from verifier.steps import segment
from verifier.verification import Issue

HERE = Path(__file__).parent
# Our only script: counts script errors and math elements, and the load time, into attributes a test can read.
SCRIPT = ("(function(){var d=document.documentElement;window.addEventListener('error',function(){"
          "d.setAttribute('data-script-errors',String(+(d.getAttribute('data-script-errors')||0)+1))});"
          "document.addEventListener('DOMContentLoaded',function(){d.setAttribute('data-math-elements',"
          "String(document.getElementsByTagName('math').length));d.setAttribute('data-ready','1')});"
          "window.addEventListener('load',function(){d.setAttribute('data-load-ms',String(Math.round("
          "performance.now())))});})();")
SCRIPT_HASH = "sha256-" + base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()

Crumbs = Sequence[tuple[str, str]]  # the breadcrumb trail: (href, label) pairs


def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    return env


_ENV = None


def env() -> Environment:
    global _ENV  # a cache: the templates are parsed once per process
    if _ENV is None:
        _ENV = _env()
    return _ENV


def fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:g}"


def anchor(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "x"


def page(template: str, renderer: Renderer, title: str, refresh: int | None = None, crumbs: Crumbs = (),
         **values: Any) -> str:
    css = (HERE / "static" / "report.css").read_text(encoding="utf-8")
    return env().get_template(template).render(
        title=title, css=Markup(css), script=Markup(SCRIPT), script_hash=SCRIPT_HASH, refresh=refresh,
        crumbs=list(crumbs), math=renderer.stats.to_dict(), fmt=fmt, **values)


# ---- shared pieces ----

def issue_view(issue: Issue, raised_by: list[int], by_label: str) -> dict:
    return {"severity": issue.severity, "description": issue.description, "quote": issue.quote,
            "confirmed": issue.confirmed, "source": issue.source or "model", "evidence": issue.evidence,
            "raised_by": [n for n in raised_by if n], "by_label": by_label, "step": issue.step}


def pinned(steps: list[dict], numbered_issues: list[tuple[int, Issue]], by_label: str, renderer: Renderer,
           proof_text: str, prefix: str, checks: dict[int, list[dict]] | None = None,
           verified: bool = True) -> tuple[list[dict], list[dict]]:
    """Steps rendered with the issues pinned to them (equal issues from several verifications merged), and the
    issues that name no known step. `verified` False (no verification parsed): a step without issues is "not
    verified", never "no issue"."""
    merged: dict[tuple, dict] = {}
    for n, issue in numbered_issues:
        key = (issue.step, issue.severity, issue.quote, issue.description, issue.source, issue.confirmed)
        if key in merged:
            merged[key]["raised_by"].append(n)
        else:
            merged[key] = issue_view(issue, [n], by_label)
    if not steps:
        steps = [{"index": 1, "text": proof_text, "start": 0, "end": len(proof_text)}]
    known = {s["index"] for s in steps}
    by_step: dict[int, list[dict]] = {}
    loose = []
    for view in merged.values():
        if view["step"] in known:
            by_step.setdefault(view["step"], []).append(view)
        else:
            loose.append(view)
    order = {"critical": 0, "gap": 1, "minor": 2}
    rendered = [{"index": s["index"], "anchor": f"{prefix}-step-{s['index']}",
                 "html": Markup(renderer.markdown(s["text"])),
                 "issues": sorted(by_step.get(s["index"], []), key=lambda v: order.get(v["severity"], 3)),
                 "checks": (checks or {}).get(s["index"], []), "verified": verified}
                for s in steps]
    return rendered, loose


def distribution(scores: list[float | None],
                 labels: tuple[float, ...] = (0.0, 0.5, 1.0)) -> list[tuple[str, int, float]]:
    counts = {x: 0 for x in labels}
    unparsed = 0
    for s in scores:
        if s is None:
            unparsed += 1
        else:
            counts[s] = counts.get(s, 0) + 1
    total = max(1, len(scores))
    rows = [(f"score {fmt(k)}", v, v / total) for k, v in sorted(counts.items())]
    rows.append(("no score", unparsed, unparsed / total))
    return rows


def usage_view(store: RunStore, calls: list[dict]) -> dict:
    stats = store.call_stats()
    seconds: dict[str, float] = {}
    for c in calls:
        seconds[c["kind"]] = seconds.get(c["kind"], 0.0) + (c["seconds"] or 0.0)
    rows = []
    for kind, by_status in stats["calls"].items():
        t = stats["tokens"].get(kind, {})
        rows.append({"kind": kind, "calls": ", ".join(f"{v} {k}" for k, v in sorted(by_status.items())),
                     "prompt": t.get("prompt", 0), "cached": t.get("cached", 0), "completion": t.get("completion", 0),
                     "seconds": seconds.get(kind, 0.0)})
    created = store.meta("created_at")
    last = max((c["finished_at"] for c in calls), default=None)
    wall = f"{last - created:.1f} s" if created and last else "-"
    return {"rows": rows, "total_tokens": sum(r["prompt"] + r["completion"] for r in rows), "wall": wall}


# ---- exact checks (symbolic, answer, Lean) ----

RELATIONS = {"==mod": "≡", "!=": "≠", "<=": "≤", ">=": "≥"}


def step_checks(evidence: dict | None) -> dict[int, list[dict]]:
    """The symbolic verdicts of each step's claims (confirmed / refuted; unchecked ones only counted)."""
    out: dict[int, list[dict]] = {}
    for st in (evidence or {}).get("steps", []):
        claims = st.get("claims") or []
        shown = []
        for c in claims:
            if c.get("verdict") not in ("confirmed", "refuted"):
                continue
            cl = c.get("claim") or {}
            relation = cl.get("relation", "?")
            rel = RELATIONS.get(relation, relation)
            text = f"{cl.get('lhs', '').strip()} {rel} {cl.get('rhs', '').strip()}"
            if cl.get("modulus"):
                text += f" (mod {cl['modulus']})"
            shown.append({"verdict": c["verdict"], "text": text, "evidence": c.get("evidence") or "",
                          "method": c.get("method") or ""})
        unchecked = sum(1 for c in claims if c.get("verdict") not in ("confirmed", "refuted"))
        if unchecked:
            shown.append({"verdict": "unchecked", "text": f"{unchecked} claim(s) not checkable", "evidence": "",
                          "method": ""})
        if shown:
            out[st["index"]] = shown
    return out


def run_checks(evidence: dict | None) -> list[dict]:
    """Whole-proof exact checks: the final answer against the known one, and Lean."""
    out = []
    ev = evidence or {}
    if ev.get("answer"):
        a = ev["answer"]
        out.append({"name": "answer", "verdict": a.get("status", "?"),
                    "detail": f"expected {a.get('expected') or '-'}, found {a.get('found') or '-'}"
                              + (f" (step {a['step']})" if a.get("step") else "")
                              + (f"; {a['evidence']}" if a.get("evidence") else "")})
    if ev.get("lean"):
        lean = ev["lean"]
        out.append({"name": "Lean", "verdict": lean.get("status", "?"), "detail": lean.get("reason") or ""})
    if ev.get("claims"):
        c = ev["claims"]
        out.append({"name": "symbolic", "verdict": "refuted" if ev.get("refuted_steps") else "no refutation",
                    "detail": f"{c.get('confirmed', 0)} claims confirmed, {c.get('refuted', 0)} refuted, "
                              f"{c.get('unchecked', 0)} unchecked"
                              + (f"; refuted steps {ev['refuted_steps']}" if ev.get("refuted_steps") else "")})
    return out


# ---- prove runs ----

def prove_page(store: RunStore, renderer: Renderer, refresh: int | None = None, crumbs: Crumbs = ()) -> str:
    config = store.meta("config") or {}
    problem = config.get("problem") or {}
    result = store.meta("result") or {}
    cands = [Candidate.from_dict(d) for d in store.candidates()]
    winner = None
    if result.get("best"):
        winner = next((c for c in cands if c.id == result["best"]), None)
    winner = winner or best_candidate(cands)

    def parsed(c: Candidate) -> bool:
        return any(v.score is not None for v in c.verifications)

    def numbered_of(c: Candidate) -> list[tuple[int, Issue]]:
        own = [(n, i) for n, v in enumerate(c.verifications, 1) for i in v.issues]
        return own + [(0, i) for i in c.exact_issues]  # 0: raised by an exact check, not a verification

    def view(c: Candidate) -> dict:
        steps, loose = pinned([vars(s) for s in c.proof.steps], numbered_of(c), "verification", renderer,
                              c.proof.text, f"cand-{anchor(c.id)}", step_checks(c.evidence), parsed(c))
        return {"id": c.id, "round": c.round, "parent_ids": c.parent_ids, "mean_score": c.mean_score,
                "self_score": c.self_score, "scores": c.scores, "status": c.status, "accepted": c.accepted,
                "steps": steps, "loose": loose}

    views = [view(c) for c in cands]
    best_view = None
    if winner is not None:
        best_view = dict(next(v for v in views if v["id"] == winner.id))
        best_view["steps"], best_view["loose"] = pinned([vars(s) for s in winner.proof.steps], numbered_of(winner),
                                                        "verification", renderer, winner.proof.text, "final",
                                                        step_checks(winner.evidence), parsed(winner))
        best_view["verifications"] = [{"score": v.score, "status": v.status, "meta_score": v.meta_score,
                                       "issues": v.issues, "html": Markup(renderer.markdown(v.analysis))}
                                      for v in winner.verifications]
        best_view["distribution"] = distribution(winner.scores)
        best_view["exact"] = [issue_view(i, [n], "verification") for n, i in numbered_of(winner)
                              if (i.source or "model") != "model"]
        best_view["checks"] = run_checks(winner.evidence)
    rounds = sorted({c.round for c in cands})
    problem_view = {"id": problem.get("id", "?"), "source": problem.get("source", ""),
                    "html": Markup(renderer.markdown(problem.get("statement", "")))}
    usage = usage_view(store, list(store.calls()))
    return page("prove.html.j2", renderer, f"{problem_view['id']} · proofloop", refresh, crumbs,
                problem=problem_view, status=result.get("status") or store.meta("status", "?"), best=best_view,
                candidates=views, rounds=[{"round": r, "candidates": [v for v in views if v["round"] == r]}
                                          for r in rounds],
                distribution=distribution([s for c in cands for s in c.scores]), usage=usage)


# ---- grade runs ----

def grade_page(store: RunStore, renderer: Renderer, refresh: int | None = None, crumbs: Crumbs = ()) -> str:
    config, grades = read_grades(store)
    calls = list(store.calls())
    summary = summarize(grades, store.call_stats(), str(store.directory))
    metrics = []
    if summary["metrics"]:
        m = summary["metrics"]
        metrics = [("items with both grades", str(m["n"]))] + [(label, fmt_metric(m.get(key), kind))
                                                                for key, label, kind in METRIC_ROWS]
    items = []
    for g, s in zip(grades, summary["items"]):
        item = g.item
        proof = segment(item.proof)
        numbered = [(n, i) for n, gr in enumerate(g.gradings, 1) if gr for i in gr.issues]
        steps, loose = pinned([vars(st) for st in proof.steps], numbered, "grading", renderer, item.proof,
                              f"item-{anchor(item.id)}",
                              verified=any(gr is not None and gr.score is not None for gr in g.gradings))
        diff = g.difference
        points = "-" if g.points is None else f"{g.points:.2f}".rstrip("0").rstrip(".")
        items.append({
            "id": item.id, "anchor": anchor(item.id), "problem_id": item.problem.id, "source": item.problem.source,
            "human": "-" if item.human_points is None else f"{item.human_points:g} / {item.max_points}",
            "ours": "-" if g.points is None else f"{points} / {item.max_points}",
            "diff": "-" if diff is None else f"{diff:+.2f}",
            "diff_class": "" if diff is None else ("diff-zero" if abs(diff) < 1e-9 else
                                                   "diff-pos" if diff > 0 else "diff-neg"),
            "majority_class": s["majority_class"], "rubric": g.rubric,
            "scores": " ".join(fmt(x) for x in s["scores"]), "statuses": ", ".join(s["statuses"]),
            "statement": Markup(renderer.markdown(item.problem.statement)),
            "reference": Markup(renderer.markdown(item.problem.reference_solution))
            if item.problem.reference_solution else None,
            "guidelines": Markup(renderer.markdown(item.problem.grading_guidelines))
            if item.problem.grading_guidelines else None,
            "steps": steps, "loose": loose,
            "gradings": [{"label": f"{fmt(gr.score)} · {gr.status}" if gr else "pending",
                          "html": Markup(renderer.markdown(gr.analysis)) if gr else ""} for gr in g.gradings],
        })
    return page("grade.html.j2", renderer, f"grading {config.get('input', '')} · proofloop", refresh, crumbs,
                input=config.get("input", "?"), status=store.meta("status", "?"), summary=summary,
                m=config.get("grade", {}).get("verifications", "?"), metrics=metrics, items=items,
                usage=usage_view(store, calls))


# ---- entry points ----

def run_kind(store: RunStore) -> str:
    return str((store.meta("config") or {}).get("kind", "prove"))  # a str in every config written


def render_run(run_dir: str | Path, refresh: int | None = None, crumbs: Crumbs = ()) -> tuple[str, dict]:
    """(HTML of the run's report, figures about the rendering: formulas, unconverted, seconds)."""
    started = time.perf_counter()
    store = RunStore.open(run_dir)
    try:
        renderer = Renderer()
        live = refresh if store.meta("status") == RUNNING else None
        kind = run_kind(store)
        if kind == "grade":
            text = grade_page(store, renderer, live, crumbs)
        elif kind == "prove":
            text = prove_page(store, renderer, live, crumbs)
        else:
            raise RunError(f"{run_dir}: a run of kind {kind!r}, which has no report")
    finally:
        store.close()
    stats = renderer.stats.to_dict()
    stats["seconds"] = round(time.perf_counter() - started, 3)
    stats["kind"] = kind
    return text, stats
