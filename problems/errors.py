class ProblemError(Exception):
    """A problem file or set that cannot be read; the message says what is wrong and what to do."""
