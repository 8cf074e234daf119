"""Per-process resources of session workers: chain connection, signing key, contracts, store.

A Celery worker process serves one config, so what is expensive to build (the node
connection, the keystore's scrypt, contract objects) is built on first use and then reused
by every job of the process. Errors a job cannot recover from by retrying raise
`PermanentJobError` with what to add to the worker config.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from insitu.worker.config import WorkerConfig, current_worker_config
from insitu.worker.errors import PermanentJobError

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from web3 import Web3

    from insitu.chain.session import FederatedSession


@cache
def web3_for(url: str) -> Web3:
    """This process's connection to the node at ``url``."""
    from insitu.chain import connect

    return connect(url)


@cache
def signing_account() -> LocalAccount:
    """The account of the current worker config's ``[keystore]`` (decrypted once a process)."""
    from insitu.chain import load_keystore

    config = current_worker_config()
    if config.keystore is None:
        raise PermanentJobError(
            "no_keystore", f"{config.path} has no [keystore]; the worker cannot sign."
        )
    return load_keystore(config.keystore.path, config.keystore.password())


def warm_up_in_background(name: str, load: Callable[[], object]) -> None:
    """Run ``load`` (e.g. decrypt the key, connect, load models) in a daemon thread, so the
    worker takes jobs at once and the first one does not pay the keystore's ~1 s of scrypt.

    A failure is only logged: the first job repeats the same loads and reports the error with
    its own context.
    """

    def run() -> None:
        try:
            load()
        except Exception as exc:
            logging.getLogger("insitu.worker").warning("%s warm-up failed: %s", name, exc)

    threading.Thread(target=run, name=f"{name}-warm-up", daemon=True).start()


def contract_address(config: WorkerConfig, name: str) -> str:
    """The address of contract ``name`` in the config's ``[contracts]`` table."""
    address = config.contracts.get(name)
    if not address:
        raise PermanentJobError("no_contract", f'{config.path} needs [contracts] {name} = "0x...".')
    return address


def store_for(config: WorkerConfig) -> Any:
    """The content store (Kubo or embedded) the config names."""
    from insitu.storage import open_store

    return open_store(config.ipfs_url, config.ipfs_store_dir)


def sessions_for(config: WorkerConfig) -> FederatedSession:
    """The config's ``FederatedSession`` contract, bound to this process's connection."""
    return _sessions_at(config.rpc_url, contract_address(config, "FederatedSession"))


@cache
def _sessions_at(url: str, address: str) -> FederatedSession:
    from insitu.chain.session import FederatedSession

    return FederatedSession(web3_for(url), address)
