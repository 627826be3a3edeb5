"""The OpenAI-compatible HTTP server over the local engine, and the reading of its request bodies."""
