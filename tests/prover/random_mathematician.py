"""A scripted prover/verifier whose answers are random but a pure function of the prompt and the call's seed, for
comparing two searches on the same recorded answers (tests/prover/test_early_stop.py, real HTTP or in-process).

Each draft carries a hidden quality 0-3 in its text; a refinement may raise its parent's; a verification scores a
proof 1, 0.5 or 0, likelier 1 the better the proof, sometimes raising an issue on a step, and now and then answers
without a verdict (unparsed)."""
from __future__ import annotations

import hashlib
import random
import re


def _rng(request: dict) -> random.Random:
    prompt = request["messages"][-1]["content"]
    digest = hashlib.sha256(f"{request.get('seed')}|{prompt}".encode()).hexdigest()
    return random.Random(int(digest[:16], 16))


def _draft(quality: int, rng: random.Random) -> str:
    nonce = rng.randrange(10**6)
    return (f"## Solution\n**Step 1.** We set up the count (draft {nonce}, quality {quality}).\n\n"
            f"**Step 2.** Then the bound follows for every n.\n\n## Self Evaluation\nI checked it. "
            f"Final score: \\boxed{{{rng.choice(['0', '0.5', '1'])}}}")


def respond(request: dict) -> str:
    prompt = request["messages"][-1]["content"]
    rng = _rng(request)
    if prompt.startswith("You are writing a complete"):
        return _draft(rng.choice([0, 1, 2, 3]), rng)
    if prompt.startswith("You wrote a solution"):
        parent = re.search(r"quality (\d)", prompt)
        return _draft(min(3, (int(parent.group(1)) if parent else 0) + rng.choice([0, 1])), rng)
    if prompt.startswith("You are grading a proof"):
        found = re.search(r"quality (\d)", prompt.split("Proof to grade:", 1)[-1])
        quality = int(found.group(1)) if found else 0
        if rng.random() < 0.1:
            return "I could not decide."
        p_pass = (0.05, 0.3, 0.6, 0.9)[quality]
        score = "1" if rng.random() < p_pass else rng.choice(["0", "0.5"])
        issues = "None" if score == "1" else '- [major] "Then the bound follows for every n" : not justified.'
        return f"## Issues\n{issues}\n\n## Score\nAs above. Final score: \\boxed{{{score}}}"
    if prompt.startswith("You are checking the work of a grader"):
        return f"Issue 1: {rng.choice(['valid', 'invalid'])} - checked.\nFinal rating: \\boxed{{1}}"
    return "I do not understand the question."
