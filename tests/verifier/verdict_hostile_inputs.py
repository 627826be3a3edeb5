"""Generators of hostile model text (about 1 MB each) for the bounded-cost tests of the verdict readers."""
MB = 1_000_000

HOSTILE = {
    "repeated_boxed": lambda: "\\boxed{" * (MB // 7),
    "closed_boxes": lambda: "\\boxed{1}" * (MB // 9),
    "nested_boxes": lambda: "\\boxed{" * 60000 + "1" + "}" * 60000,
    "open_braces": lambda: "{" * MB,
    "close_braces": lambda: "}" * MB,
    "unclosed_display": lambda: "\\[\n" * (MB // 3),
    "whitespace_after_issue": lambda: "Issue 1" + " " * MB,
    "whitespace_in_heading": lambda: "ab" + " " * MB + "x",
    "unclosed_quote": lambda: '- [critical] "' + "a" * MB,
    "many_quotes": lambda: '"' * MB,
    "doubled_apostrophes": lambda: "''x" * (MB // 3),
    "field_lines": lambda: '**Location:** "x"\n' * (MB // 18),
    "json_brackets": lambda: "[" * MB,
    "fences": lambda: "```\n" * (MB // 4),
    "score_lines": lambda: "Score: 1/1\n" * (MB // 11),
    "unicode_math": lambda: "x² ≥ 2xy " * (MB // 9),
    "dollars": lambda: "$" * MB,
    "answer_words": lambda: "all odd $k$ " * (MB // 12),
    "list_items": lambda: "- a\n" * (MB // 4),
}
