"""Who signs: a configured key on real networks, anvil's public dev accounts locally."""

from __future__ import annotations

import os

from eth_account.signers.local import LocalAccount
from web3 import Web3

from insitu.chain import account_from_env, dev_accounts
from insitu.chain.connection import PRIVATE_KEY_ENV
from insitu.market.deployments import DEV_CHAIN_IDS

#: Roles of the dev accounts in the demos and scripts (anvil's default mnemonic).
OPERATOR, PROVIDER_A, PROVIDER_B, CONSUMER, RELAYER = range(5)


def signer(w3: Web3, role: int = OPERATOR, env: str = PRIVATE_KEY_ENV) -> LocalAccount:
    """The key in ``$env`` if set; otherwise, on a local dev chain only, dev account ``role``."""
    if os.environ.get(env):
        return account_from_env(env)
    if w3.eth.chain_id in DEV_CHAIN_IDS:
        return dev_accounts(role + 1)[role]
    return account_from_env(env)  # raises, saying which variable to set
