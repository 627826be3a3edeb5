"""The shapes answers must take (structured outputs), for the built-in templates.

Each shape is declared once and given in two forms: a GBNF grammar that a local engine enforces token by token, so
the answer is the very text the parsers already read (headings, `- [severity] "quote" : why` lines, a boxed
score), and a JSON schema for OpenAI-compatible servers, whose JSON answer `answer_text` turns back into that text.
Inside the sections the model writes free text; every free part has a length bound so that the whole answer fits
in the request's token budget (the grammar cannot end unless the closing score is written). A verifier's quotes
may only be sentences of the proof itself, so every issue it raises can be pinned to a step.
"""
from __future__ import annotations

import json
import re
from typing import Any

from model.backends.backend import Structure
from verifier.proof import Proof

# Free text per token, low side: prose runs ~4 characters a token, LaTeX ~2.5. The bounds below assume 2.5, so an
# answer of the shape nearly always fits its max_tokens; one that does not comes back truncated, as free text can.
CHARS_PER_TOKEN = 2.5
SCORES = ("0", "0.5", "1")
POINTS = ("0", "1", "6", "7")
SEVERITIES = ("critical", "gap", "minor")
MAX_ISSUES = 4
MAX_QUOTES = 48  # sentences of the proof offered as quotes
QUOTE_CHARS = 100
MAX_JSON_ANSWER = 1 << 20
NL = "\n"
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+|\n+")


def literal(text: str) -> str:
    """A GBNF string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def choice(options: tuple[str, ...]) -> str:
    return "(" + " | ".join(literal(o) for o in options) + ")"


def free(max_chars: int, min_chars: int = 1, one_line: bool = False, also_not: str = "") -> str:
    """Free text without '#' (no new heading can start inside a section), bounded in length."""
    chars = "[^" + also_not + "#" + (r"\n" if one_line else "") + "]"
    return f"{chars}{{{min_chars},{max(min_chars, max_chars)}}}"


def budget(max_tokens: int) -> int:
    """Characters of free text a request can afford, keeping a margin for the fixed parts."""
    return max(200, int((max_tokens - 40) * CHARS_PER_TOKEN))


def proof_sentences(proof: Proof) -> list[str]:
    """Short quotable pieces of the proof: each sentence's start, cut at a word boundary, without double quotes."""
    out: list[str] = []
    seen: set[str] = set()
    for step in proof.steps:
        for piece in _SENTENCE_END.split(step.text):
            piece = " ".join(piece.split("\"")[0].split())
            if len(piece) > QUOTE_CHARS:
                piece = piece[:QUOTE_CHARS].rsplit(" ", 1)[0]
            if len(piece) >= 8 and piece not in seen and "#" not in piece:
                seen.add(piece)
                out.append(piece)
            if len(out) >= MAX_QUOTES:
                return out
    return out


def _schema(properties: dict[str, Any]) -> str:
    return json.dumps({"type": "object", "properties": properties, "required": list(properties),
                       "additionalProperties": False})


