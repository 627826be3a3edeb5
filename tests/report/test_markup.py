"""Model text to HTML: Markdown and math rendered server-side, everything escaped, failures shown and counted."""
from html.parser import HTMLParser

import pytest

from report.markup import Renderer, _Unsafe, clean_mathml

XSS = ('Look: <script>alert(1)</script> and <img src=x onerror="alert(2)"> and [click](javascript:alert(3)) '
       'and [ok](https://example.org) and <a href="javascript:alert(4)">raw</a> and ![pic](http://evil/x.png) '
       'and $\\text{<script>alert(5)</script>}$ and <iframe src="http://evil"></iframe>')


class Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.attrs = set(), []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attrs += attrs


def test_escapes_everything_a_proof_can_hold():
    out = Renderer().markdown(XSS)
    t = Tags()
    t.feed(out)
    assert t.tags <= {"p", "a", "code"}, t.tags
    assert all(not k.startswith("on") for k, _ in t.attrs)
    assert [v for k, v in t.attrs if k == "href"] == ["https://example.org", "http://evil/x.png"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out and "&lt;img src=x onerror=" in out
    assert "[click](javascript:alert(3))" in out  # shown as text, not made a link
    assert "&lt;iframe" in out and "\\text{&lt;script&gt;alert(5)&lt;/script&gt;}" in out


def test_math_delimiters_and_markdown_together():
    r = Renderer()
    out = r.markdown("**Step 1.** Let $a_1 = 2$ and \\(b^2\\). Then\n\n$$\\sum_{i=1}^n i = \\frac{n(n+1)}{2}$$\n\n"
                     "and \\[x_*\\] with \\begin{align*} a &= b \\\\ c &= d \\end{align*} costs \\$5 and \\$6.")
    assert out.count("<math") == 5 and 'display="block"' in out and "<strong>Step 1.</strong>" in out
    assert "$5" in out and r.stats.converted == 5 and r.stats.failed == 0
    assert "<em>" not in out  # underscores inside math are not emphasis


def test_unconverted_formula_is_shown_marked_and_counted():
    r = Renderer()
    out = r.markdown("ok $x$ then $\\left( x$ and $<b>bold</b>$")
    assert r.stats.failed >= 1 and r.stats.converted >= 1
    assert 'class="tex-fail"' in out and "\\left( x" in out
    assert "<b>" not in out
    assert r.stats.to_dict()["unconverted_share"] == r.stats.failed / r.stats.total


def test_mathml_cleaner_rejects_non_mathml():
    assert clean_mathml('<math display="block"><mi>x</mi></math>') == '<math display="block"><mi>x</mi></math>'
    for bad in ('<math><script>alert(1)</script></math>', '<math onload="x()"><mi>x</mi></math>',
                '<math><mi style="background:url(javascript:x)">x</mi></math>', '<math><!-- c --></math>'):
        with pytest.raises(_Unsafe):
            clean_mathml(bad)


def test_real_proofs_convert(real_proofs_sample):
    r = Renderer()
    for proof in real_proofs_sample:
        r.markdown(proof)
    assert r.stats.total > 500 and r.stats.failed / r.stats.total <= 0.02
