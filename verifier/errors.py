class VerifierError(Exception):
    """A proof or grading input that cannot be used; the message says what is wrong and what to do."""
