import re

from verifier.steps import locate, segment

PROOF = r"""**Answer:** \(n=1\).

### 1.  \(n=1\)

Take \((a,b,c)=(1,2,2)\). Then

\[
2\cdot1 + 3\cdot2 = 8 = 4\cdot2 .
\]

so a solution exists.

---

### 2. Cases
1. First item, with $x^2\ge 0$.
2. Second item
   spread over two lines.
- a bullet

$$
a = b

c = d
$$

\begin{aligned}
x &= 1\\[2mm]

y &= 2
\end{aligned}

Final paragraph."""


def _check_partition(text, proof):
    owner = [0] * len(text)
    for step in proof.steps:
        assert step.text == text[step.start:step.end]
        assert step.text == step.text.strip() and step.text
        for i in range(step.start, step.end):
            owner[i] += 1
    for i, ch in enumerate(text):
        if not ch.isspace():
            assert owner[i] == 1, (i, text[max(0, i - 30):i + 30])
    assert [s.index for s in proof.steps] == list(range(1, len(proof.steps) + 1))


def _balanced(step_text):
    t = step_text.replace("\\\\", "")
    return (t.count("\\[") == t.count("\\]") and t.count("$$") % 2 == 0
            and len(re.findall(r"\\begin\{", t)) == len(re.findall(r"\\end\{", t)))


def test_segment_synthetic():
    proof = segment(PROOF)
    _check_partition(PROOF, proof)
    texts = [s.text for s in proof.steps]
    assert texts[0] == "**Answer:** \\(n=1\\)."
    # the heading opens the step; display math joins its sentence; the lower-case continuation joins too;
    # the rule closes
    assert texts[1].startswith("### 1.") and "4\\cdot2" in texts[1] and texts[1].endswith("---")
    assert texts[2].startswith("### 2. Cases\n1. First item")
    assert texts[3].startswith("2. Second item") and texts[3].endswith("two lines.")
    # display blocks join the item before them, blank lines inside them do not cut
    assert texts[4].startswith("- a bullet\n\n$$") and "c = d" in texts[4] and texts[4].endswith("\\end{aligned}")
    assert texts[5] == "Final paragraph."
    assert len(texts) == 6
    assert all(_balanced(t) for t in texts)


def test_segment_edge_cases():
    for text in ["", "   \n\n", "one line", "### only a heading", "---", "\\[\nx\n\n\ny"]:
        _check_partition(text, segment(text))
    assert segment("").steps == []
    assert len(segment("a\n\nb\n\nc").steps) == 3


def test_segment_real_proofs(real_proofs, full_data):
    total = 0
    for row in real_proofs:
        text = row["model_prediction"]["proof"]
        proof = segment(text)
        _check_partition(text, proof)
        assert all(_balanced(s.text) for s in proof.steps), row["problem_idx"]
        assert len(proof.steps) >= 5
        total += len(proof.steps)
    assert total > (1000 if full_data else 400)  # 84 proofs, or the 10 shipped (506 steps)


def test_locate():
    proof = segment(PROOF)
    assert locate(proof, "2 \\cdot 1+3 \\cdot 2=8").index == 2
    assert locate(proof, "$x^2 \\geq 0$").index == 3  # delimiters and \geq vs \ge
    assert locate(proof, "Second item spread over two lines").index == 4
    assert locate(proof, "Secnd item sprad over two line").index == 4  # fuzzy
    assert locate(proof, "Second item ... two lines").index == 4
    assert locate(proof, "Final paragraph").index == 6
    assert locate(proof, "The moon is made of green cheese") is None
    assert locate(proof, "") is None and locate(proof, None) is None


def test_locate_real_quotes(real_proofs):
    """Every sentence of a real proof is found in the step it came from, even re-spaced and re-delimited."""
    for row in real_proofs[:20]:
        proof = segment(row["model_prediction"]["proof"])
        for step in proof.steps[::3]:
            quote = step.text[: min(80, len(step.text))]
            if len(quote.strip()) < 12:
                continue
            found = locate(proof, quote.replace("\\(", "$").replace("\\)", "$").replace("  ", " "))
            assert found is not None, (row["problem_idx"], quote)
            # a quote that occurs more than once is attributed to its first occurrence
            assert found.index == step.index or found.index < step.index, (row["problem_idx"], quote)


def test_unclosed_display_does_not_swallow_the_rest():
    text = "Start.\n\n\\[\nx = 1\n" + "\n".join(f"line {i}" for i in range(200)) + "\n\nLast paragraph."
    proof = segment(text)
    _check_partition(text, proof)
    assert proof.steps[-1].text == "Last paragraph."
