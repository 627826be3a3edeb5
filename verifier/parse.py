"""Turning a verifier's or meta-verifier's text into a Verification: issues pinned to steps and a score.

Model output is untrusted and often sloppy: headings vary, severities are bolded or bracketed, quotes use any
quote marks. What cannot be read is kept with its status (unparsed / truncated / error), never dropped.
"""
from __future__ import annotations

import re

from model.backends.backend import Completion
from verifier.proof import Proof
from verifier.scores import last_score
from verifier.steps import locate
from verifier.verification import Issue, Verification

SEVERITY_WORDS = {
    "critical": "critical", "fatal": "critical", "major": "critical", "error": "critical", "false": "critical",
    "gap": "gap", "justification gap": "gap", "incomplete": "gap", "unjustified": "gap",
    "minor": "minor", "typo": "minor", "cosmetic": "minor",
}
_SEV = "|".join(sorted((re.escape(w) for w in SEVERITY_WORDS), key=len, reverse=True))
# "- [critical] "quote" : description", "1. **Gap**: `quote` - description", "* (minor) ..."
ISSUE_LINE = re.compile(
    rf"^\s*(?:[-*+•]|\d+[.)])?\s*(?:\*\*|__)?\s*[\[(]?\s*(?P<sev>{_SEV})\s*[\])]?\s*(?:\*\*|__)?\s*[:\-–—]?\s*(?P<rest>.*)$",
    re.IGNORECASE)
QUOTED = re.compile(r'"(?P<a>[^"]+)"|“(?P<b>[^”]+)”|`(?P<c>[^`]+)`|«(?P<d>[^»]+)»|\'\'(?P<e>.+?)\'\'')
HEADING = re.compile(r"^\s*(?:#{1,6}\s*|\*\*|__)?\s*(?P<name>[A-Za-z][A-Za-z \-]{1,40}?)\s*:?\s*(?:\*\*|__)?\s*:?\s*$")
META_LINE = re.compile(
    r"issue\s*#?\s*(?P<n>\d+)\s*(?:\*\*|__)?\s*[:.\-–—]?\s*(?:\*\*|__)?\s*(?:is\s+)?"
    r"(?P<verdict>invalid|not valid|unfounded|incorrect|wrong|valid|real|correct|confirmed)",
    re.IGNORECASE)
NEGATIVE = {"invalid", "not valid", "unfounded", "incorrect", "wrong"}


def usage_of(completion: Completion) -> dict:
    return {"prompt_tokens": completion.prompt_tokens, "cached_tokens": completion.cached_tokens,
            "completion_tokens": completion.completion_tokens, "seconds": round(completion.seconds, 3),
            "finish_reason": completion.finish_reason}


def status_of(completion: Completion, score: float | None) -> str:
    if completion.finish_reason == "error":
        return "error"
    if completion.finish_reason == "length":
        return "truncated"
    return "ok" if score is not None else "unparsed"


def section(text: str, names: tuple[str, ...], stop_names: tuple[str, ...]) -> str | None:
    """The lines under the first heading called one of `names`, up to a heading called one of `stop_names`."""
    lines = text.splitlines()
    start = None
    for i, line in enumerate(lines):
        m = HEADING.match(line)
        if not m:
            continue
        name = m.group("name").strip().lower()
        if start is None and name in names:
            start = i + 1
        elif start is not None and name in stop_names:
            return "\n".join(lines[start:i])
    return "\n".join(lines[start:]) if start is not None else None


def parse_issues(text: str, proof: Proof) -> list[Issue]:
    body = section(text, ("issues", "issue list", "list of issues", "detailed verification", "findings"),
                   ("score", "final score", "summary", "overall score", "conclusion", "evaluation"))
    if body is None:
        body = text
    issues: list[Issue] = []
    for line in body.splitlines():
        m = ISSUE_LINE.match(line)
        if m:
            rest = m.group("rest").strip()
            q = QUOTED.search(rest)
            quote = next((g for g in q.groups() if g), None) if q else None
            description = rest[q.end():].lstrip(" :-–—.,") if q else rest
            step = locate(proof, quote) if quote else None
            issues.append(Issue(severity=SEVERITY_WORDS[m.group("sev").lower()], description=description.strip(),
                                step=step.index if step else None, quote=quote))
        elif issues and line.strip() and not HEADING.match(line) and line.startswith((" ", "\t")):
            issues[-1].description = (issues[-1].description + " " + line.strip()).strip()
    return issues


def parse_verification(completion: Completion, proof: Proof) -> Verification:
    if completion.finish_reason == "error":
        return Verification(score=None, analysis=completion.error or completion.text, status="error",
                            usage=usage_of(completion))
    score = last_score(completion.text)
    status = status_of(completion, score)
    return Verification(score=score if status == "ok" else None, issues=parse_issues(completion.text, proof),
                        analysis=completion.text, status=status, usage=usage_of(completion))


def parse_meta(completion: Completion) -> tuple[float | None, dict[int, bool], str]:
    """(rating of the report, {issue number: valid?}, status) from a meta-verifier's answer."""
    if completion.finish_reason == "error":
        return None, {}, "error"
    rating = last_score(completion.text)
    verdicts: dict[int, bool] = {}
    for m in META_LINE.finditer(completion.text):
        verdicts.setdefault(int(m.group("n")), m.group("verdict").lower() not in NEGATIVE)
    return (rating if completion.finish_reason != "length" else None), verdicts, status_of(completion, rating)


def apply_meta(verification: Verification, rating: float | None, verdicts: dict[int, bool]) -> None:
    """Mark each issue confirmed or not: its own verdict when given, else the report's overall rating."""
    verification.meta_score = rating
    for n, issue in enumerate(verification.issues, start=1):
        if n in verdicts:
            issue.confirmed = verdicts[n]
        elif rating is not None:
            issue.confirmed = rating >= 0.5
