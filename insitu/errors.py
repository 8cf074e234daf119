"""The exceptions the SDK raises. Every message says what went wrong and what to do."""


class InsituError(Exception):
    """Base class of every error insitu raises on purpose."""


class ConfigError(InsituError):
    """A setting is missing or malformed."""


class ToolchainError(InsituError):
    """The Solidity compiler or a compiled artifact is missing or out of date."""


class StackError(InsituError):
    """A local service (anvil, Redis, IPFS store) could not be started, reached or stopped."""
