"""Turning a verifier's or meta-verifier's text into a Verification: issues pinned to steps and a score.

Model output is untrusted and often sloppy: headings vary, severities are bolded or bracketed, quotes use any
quote marks. What cannot be read is kept with its status (unparsed / truncated / error / rubric_mismatch), never
dropped. Issues are read in four forms:
- one line each, severity first: `- [critical] "quote" : why`, `1. **Gap**: `quote` - why`, `* (minor) ...`;
- one line each, severity after the quote: `- "quote" (critical): why`, `- "quote" - gap - why`;
- a category for severity: `- **Logical error**: "quote" ...`, `- [Justification gap] ...`;
- field blocks (DeepSeekMath-V2 style): `**Issue 1**` / `Location: "quote"` / `Issue: why` /
  `Classification: Critical Error`, and a JSON list of objects with such fields.
Whether the answer said anything about issues is kept apart from the list (issues_status): `found`, `none_found`
(it says there are none), `none_reported` (it says nothing) or `unparsed` (an issues section we could not read).
Every regex here is possessive or bounded, and lines are cut before matching, so the cost is linear in the text.
"""
from __future__ import annotations

import json
import re

from ledger.calls import completion_status
from model.backends.backend import Completion
from verifier.proof import Proof
from verifier.scores import read_verdict
from verifier.shapes import answer_text
from verifier.steps import anchor
from verifier.verification import Issue, Verification

SEVERITY_WORDS = {
    "critical": "critical", "fatal": "critical", "major": "critical", "error": "critical", "false": "critical",
    "gap": "gap", "justification gap": "gap", "incomplete": "gap", "unjustified": "gap",
    "minor": "minor", "typo": "minor", "cosmetic": "minor",
    # categories that name a severity
    "critical error": "critical", "logical error": "critical", "logic error": "critical",
    "calculation error": "critical", "computational error": "critical", "computation error": "critical",
    "arithmetic error": "critical", "algebraic error": "critical", "factual error": "critical",
    "mathematical error": "critical", "false claim": "critical", "incorrect claim": "critical",
    "wrong claim": "critical", "invalid step": "critical", "invalid reasoning": "critical",
    "circular reasoning": "critical", "wrong answer": "critical", "incorrect answer": "critical",
    "missing justification": "gap", "missing step": "gap", "missing case": "gap", "missing cases": "gap",
    "unjustified claim": "gap", "unjustified step": "gap", "incomplete argument": "gap", "incomplete proof": "gap",
    "insufficient justification": "gap", "lack of rigor": "gap", "lack of rigour": "gap", "unproven claim": "gap",
    "minor error": "minor", "minor issue": "minor", "notation error": "minor", "notation issue": "minor",
    "notational issue": "minor", "presentation issue": "minor", "clarity issue": "minor", "style issue": "minor",
}
_SEV = "|".join(sorted((re.escape(w) for w in SEVERITY_WORDS), key=len, reverse=True))
_SEV_SEARCH = re.compile(rf"\b(?:{_SEV})\b", re.IGNORECASE)
MAX_LINE = 400  # the head of a line that the line patterns look at; a quote is searched in the first QUOTE_SPAN
QUOTE_SPAN = 4000
MAX_JSON = 200_000  # a JSON list of issues longer than this is not read
# "- [critical] "quote" : description", "1. **Gap**: `quote` - description", "* (minor) ..."
ISSUE_LINE = re.compile(
    rf"^\s*+(?:[-*+•]|\d{{1,3}}[.)])?\s*+(?:\*\*|__)?\s*+[\[(]?\s*+(?P<sev>{_SEV})\b\s*+[\])]?\s*+(?:\*\*|__)?"
    rf"\s*+[:\-–—]?\s*+(?P<rest>.*)$",
    re.IGNORECASE)
