"""Classes of text that fooled the exact checks (issue 15 §2): each is read as unchecked, never refuted, while
the false claims written next to them are still refuted. Inputs are generated where the class allows it."""
import json
import random
from math import comb
from pathlib import Path

import pytest

from verifier.claims import extract_claims
from verifier.evidence import exact_evidence
from verifier.steps import segment
from verifier.symbolic import check_proof, check_text

DATA = Path(__file__).parent / "data" / "exact_claims.jsonl"
rng = random.Random(15)


def refuted(text: str) -> list[str]:
    """The refuted claims of a whole proof, read through segmentation as `verify --symbolic` reads it."""
    return [c.claim.text for s in check_proof(segment(text)) for c in s.claims if c.verdict == "refuted"]


def verdicts(text: str) -> list[tuple[str, str]]:
    return [(r.claim.text, r.verdict) for r in check_text(text)]


# ---- formula fragments cut out of plain text

DASHES = ["\u2013", "\u2014", "\u2012"]


@pytest.mark.parametrize("dash", DASHES)
def test_dash_used_as_minus_is_not_cut_into_a_fragment(dash):
    for _ in range(8):
        a, b = rng.randint(5, 99), rng.randint(1, 4)
        for value in (a - b, a - b + 1):  # true or false as a subtraction: `b = value` is not what it says
            for text in (f"So {a}{dash}{b} = {value} remain.", f"So {a} {dash} {b} = {value} remain."):
                assert refuted(text) == [], text
    # in math a dash is a minus sign, read as one
    assert refuted(f"Then $10 {DASHES[0]} 3 = 6$.") == ["10 \u2013 3 = 6"]
    assert refuted(f"Then $10 {DASHES[0]} 3 = 7$.") == []


def test_minus_sign_is_read():
    assert verdicts("thus 9\u22122 = 7.") == [("9\u22122 = 7", "confirmed")]
    assert verdicts("thus 9\u22122 = 8.")[0][1] == "refuted"


def test_choose_divide_roots_logs_and_separators():
    for _ in range(10):
        n = rng.randint(5, 20)
        k = rng.randint(1, n - 1)
        assert refuted(f"There are {n} choose {k} = {comb(n, k)} ways.") == []
        assert refuted(f"There are ${n} \\text{{ choose }} {k} = {comb(n, k)}$ ways.") == []
        big = rng.randint(1000, 999999)
        shown = f"{big:,}"
        assert refuted(f"The product is {big} = {shown} in all.") == [], shown
        assert refuted(f"The count is {shown} = {big}.") == [], shown
        assert refuted(f"We get ${shown.replace(',', '{,}')} = {big}$.") == []
    for text in ["Numerically ln 2 = 0.693.", "Also 3\u221a1 = 3 and 2\u221a4 = 4.", "The ratio 3:2 = 6:4 holds.",
                 "Here log 8 = 3 in base 2.", "The sum of digits of 2024 = 8.", "So 4 times 3 = 12 apples."]:
        assert refuted(text) == [], text
    # ÷ is division: read, so a wrong quotient is caught
    assert verdicts("Each gets 12 \u00f7 3 = 4.") == [("12 \u00f7 3 = 4", "confirmed")]
    assert verdicts("Each gets 12 \u00f7 3 = 5.")[0][1] == "refuted"


# ---- labels and unknown notation

@pytest.mark.parametrize("name", ["a", "x", "S", "T_1", "a_{i,j}"])
def test_superscripts_used_as_labels_are_not_powers(name):
    for sup in ("0", "{0}", "{(1)}", "{(0)}"):
        for value in (rng.randint(2, 99), 1):
            text = f"Let ${name}^{sup} = {value}$."
            assert all(v == "unchecked" for _, v in verdicts(text)), text
    assert all(v == "unchecked" for _, v in verdicts("Write $a^0_{i,j} = 3$ and $a^1_{i,j} = 5$."))
    assert verdicts("Note that $2^0 = 2$.")[0][1] == "refuted"  # a number to the 0th power is still one


def test_unknown_notation_is_unchecked():
    for text in [r"In cycle notation $(123) = (12)(23)$.", r"We have $(132) = (13)(32)$.", r"$\sigma(6) = 12$",
                 r"$d(12) = 6$", r"$\tau(10) = 4$", r"$\phi(10) = 4$", r"$\#A = 3$", r"$\overline{25} = 7$"]:
        assert all(v == "unchecked" for _, v in verdicts(text)), (text, verdicts(text))


def test_sized_brackets_group_numbers_and_are_never_cycles():
    # hypothesis found (12)(12) = 144 left unchecked as cycle notation although written with \left( \right)
    for text, verdict in [(r"$\left(12\right)\left(12\right) = 144$", "confirmed"),
                          (r"$\bigl(12\bigr)\bigl(34\bigr) = 408$", "confirmed"),
                          (r"$\left(12\right)\left(12\right) = 145$", "refuted"),
                          (r"$(12)(34) = 408$", "unchecked")]:
        assert [v for _, v in verdicts(text)] == [verdict], (text, verdicts(text))


# ---- conditions and definitions are not identities

