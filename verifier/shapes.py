"""The shapes answers must take (structured outputs), for the built-in templates.

Each shape is declared once and given in two forms: a GBNF grammar that a local engine enforces token by token, so
the answer is the very text the parsers already read (headings, `- [severity] "quote" : why` lines, a boxed
score), and a JSON schema for OpenAI-compatible servers, whose JSON answer `answer_text` turns back into that text.
Inside the sections the model writes free text. A verifier's quotes may only be sentences of the proof itself, so
every issue it raises can be pinned to a step.

Free sections are unbounded (`[^#]+`): xgrammar fills a mask for that in ~5 microseconds, while a counted bound
(`[^#]{20,1500}`) costs it milliseconds a token. The budget is kept by the closings instead: near the end of
max_tokens the engine takes the first closing whose shortest ending would complete the answer so far (so the
answer is where that closing starts) and finishes under the closing's grammar, whose free parts are short and
counted, so the score is always written.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any

from model.backends.backend import Structure
from verifier.proof import Proof

# Free text per token, low side: prose runs ~4 characters a token, LaTeX ~2.5. The closings are sized at 2.5, so
# they nearly always fit the tokens kept for them; one that does not comes back truncated, as free text can.
CHARS_PER_TOKEN = 2.5
SCORES = ("0", "0.5", "1")
POINTS = ("0", "1", "6", "7")
SEVERITIES = ("critical", "gap", "minor")
MAX_ISSUES = 8
MAX_QUOTES = 48  # sentences of the proof offered as quotes
QUOTE_CHARS = 100
TAIL_CHARS = 80  # free text a closing may still write in a section
TAIL_LINE_CHARS = 60  # ... in a one-line part (an issue's or a verdict's reason)
MAX_JSON_ANSWER = 1 << 20
NL = "\n"
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+|\n+")


def literal(text: str) -> str:
    """A GBNF string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def choice(options: tuple[str, ...]) -> str:
    return "(" + " | ".join(literal(o) for o in options) + ")"


def free(one_line: bool = False, also_not: str = "") -> str:
    """Free text without '#' (no new heading can start inside a section), at least one character, any length."""
    return "[^" + also_not + "#" + (r"\n" if one_line else "") + "]+"


def short(max_chars: int, one_line: bool = False, min_chars: int = 0) -> str:
    """Free text without '#' of a counted length: only in closings, which run for a few tokens."""
    return "[^#" + (r"\n" if one_line else "") + "]" + f"{{{min_chars},{max_chars}}}"


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


def _structure(rules: list[str], closings: list[tuple[str, list[str], int]], chars_per_token: float,
               schema: str, name: str, forced_bytes: int = 0) -> Structure:
    """closings: (a shortest ending, rules with root, most characters the closing writes), in the order tried."""
    tokens = max(chars for _, _, chars in closings) / chars_per_token
    return Structure(ebnf="\n".join(rules), json_schema=schema, name=name,
                     closings=tuple((opening, "\n".join(tail)) for opening, tail, _ in closings),
                     closing_tokens=math.ceil(tokens) + 8, forced_bytes=forced_bytes)


def verify_shape(proof: Proof, points: bool = False, chars_per_token: float = CHARS_PER_TOKEN) -> Structure:
    """Analysis, then the issues (or "None"), then the score: binary 0/0.5/1, or points 0/1/6/7."""
    quotes = proof_sentences(proof)
    quote = choice(tuple(quotes)) if quotes else f'[^#\\n"]{{3,{QUOTE_CHARS}}}'
    scores, heading, last = (POINTS, "\n## Points\n", "\nPoints: \\boxed{") if points else \
        (SCORES, "\n## Score\n", "\nFinal score: \\boxed{")
    issues_heading = "\n\n## Issues\n"
    score = f"score ::= {choice(scores)}"
    common = [
        "issue ::= " + " ".join([literal("- ["), "severity", literal('] "'), "quote", literal('" : '), "why",
                                 literal("\n")]),
        f"severity ::= {choice(SEVERITIES)}",
        f"quote ::= {quote}",
        score,
    ]
    rules = [
        "root ::= " + " ".join([literal("## Analysis\n"), "analysis", literal(issues_heading), "issues",
                                literal(heading), "reason", literal(last), "score", literal("}")]),
        f"analysis ::= {free()}",
        f"issues ::= {literal('None' + NL)} | issue{{1,{MAX_ISSUES}}}",
        f"why ::= {free(one_line=True)}",
        f"reason ::= {free()}",
        *common,
    ]
    end = " ".join([literal(heading), short(TAIL_CHARS, min_chars=1), literal(last), "score", literal("}")])
    shortest_end = heading + "x" + last + scores[0] + "}"
    end_chars = len(heading) + TAIL_CHARS + len(last) + 4
    one_issue = 4 + len(max(SEVERITIES, key=len)) + 3 + QUOTE_CHARS + 4 + TAIL_LINE_CHARS + 1
    last_issue = ["why ::= " + short(TAIL_LINE_CHARS, one_line=True, min_chars=1), *common]
    closings = [
        # inside the analysis: end it, then no issue or one, then the score
        (issues_heading + "None\n" + shortest_end, ["root ::= " + " ".join([short(TAIL_CHARS), literal(issues_heading),
                                                  "(" + literal("None" + NL) + " | issue)", end]), *last_issue],
         TAIL_CHARS + len(issues_heading) + one_issue + end_chars),
        # inside an issue's reason: end the line, then the score
        ("\n" + shortest_end, ["root ::= " + " ".join([short(TAIL_LINE_CHARS, one_line=True), literal("\n"), end]),
                          score], TAIL_LINE_CHARS + 1 + end_chars),
        # after an issue's line
        (shortest_end, ["root ::= " + end, score], end_chars),
        # inside the score's reasoning
        (last + scores[0] + "}", ["root ::= " + " ".join([short(TAIL_CHARS), literal(last), "score", literal("}")]),
                                  score],
         TAIL_CHARS + len(last) + 4),
        # right after the issues heading: no issue or one, then the score
        ("None\n" + shortest_end,
         ["root ::= " + " ".join(["(" + literal("None" + NL) + " | issue)", end]), *last_issue],
         one_issue + end_chars),
    ]
    issue = {"type": "object", "properties": {"severity": {"enum": list(SEVERITIES)}, "quote": {"type": "string"},
                                             "description": {"type": "string"}},
             "required": ["severity", "quote", "description"], "additionalProperties": False}
    schema = _schema({"analysis": {"type": "string"}, "issues": {"type": "array", "items": issue},
                      "reasoning": {"type": "string"}, ("points" if points else "score"): {"enum": list(scores)}})
    forced = max((len(q.encode()) for q in quotes), default=0) + len('" : ')  # a quote once begun, to its end
    return _structure(rules, closings, chars_per_token, schema, "grading_points" if points else "grading", forced)