# "- "quote" (critical): description", "- `quote` — gap — description"
QUOTE_FIRST = re.compile(
    r'^\s*+(?:[-*+•]|\d{1,3}[.)])\s*+(?:\*\*|__)?\s*+(?P<q>"[^"]++"|“[^”]++”|`[^`]++`|«[^»]++»)\s*+(?:\*\*|__)?'
    rf"\s*+[:\-–—,]?\s*+[\[(]?\s*+(?:\*\*|__)?\s*+(?P<sev>{_SEV})\b\s*+(?:\*\*|__)?\s*+[\])]?\s*+[:\-–—.,]?"
    r"\s*+(?P<rest>.*)$",
    re.IGNORECASE)
QUOTED = re.compile(r'"(?P<a>[^"]++)"|“(?P<b>[^”]++)”|`(?P<c>[^`]++)`|«(?P<d>[^»]++)»|\'\'(?P<e>[^\']++)\'\'')
HEADING = re.compile(
    r"^\s*+(?:#{1,6}\s*+|\*\*|__)?\s*+(?P<name>[A-Za-z][A-Za-z \-]{1,40}?)\s*+:?\s*+(?:\*\*|__)?\s*+:?\s*+$")
# "**Location:** ...", "* Classification: Critical Error", "Issue: ..."; "**Issue 2:**" alone opens a block
FIELD = re.compile(
    r"^\s*+(?:[-*+•]|\d{1,3}[.)])?\s*+(?:\*\*|__)?\s*+(?P<field>location|quote|quoted text|excerpt|issue|problem|"
    r"description|explanation|reason|classification|severity|type|category|kind)(?:\s*+#?\s*+\d{1,3})?\s*+"
    r"(?:\*\*|__)?\s*+[:：]\s*+(?:\*\*|__)?\s*+(?P<value>.*)$",
    re.IGNORECASE)
BLOCK_HEAD = re.compile(r"^\s*+(?:#{1,6}\s*+)?(?:\*\*|__)?\s*+(?:issue|finding|error|problem)\s*+#?\s*+\d{1,3}\s*+"
                        r"(?:\*\*|__)?\s*+[:.)]?\s*+(?:\*\*|__)?\s*+$", re.IGNORECASE)
_FIELD_ROLE = {"location": "quote", "quote": "quote", "quoted text": "quote", "excerpt": "quote",
               "issue": "description", "problem": "description", "description": "description",
               "explanation": "description", "reason": "description",
               "classification": "severity", "severity": "severity", "type": "severity", "category": "severity",
               "kind": "severity"}
NONE_STATEMENT = re.compile(
    r"^\W*+(?:none|nil|n/a|no (?:issues?|errors?|problems?|gaps?|mistakes?|flaws?)(?: (?:were |was )?(?:found|"
    r"identified|detected))?|there (?:are|were) no (?:issues?|errors?|problems?|gaps?)(?: in the proof)?|"
    r"(?:i )?found no (?:issues?|errors?|problems?|gaps?)|nothing to report)\b[\W]*+$",
    re.IGNORECASE)
META_LINE = re.compile(
    r"issue\s*+#?\s*+(?P<n>\d{1,4})\s*+(?:\*\*|__)?\s*+[:.\-–—]?\s*+(?:\*\*|__)?\s*+(?:is\s++)?"
    r"(?P<verdict>invalid|not valid|unfounded|incorrect|wrong|valid|real|correct|confirmed)",
    re.IGNORECASE)
NEGATIVE = {"invalid", "not valid", "unfounded", "incorrect", "wrong"}
ISSUE_SECTIONS = ("issues", "issue list", "list of issues", "detailed verification", "findings", "list of findings",
                  "detailed verification log", "errors", "problems", "issues found")
AFTER_ISSUES = ("score", "final score", "summary", "overall score", "conclusion", "evaluation", "points",
                "final rating", "rating", "verdict", "final verdict")


def usage_of(completion: Completion) -> dict:
    return {"prompt_tokens": completion.prompt_tokens, "cached_tokens": completion.cached_tokens,
            "completion_tokens": completion.completion_tokens, "seconds": round(completion.seconds, 3),
            "finish_reason": completion.finish_reason}


