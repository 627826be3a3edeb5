"""Where text comes from: the Backend contract, the remote OpenAI-compatible client, the local engine."""
