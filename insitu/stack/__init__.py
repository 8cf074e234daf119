"""The self-starting local stack: anvil, Redis and the embedded IPFS store.

``LocalStack(settings).up()`` starts what no URL is configured for and returns the
``Endpoints``; ``with LocalStack(settings) as endpoints:`` also stops on exit what it started.
"""

from insitu.stack.anvil import DEV_MNEMONIC, find_anvil
from insitu.stack.redis import find_redis_server
from insitu.stack.report import STATUS_COLUMNS, format_status, status_rows
from insitu.stack.stack import Endpoints, LocalStack, ServiceState, ServiceStatus

__all__ = [
    "DEV_MNEMONIC",
    "STATUS_COLUMNS",
    "Endpoints",
    "LocalStack",
    "ServiceState",
    "ServiceStatus",
    "find_anvil",
    "find_redis_server",
    "format_status",
    "status_rows",
]
