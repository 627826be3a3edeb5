class ProverError(Exception):
    """A run that cannot start or continue (bad flags, a run directory of another run); says what to do."""