def section(text: str, names: tuple[str, ...], stop_names: tuple[str, ...]) -> str | None:
    """The lines under the first heading called one of `names`, up to a heading called one of `stop_names`."""
    lines = text.splitlines()
    start = None
    for i, line in enumerate(lines):
        m = HEADING.match(line[:MAX_LINE]) if len(line) <= MAX_LINE else None
        if not m:
            continue
        name = m.group("name").strip().lower()
        if start is None and name in names:
            start = i + 1
        elif start is not None and name in stop_names:
            return "\n".join(lines[start:i])
    return "\n".join(lines[start:]) if start is not None else None


def _severity(text: str) -> str | None:
    m = _SEV_SEARCH.search(text[:MAX_LINE])
    return SEVERITY_WORDS[" ".join(m.group(0).lower().split())] if m else None


def _quote_in(text: str) -> tuple[str | None, str]:
    """(the first quoted passage, the text after it) of a line's rest."""
    q = QUOTED.search(text[:QUOTE_SPAN])
    if not q:
        return None, text
    return next(g for g in q.groups() if g), text[q.end():]


def _issue(proof: Proof | None, severity: str, description: str, quote: str | None) -> Issue:
    step, how = anchor(proof, quote) if proof is not None and quote else (None, None)
    return Issue(severity=severity, description=description.strip(), step=step.index if step else None,
                 quote=quote, anchor=how)


def fenced_blocks(text: str) -> list[str]:
    """The contents of the ``` fenced blocks of a text, in one pass over its lines (an unclosed fence runs to the
    end)."""
    blocks: list[str] = []
    cur: list[str] | None = None
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            if cur is None:
                cur = []
            else:
                blocks.append("\n".join(cur))
                cur = None
        elif cur is not None:
            cur.append(line)
    if cur is not None:
        blocks.append("\n".join(cur))
    return blocks


def _json_issues(text: str, proof: Proof | None) -> list[Issue] | None:
    """Issues from a JSON list in the text (a ```json block, or the whole answer); None when there is none."""
    candidates = fenced_blocks(text)
    stripped = text.strip()
    if stripped.startswith("[") or stripped.startswith("{"):
        candidates.append(stripped)
    for raw in candidates:
        if len(raw) > MAX_JSON or not raw.lstrip().startswith(("[", "{")):
            continue
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            continue
        if isinstance(data, dict):
            data = next((v for k, v in data.items() if str(k).lower() in ("issues", "findings", "errors")), None)
        if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
            continue
        out = []
        for d in data:
            fields = {str(k).lower(): v for k, v in d.items() if isinstance(v, str | int | float)}
            sev = next((_severity(str(fields[k])) for k in ("severity", "classification", "type", "category", "kind")
                        if k in fields and _severity(str(fields[k]))), None)
            quote = next((str(fields[k]) for k in ("quote", "location", "excerpt", "quoted_text") if k in fields),
                         None)
            desc = next((str(fields[k]) for k in ("description", "issue", "explanation", "reason", "problem")
                         if k in fields), "")
            out.append(_issue(proof, sev or "gap", desc, quote.strip('"“”`') if quote else None))
        return out
    return None


class _Block:
    """The fields of one field-block issue, gathered line by line."""

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}

    def add(self, role: str, value: str) -> None:
        self.fields[role] = (self.fields.get(role, "") + " " + value).strip()

    def issue(self, proof: Proof | None) -> Issue | None:
        # one field alone ("Problem: ..." restating the problem) is not an issue: a block names at least two
        if len(self.fields) < 2 or not (self.fields.get("description") or self.fields.get("quote")):
            return None
        desc = self.fields.get("description", "")
        sev = _severity(self.fields.get("severity", "")) or _severity(desc[:60]) or "gap"
        quote, _ = _quote_in(self.fields.get("quote", ""))
        if quote is None and self.fields.get("quote") and not re.match(r"(?i)\W*(?:step|line|paragraph|part|"
                                                                        r"section|case|lemma|claim)\b",
                                                                        self.fields["quote"]):
            quote = self.fields["quote"].strip(" *_")
        return _issue(proof, sev, desc, quote)