def meta_shape(n_issues: int, chars_per_token: float = CHARS_PER_TOKEN) -> Structure:
    """One verdict line per issue of the report, in order, then the rating of the report."""
    n = max(1, n_issues)
    rating = "\nFinal rating: \\boxed{"

    def lines(first: int, why: str) -> list[str]:
        return [f"line{k} ::= " + " ".join([literal(f"Issue {k}: "), "verdict", literal(" - "), why, literal(NL)])
                for k in range(first, n + 1)]

    common = [f'verdict ::= {choice(("valid", "invalid"))}', f"rating ::= {choice(SCORES)}"]
    end = literal(rating) + " rating " + literal("}")
    rules = ["root ::= " + " ".join(f"line{k}" for k in range(1, n + 1)) + " " + end,
             *lines(1, "why"), f"why ::= {free(one_line=True)}", *common]
    line_chars = len(f"Issue {n}: invalid - ") + TAIL_LINE_CHARS + 1
    closings = []
    for k in range(1, n + 1):  # inside line k's reason: end it, then the other lines with short reasons
        shortest = "\n" + "".join(f"Issue {j}: valid - x\n" for j in range(k + 1, n + 1)) + rating + "0}"
        root = " ".join([short(TAIL_LINE_CHARS, one_line=True), literal(NL), *(f"line{j}" for j in range(k + 1, n + 1)),
                         end])
        tail = ["root ::= " + root, *lines(k + 1, "shortwhy"),
                "shortwhy ::= " + short(TAIL_LINE_CHARS, one_line=True, min_chars=1), *common]
        closings.append((shortest, tail, (n - k + 1) * line_chars + len(rating) + 4))
    verdict = {"type": "object", "properties": {"issue": {"type": "integer"}, "valid": {"type": "boolean"},
                                               "reason": {"type": "string"}},
               "required": ["issue", "valid", "reason"], "additionalProperties": False}
    schema = _schema({"verdicts": {"type": "array", "items": verdict}, "rating": {"enum": list(SCORES)}})
    return _structure(rules, closings, chars_per_token, schema, "meta_verification")


def draft_shape(chars_per_token: float = CHARS_PER_TOKEN) -> Structure:
    """The generator's answer: the proof, then a self-evaluation ending in a score of 0, 0.5 or 1."""
    evaluation, last = "\n\n## Self Evaluation\n", "\nFinal score: \\boxed{"
    score = [f"score ::= {choice(SCORES)}"]
    rules = [
        "root ::= " + " ".join([literal("## Solution\n"), "proof", literal(evaluation), "evaluation", literal(last),
                                "score", literal("}")]),
        f"proof ::= {free()}",
        f"evaluation ::= {free()}",
        *score,
    ]
    end = " ".join([literal(last), "score", literal("}")])
    closings = [
        (evaluation + "x" + last + "0}",
         ["root ::= " + " ".join([short(TAIL_CHARS), literal(evaluation), short(TAIL_CHARS, min_chars=1), end]),
          *score],
         2 * TAIL_CHARS + len(evaluation) + len(last) + 4),
        (last + "0}", ["root ::= " + " ".join([short(TAIL_CHARS), end]), *score], TAIL_CHARS + len(last) + 4),
    ]
    schema = _schema({"solution": {"type": "string"}, "self_evaluation": {"type": "string"},
                      "score": {"enum": list(SCORES)}})
    return _structure(rules, closings, chars_per_token, schema, "proof")


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
