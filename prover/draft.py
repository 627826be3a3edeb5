"""Reading a generator's answer: the proof under "Solution" and the self-score at the end of "Self Evaluation"."""
from __future__ import annotations

import re
from dataclasses import dataclass

from ledger.calls import completion_status
from model.backends.backend import Completion
from verifier.scores import last_score
from verifier.shapes import answer_text

# Heading lines such as "## Solution", "**Solution:**", "Solution", "### Self-Evaluation".
_HEADING_OPEN = r"^[ \t]*(?:#{1,6}[ \t]*|\*\*|__)?[ \t]*"  # optional "##" / "**" / "__" before the word
_HEADING_CLOSE = r"[ \t]*:?[ \t]*(?:\*\*|__)?[ \t]*:?[ \t]*$"  # optional ":" and closing "**" / "__" after it
SOLUTION = re.compile(_HEADING_OPEN + r"(?:detailed[ \t]+)?(?:solution|proof)" + _HEADING_CLOSE,
                      re.IGNORECASE | re.MULTILINE)
SELF_EVAL = re.compile(_HEADING_OPEN + r"self[ \t\-_]*evaluation" + _HEADING_CLOSE, re.IGNORECASE | re.MULTILINE)


@dataclass
class Draft:
    proof: str
    self_score: float | None
    self_evaluation: str
    status: str  # ok | unparsed | truncated | error


def parse_draft(completion: Completion) -> Draft:
    """Split a generator answer. A missing Solution heading takes the text before Self Evaluation as the proof;
    a missing self-score marks the draft unparsed but keeps its proof so it can still be verified."""
    if completion.finish_reason == "error":
        return Draft("", None, "", "error")
    text = answer_text(completion.text)
    evals = list(SELF_EVAL.finditer(text))
    body, evaluation = (text[:evals[-1].start()], text[evals[-1].end():]) if evals else (text, "")
    sols = list(SOLUTION.finditer(body))
    proof = body[sols[0].end():] if sols else body
    proof = proof.strip()
    score = last_score(evaluation) if evaluation else None
    status = completion_status(completion, readable=bool(proof) and score is not None)
    return Draft(proof, score, evaluation.strip(), status)