@pytest.mark.parametrize("frame", [
    "We need ${} $ for all $x$ in $S$.",
    "Let ${} $ for all $x$.",
    "Suppose ${} $ for every $x$.",
    "Expanding the equation ${} $ gives a quadratic.",
    "Expanding both sides of ${} $ for all $x$ we get a condition.",
    "The condition is that ${} $ for all $x$ in $A$.",
    "Find all $x$ such that, expanding, ${} $.",
    "If ${} $ for all $x$, then the polynomial is constant.",
])
def test_conditions_are_not_refuted_as_identities(frame):
    for _ in range(4):
        c, d = rng.randint(1, 9), rng.randint(1, 9)
        eq = f"(x+{c})^2 = {2 * c}x + {d}"
        assert refuted(frame.format(eq)) == [], frame.format(eq)
    # the same equations asserted as identities are refuted
    assert refuted("Expanding, $(x+3)^2 = x^2 + 9$.") != []


# ---- what the proof derives in order to reject it

@pytest.mark.parametrize("reject", ["This is a contradiction.", "Contradiction!", "But this is impossible.",
                                    "This is absurd, so the case cannot occur.", "That is false, as 2 is even.",
                                    "This contradicts the minimality of n."])
def test_contradiction_in_the_next_paragraph(reject):
    for _ in range(3):
        a, b = rng.randint(1, 50), rng.randint(1, 50)
        claim = f"${a} + {b} = {a + b + rng.randint(1, 9)}$"
        assert refuted(f"Adding the two bounds we get {claim}.\n\n{reject}") == [], reject
        # the blank line inside one step (a display block) as well
        assert refuted(f"Adding the two bounds we get\n\\[\n{claim[1:-1]}\n\\]\n\n{reject}") == [], reject
    # a paragraph that does not open by rejecting leaves the claim judged
    assert refuted("We get $6 \\cdot 7 = 43$.\n\nNext we show that the other case is impossible.") != []


# ---- a modulus stated before

def test_modulus_stated_earlier_in_the_proof_or_step():
    for _ in range(12):
        m = rng.randint(3, 13)
        a, b = rng.randint(2, 40), rng.randint(2, 40)
        if (a * b) % m == (a * b) or (a * b) % m == 0:
            continue
        r = (a * b) % m
        text = f"From now on we work modulo {m}.\n\nThen ${a} \\cdot {b} = {r}$, so the classes multiply."
        assert refuted(text) == [], text
        assert refuted(f"All terms are taken $\\pmod{{{m}}}$. Hence ${a} \\cdot {b} = {r}$ here.") == []
        # false modulo the stated number too, or not reduced: still refuted
        wrong = r + 1 if r + 1 < m else r - 1
        assert refuted(f"From now on we work modulo {m}.\n\nThen ${a} \\cdot {b} = {wrong}$.") != []
        assert refuted(f"From now on we work modulo {m}.\n\nThen ${a} \\cdot {b} = {a * b + m}$.") != []
    # a named modulus in the step: a residue -1, 0 or 1 may be meant modulo p; other values are judged
    assert refuted("Work modulo a prime $p$. Then $2 \\cdot 3 = 1$, so 2 is invertible.") == []
    assert refuted("Work modulo a prime $p$. Then $2 \\cdot 3 = 7$ in the integers.") != []


def test_imaginary_unit():
    for text in [r"Expanding, $(1+i)^2 = 2i$.", r"Expanding, $(2+i)(2-i) = 5$.", r"Expanding, $(1-i)^4 = -4$.",
                 r"For all $x$, expanding $(x+i)(x-i) = x^2 + 1$.", r"$e^{i\pi} = -1$", r"$i^2 = -1$"]:
        assert refuted(text) == [], text
    assert refuted(r"Expanding, $(1+i)^2 = 2 + 2i$.") != []


# ---- invisible characters cannot hide a claim

INVISIBLE = ["\u200b", "\u00ad", "\ufeff", "\u2060", "\u200c", "\u200d"]


@pytest.mark.parametrize("ch", INVISIBLE)
def test_invisible_characters_are_stripped(ch):
    for template in ["Thus {} = 5.", "Thus ${} = 5$.", "We get \\({} = 5\\) here."]:
        false = "2+2"
        for k in range(len(false) + 1):
            hidden = false[:k] + ch + false[k:]
            text = template.format(hidden)
            results = check_text(text)
            assert [r.verdict for r in results] == ["refuted"], (text, verdicts(text))
            # the quote points at the original text, invisible character included
            c = results[0].claim
            assert text[c.start:c.end].replace(ch, "").strip("$\\()") .startswith("2+2")
    assert [v for _, v in verdicts(f"So 2{ch}+2 = 4.")] == ["confirmed"]


# ---- our own statements, true and false

def _prose():
    return [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_prose_set_true_statements_are_never_refuted_and_false_ones_are():
    rows = _prose()
    assert len(rows) >= 60 and {r["expect"] for r in rows} == {"no_refutation", "refuted"}
    wrong = []
    for r in rows:
        got = "refuted" if exact_evidence(None, r["text"]).refuted_steps else "no_refutation"
        if got != r["expect"]:
            wrong.append(r["id"])
    assert wrong == []


def test_prose_split_in_the_benchmark():
    from verifier.exact_bench import load_prose

    rows = load_prose()
    assert len(rows) == len(_prose()) and sum(r["correct"] for r in rows) == sum(
        r["expect"] == "no_refutation" for r in _prose())


def test_extraction_keeps_order_and_offsets():
    text = "First \\(2+3 = 5\\), then 4*4 = 16 and $\\binom{4}{2} = 6$."
    cs = extract_claims(text)
    assert sorted(text[c.start:c.end] for c in cs) == sorted(["\\(2+3 = 5\\)", "4*4 = 16", "$\\binom{4}{2} = 6$"])
