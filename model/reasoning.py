"""Splitting a completion's `<think>...</think>` reasoning from its answer: one rule for the remote and local paths."""
from __future__ import annotations

THINK, END_THINK = "<think>", "</think>"


def split_reasoning(text: str, started: bool = False, cut_off: bool = False) -> tuple[str, str]:
    """(reasoning, answer), in the order they are written.

    A full block is cut out wherever it stands; a closing tag without its opening one means the prompt ended with
    `<think>` (chat templates that put it there). An unclosed block is all reasoning when the prompt opened it
    (`started`) or when the completion ran out of tokens (`cut_off`); otherwise the text is left as the answer.
    """
    close = text.find(END_THINK)
    if close >= 0:
        head, tail = text[:close], text[close + len(END_THINK):]
        opened = head.find(THINK)
        before, reasoning = (head[:opened], head[opened + len(THINK):]) if opened >= 0 else ("", head)
        return reasoning.strip(), (before + tail).lstrip()
    stripped = text.lstrip()
    if started or (cut_off and stripped.startswith(THINK)):
        return stripped.removeprefix(THINK).strip(), ""
    return "", text
