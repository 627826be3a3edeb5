"""A scripted grader for tests: answers the points rubric and the binary rubric in the expected format.

The grade is a stable function of the proof text, so a resumed run gets the same answers. Proofs whose digest
falls in a small slice get an answer without a boxed grade, so unparsed gradings are exercised (and counted).
"""
from __future__ import annotations

import hashlib

LEVELS = (0, 1, 6, 7)


def digest(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


def respond(request: dict) -> str:
    prompt = request["messages"][-1]["content"]
    if prompt.startswith("You are an olympiad grader"):
        proof = prompt.split("Contestant's proof:", 1)[1].split("Mark on this four-level scale:", 1)[0]
        h = digest(proof.strip())  # the proof's own text, whatever whitespace the template puts around it
        if h % 23 == 0:
            return "## Issues\nNone\n\n## Points\nI cannot decide on a grade."
        points = LEVELS[h % 4]
        first = proof.strip().split()[:4]
        issue = "None" if points == 7 else f'- [critical] "{" ".join(first)}" : the argument does not follow.'
        return f"## Issues\n{issue}\n\n## Points\nThe proof earns this level. Points: \\boxed{{{points}}}"
    if prompt.startswith("You are grading a proof"):
        proof = prompt.split("Proof to grade:", 1)[1]
        score = ("0", "0.5", "1")[digest(proof) % 3]
        return f"## Issues\nNone\n\n## Score\nFinal score: \\boxed{{{score}}}"
    return "I do not understand the question."
