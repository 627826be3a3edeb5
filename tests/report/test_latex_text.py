"""Text-mode LaTeX in statements and proofs comes out as Markdown structure, not as source, and stays escaped."""
from report import latex_text
from report.markup import Renderer


def test_lists_and_styles_become_markdown():
    text = ("\\begin{enumerate}\n  \\item first \\emph{one}\n  \\item[(b)] second\n  \\begin{itemize}\n"
            "    \\item inner\n  \\end{itemize}\n\\end{enumerate}\n\\textbf{Proof.} Done. \\qed")
    md = latex_text.to_markdown(text)
    assert "\n1. first *one*" in md and "\n1. **(b)** second" in md and "\n    - inner" in md
    assert "**Proof.** Done." in md and "\\" not in md
    assert latex_text.to_markdown("no latex here") == "no latex here"


def test_rendered_statement_has_lists_emphasis_and_math():
    html = Renderer().markdown("A line is \\emph{sunny} if:\n\\begin{itemize}\n\\item $x>0$;\n\\item $y$ is "
                               "\\textbf{\\emph{odd}}.\n\\end{itemize}")
    assert "<em>sunny</em>" in html and html.count("<li>") == 2
    assert "<strong><em>odd</em></strong>" in html or "<em><strong>odd</strong></em>" in html
    assert "\\item" not in html and "\\emph" not in html and html.count("<math") == 2


def test_markup_inside_latex_commands_stays_text():
    html = Renderer().markdown("\\emph{<img src=x onerror=alert(1)>} \\textbf{<script>alert(2)</script>}")
    assert "<img" not in html and "<script" not in html and "&lt;script&gt;" in html


def test_math_is_left_to_the_math_converter():
    # \item and \textbf inside a formula are not text mode: they must reach the converter untouched
    html = Renderer().markdown("Let $\\textbf{v} = (1, 2)$ be given.")
    assert html.count("<math") == 1 and "<strong>" not in html