def verify_shape(proof: Proof, max_tokens: int, points: bool = False) -> Structure:
    """Analysis, then the issues (or "None"), then the score: binary 0/0.5/1, or points 0/1/6/7."""
    room = budget(max_tokens)
    issue_room = room * 45 // 100  # all issue lines together
    n_issues = max(1, min(MAX_ISSUES, issue_room // (QUOTE_CHARS + 60)))
    quotes = proof_sentences(proof)
    quote = choice(tuple(quotes)) if quotes else free(QUOTE_CHARS, 3, one_line=True, also_not='"')
    scores, closing, last = (POINTS, "\n## Points\n", "Points: \\boxed{") if points else \
        (SCORES, "\n## Score\n", "Final score: \\boxed{")
    rules = [
        "root ::= " + " ".join([literal("## Analysis\n"), "analysis", literal("\n\n## Issues\n"), "issues",
                                literal(closing), "reason", literal("\n" + last), "score", literal("}")]),
        f"analysis ::= {free(room * 40 // 100)}",
        f"issues ::= {literal('None' + NL)} | issue{{1,{n_issues}}}",
        "issue ::= " + " ".join([literal("- ["), "severity", literal('] "'), "quote", literal('" : '), "why",
                                 literal("\n")]),
        f"severity ::= {choice(SEVERITIES)}",
        f"quote ::= {quote}",
        f"why ::= {free(max(40, issue_room // n_issues - QUOTE_CHARS - 12), 3, one_line=True)}",
        f"reason ::= {free(room * 12 // 100)}",
        f"score ::= {choice(scores)}",
    ]
    issue = {"type": "object", "properties": {"severity": {"enum": list(SEVERITIES)}, "quote": {"type": "string"},
                                             "description": {"type": "string"}},
             "required": ["severity", "quote", "description"], "additionalProperties": False}
    schema = _schema({"analysis": {"type": "string"}, "issues": {"type": "array", "items": issue},
                      "reasoning": {"type": "string"}, ("points" if points else "score"): {"enum": list(scores)}})
    return Structure(ebnf="\n".join(rules), json_schema=schema, name="grading_points" if points else "grading")


def meta_shape(n_issues: int, max_tokens: int) -> Structure:
    """One verdict line per issue of the report, in order, then the rating of the report."""
    room = budget(max_tokens)
    n = max(1, n_issues)
    lines = " ".join(f"line{k}" for k in range(1, n + 1))
    rules = [f"root ::= {lines} " + literal("\nFinal rating: \\boxed{") + " rating " + literal("}")]
    rules += [f"line{k} ::= " + " ".join([literal(f"Issue {k}: "), "verdict", literal(" - "), "why", literal(NL)])
              for k in range(1, n + 1)]
    rules += [f'verdict ::= {choice(("valid", "invalid"))}', f"why ::= {free(room // (n + 1), 3, one_line=True)}",
              f"rating ::= {choice(SCORES)}"]
    verdict = {"type": "object", "properties": {"issue": {"type": "integer"}, "valid": {"type": "boolean"},
                                               "reason": {"type": "string"}},
               "required": ["issue", "valid", "reason"], "additionalProperties": False}
    schema = _schema({"verdicts": {"type": "array", "items": verdict}, "rating": {"enum": list(SCORES)}})
    return Structure(ebnf="\n".join(rules), json_schema=schema, name="meta_verification")


def draft_shape(max_tokens: int) -> Structure:
    """The generator's answer: the proof, then a self-evaluation ending in a score of 0, 0.5 or 1."""
    room = budget(max_tokens)
    rules = [
        "root ::= " + " ".join([literal("## Solution\n"), "proof", literal("\n\n## Self Evaluation\n"), "evaluation",
                                literal("\nFinal score: \\boxed{"), "score", literal("}")]),
        f"proof ::= {free(room * 72 // 100, 20)}",
        f"evaluation ::= {free(room * 20 // 100)}",
        f"score ::= {choice(SCORES)}",
    ]
    schema = _schema({"solution": {"type": "string"}, "self_evaluation": {"type": "string"},
                      "score": {"enum": list(SCORES)}})
    return Structure(ebnf="\n".join(rules), json_schema=schema, name="proof")


# ---- JSON answers (servers that take only a JSON schema) back to the text the parsers read ----
def _one_line(value: Any, limit: int = 2000) -> str:
    return " ".join(str(value).split())[:limit]


def _json_object(text: str) -> dict | None:
    stripped = text.strip()
    if not stripped.startswith("{") or len(stripped) > MAX_JSON_ANSWER:
        return None
    try:
        value = json.loads(stripped)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def answer_text(text: str) -> str:
    """A JSON answer in one of the shapes above, as the text form of that shape; any other text unchanged."""
    obj = _json_object(text)
    if obj is None:
        return text
    if {"solution", "score"} <= obj.keys():
        return (f"## Solution\n{obj['solution']}\n\n## Self Evaluation\n{obj.get('self_evaluation', '')}\n"
                f"Final score: \\boxed{{{_one_line(obj['score'], 8)}}}")
    if "issues" in obj and ("score" in obj or "points" in obj) and isinstance(obj["issues"], list):
        issues = [i for i in obj["issues"] if isinstance(i, dict)]
        lines = [f"- [{_one_line(i.get('severity', ''), 20)}] \"{_one_line(i.get('quote', ''), 400)}\" : "
                 f"{_one_line(i.get('description', ''))}" for i in issues] or ["None"]
        closing = ("## Points", "Points") if "points" in obj else ("## Score", "Final score")
        value = obj.get("points", obj.get("score"))
        return (f"## Analysis\n{obj.get('analysis', '')}\n\n## Issues\n" + "\n".join(lines) +
                f"\n{closing[0]}\n{obj.get('reasoning', '')}\n{closing[1]}: \\boxed{{{_one_line(value, 8)}}}")
    if "verdicts" in obj and "rating" in obj and isinstance(obj["verdicts"], list):
        lines = [f"Issue {_one_line(v.get('issue', k), 6)}: {'valid' if v.get('valid') else 'invalid'} - "
                 f"{_one_line(v.get('reason', ''))}"
                 for k, v in enumerate((v for v in obj["verdicts"] if isinstance(v, dict)), start=1)]
        return "\n".join(lines) + f"\nFinal rating: \\boxed{{{_one_line(obj['rating'], 8)}}}"
    return text
