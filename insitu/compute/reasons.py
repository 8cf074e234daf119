"""Why a compute job failed, as a small integer that fits the on-chain `reject(reason)` field.

The values are part of the protocol shared with the contracts: never renumber an existing
member, only append.
"""

from enum import IntEnum


class Reason(IntEnum):
    """Reason code recorded on-chain when a provider rejects a compute agreement."""

    NONE = 0
    NOT_ALLOWED = 1
    HASH_MISMATCH = 2
    BAD_PARAMS = 3
    CRASHED = 4
    TIMEOUT = 5
    MEMORY = 6
    OUTPUT_TOO_LARGE = 7
    DATA_MISSING = 8
    BAD_METADATA = 9


# The sandboxed launcher reports a classified failure as exit status EXIT_BASE + reason, so the
# parent can tell "the algorithm hit its memory limit" from "the algorithm raised".
EXIT_BASE = 100


def exit_code_for(reason: Reason) -> int:
    """The launcher's exit status that encodes `reason`."""
    return EXIT_BASE + int(reason)


def reason_from_exit_code(code: int) -> Reason | None:
    """The reason a launcher exit status encodes, or None for a status outside the protocol."""
    value = code - EXIT_BASE
    if value <= 0:
        return None
    try:
        return Reason(value)
    except ValueError:
        return None
