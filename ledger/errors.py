class RunError(Exception):
    """A run directory that cannot be created, opened or continued (another run's, not a run, unreadable);
    the message says what to do."""