def read_issues(text: str, proof: Proof | None) -> tuple[list[Issue], str]:
    """(issues, issues_status) of a verifier's answer; see the module docstring for the forms read."""
    from_json = _json_issues(text, proof)
    if from_json is not None:
        return from_json, "found" if from_json else "none_found"
    body = section(text, ISSUE_SECTIONS, AFTER_ISSUES)
    has_section = body is not None
    if body is None:
        body = text
    issues: list[Issue] = []
    block: _Block | None = None
    said_none = False
    for line in body.splitlines():
        head = line[:MAX_LINE]
        opens = BLOCK_HEAD.match(head)  # "**Issue 2:**" alone: a new block, not an empty description
        f = None if opens else FIELD.match(head)
        if f or opens:
            role = _FIELD_ROLE[f.group("field").lower()] if f else None
            if block is None or role is None or role in block.fields:
                if block is not None and (issue := block.issue(proof)) is not None:
                    issues.append(issue)
                block = _Block()
            if f is not None and role is not None:
                block.add(role, line[f.start("value"):])
            continue
        if block is not None and line.strip() and not HEADING.match(head):
            if line.startswith((" ", "\t")) and block.fields:
                block.add(list(block.fields)[-1], line.strip())
                continue
        m = QUOTE_FIRST.match(head) or ISSUE_LINE.match(head)
        if m:
            if block is not None and (issue := block.issue(proof)) is not None:
                issues.append(issue)
            block = None
            rest = line[m.start("rest"):].strip()
            if "q" in m.groupdict():
                quote, description = m.group("q")[1:-1], rest
            else:
                quote, description = _quote_in(rest)
                description = description.lstrip(" :-–—.,") if quote else rest
            issues.append(_issue(proof, SEVERITY_WORDS[" ".join(m.group("sev").lower().split())], description,
                                 quote))
        elif issues and block is None and line.strip() and not HEADING.match(head) and line.startswith((" ", "\t")):
            issues[-1].description = (issues[-1].description + " " + line.strip()).strip()
        elif len(line) <= MAX_LINE and NONE_STATEMENT.match(line.strip()):
            said_none = True
    if block is not None and (issue := block.issue(proof)) is not None:
        issues.append(issue)
    if issues:
        return issues, "found"
    if said_none:
        return [], "none_found"
    if has_section and body.strip():
        return [], "unparsed"
    return [], "none_reported"


def parse_issues(text: str, proof: Proof | None) -> list[Issue]:
    return read_issues(text, proof)[0]


def parse_verification(completion: Completion, proof: Proof) -> Verification:
    if completion.finish_reason == "error":
        return Verification(score=None, analysis=completion.error or completion.text, status="error",
                            usage=usage_of(completion))
    text = answer_text(completion.text)
    verdict = read_verdict(text, "binary")
    status = completion_status(completion, readable=verdict.score is not None, unreadable=verdict.status)
    issues, issues_status = read_issues(text, proof)
    return Verification(score=verdict.score if status == "ok" else None, issues=issues,
                        analysis=text, status=status, usage=usage_of(completion),
                        issues_status=issues_status)


def parse_meta(completion: Completion) -> tuple[float | None, dict[int, bool], str]:
    """(rating of the report, {issue number: valid?}, status) from a meta-verifier's answer."""
    if completion.finish_reason == "error":
        return None, {}, "error"
    text = answer_text(completion.text)
    verdict = read_verdict(text, "binary")
    rating = verdict.score
    verdicts: dict[int, bool] = {}
    for m in META_LINE.finditer(text):
        verdicts.setdefault(int(m.group("n")), m.group("verdict").lower() not in NEGATIVE)
    status = completion_status(completion, readable=rating is not None, unreadable=verdict.status)
    return (rating if completion.finish_reason != "length" else None), verdicts, status


def apply_meta(verification: Verification, rating: float | None, verdicts: dict[int, bool]) -> None:
    """Mark each issue confirmed or not: its own verdict when given, else the report's overall rating."""
    verification.meta_score = rating
    for n, issue in enumerate(verification.issues, start=1):
        if n in verdicts:
            issue.confirmed = verdicts[n]
        elif rating is not None:
            issue.confirmed = rating >= 0.5
