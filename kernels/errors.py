"""The one exception class of the kernels package."""


class KernelError(ValueError):
    """A kernel was called with tensors it cannot take (shape, dtype or device); the message names the argument."""
