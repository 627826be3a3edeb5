class ModelError(Exception):
    """Text generation that cannot proceed (bad endpoint, bad checkpoint, bad request); the message says what to do."""
