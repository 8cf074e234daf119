"""Connect to an Ethereum node and load signing accounts (never keys in code)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import HTTPProvider, Web3

from insitu.errors import ConfigError, InsituError

PRIVATE_KEY_ENV = "INSITU_PRIVATE_KEY"
KEYSTORE_PASSWORD_ENV = "INSITU_KEYSTORE_PASSWORD"

#: anvil's default mnemonic. Its keys are PUBLIC test keys known to everyone: use them only on a
#: local development chain, never for real funds.
DEV_MNEMONIC = "test test test test test test test test test test test junk"


class ChainUnavailable(InsituError):
    """The Ethereum node cannot be reached."""


def connect(rpc_url: str, timeout: float = 10.0) -> Web3:
    """A ``Web3`` on ``rpc_url``; raises ``ChainUnavailable`` if the node does not answer."""
    w3 = Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
    try:
        w3.eth.chain_id  # noqa: B018 - one round trip proves the node answers
    except Exception as exc:  # connection errors come in many types (requests, web3, ValueError)
        raise ChainUnavailable(
            f"no Ethereum node answers at {rpc_url} ({type(exc).__name__}): start one "
            "(`insitu stack up`) or set INSITU_RPC_URL to a reachable JSON-RPC endpoint."
        ) from exc
    return w3


def account_from_env(variable: str = PRIVATE_KEY_ENV) -> LocalAccount:
    """The account whose 0x-hex private key is in the environment variable ``variable``."""
    key = os.environ.get(variable)
    if not key:
        raise ConfigError(
            f"{variable} is not set: export the account's private key there, or use a keystore "
            "file (load_keystore)."
        )
    try:
        return Account.from_key(key)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{variable} does not hold a valid 32-byte hex private key.") from exc


def load_keystore(path: str | Path, password: str | None = None) -> LocalAccount:
    """Decrypt a V3 JSON keystore; the password defaults to ``$INSITU_KEYSTORE_PASSWORD``."""
    path = Path(path)
    if password is None:
        password = os.environ.get(KEYSTORE_PASSWORD_ENV)
    if password is None:
        raise ConfigError(
            f"no password for keystore {path}: pass it or set {KEYSTORE_PASSWORD_ENV}."
        )
    try:
        encrypted = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read keystore {path}: {exc}; check the path.") from exc
    try:
        key = Account.decrypt(encrypted, password)
    except ValueError as exc:
        raise ConfigError(f"cannot decrypt keystore {path}: wrong password?") from exc
    return Account.from_key(key)


def save_keystore(account: LocalAccount, path: str | Path, password: str) -> Path:
    """Encrypt ``account`` into a V3 keystore file at ``path`` (mode 0600)."""
    path = Path(path)
    path.write_text(json.dumps(Account.encrypt(account.key, password)))
    path.chmod(0o600)
    return path


def dev_accounts(count: int = 10, mnemonic: str = DEV_MNEMONIC) -> list[LocalAccount]:
    """anvil's funded development accounts (PUBLIC test keys: local chains only)."""
    Account.enable_unaudited_hdwallet_features()
    return [
        Account.from_mnemonic(mnemonic, account_path=f"m/44'/60'/0'/0/{i}") for i in range(count)
    ]
