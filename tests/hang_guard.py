"""Time limits in the tests are hang guards only. The work a test does is bounded by counts (tokens, candidates,
calls), so a slow or loaded machine never fails a test; a hung one fails after HANG_GUARD seconds. Where a test needs
a client timeout to notice a server that never answers, the server hangs until it stops and the client's timeout
stays far above the time a real answer takes (CLIENT_TIMEOUT)."""

HANG_GUARD = 1800  # seconds
CLIENT_TIMEOUT = 5  # seconds a loopback answer may take before the client gives up on it (answers take ms)
# An elapsed-time check on work that takes milliseconds when a size limit holds (and hours when it is gone): it
# fails only when the limit is gone, never because the machine is slow.
LIMIT_GONE = 60  # seconds
