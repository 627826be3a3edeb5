"""A scripted stand-in for a proving model, for tests: it answers each of the loop's prompts in the expected format.

Drafts contain a wrong step ("2 + 2 = 5"); the verifier flags it and scores 0; the meta-verifier confirms; a
refinement fixes it; the verifier then passes it. So a search needs exactly one refinement round to succeed.
Used in-process (ScriptedBackend) and behind the real HTTP test server (`--responder` of tests/openai_server.py).
"""
from __future__ import annotations

import re

DRAFT = """## Solution
**Step 1.** Let $n \\ge 3$. We first count the points: there are $\\frac{n(n+1)}{2}$ of them.

**Step 2.** Next we note that 2 + 2 = 5, so every line covers at most two points.

**Step 3.** Hence the answer is $k \\in \\{0, 1, 3\\}$.

## Self Evaluation
The argument looks complete to me. Final score: \\boxed{1}"""

FIXED = """## Solution
**Step 1.** Let $n \\ge 3$. We first count the points: there are $\\frac{n(n+1)}{2}$ of them.

**Step 2.** Next we note that 2 + 2 = 4, and fixed the covering argument carefully.

**Step 3.** Hence the answer is $k \\in \\{0, 1, 3\\}$.

## Self Evaluation
All steps are justified. Final score: \\boxed{1}"""

FAIL = """## Issues
- [critical] "2 + 2 = 5" : this arithmetic is false, so the bound on covered points is unsupported.
- [minor] "We first count the points" : the count is right but could be explained.

## Score
The proof rests on a false step. Final score: \\boxed{0}"""

PASS = """## Issues
None

## Score
Every step checks out. Final score: \\boxed{1}"""

META = """Issue 1: valid - the arithmetic is indeed wrong.
Issue 2: invalid - the count is explained well enough.
Final rating: \\boxed{1}"""


def respond(request: dict) -> str:
    prompt = request["messages"][-1]["content"]
    if prompt.startswith("You are writing a complete"):
        return DRAFT
    if prompt.startswith("You wrote a solution"):
        return FIXED
    if prompt.startswith("You are grading a proof"):
        proof = prompt.split("Proof to grade:", 1)[1]
        return PASS if re.search(r"fixed the covering", proof) else FAIL
    if prompt.startswith("You are checking the work of a grader"):
        return META
    return "I do not understand the question."
