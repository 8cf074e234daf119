"""A real anvil for the chain tests: one per session, one EVM snapshot per test."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from eth_account.signers.local import LocalAccount
from web3 import Web3

from insitu.chain import (
    AgreementEscrow,
    AssetRegistry,
    Deployment,
    PaymentToken,
    connect,
    deploy_all,
    dev_accounts,
)
from insitu.chain.devnode import ephemeral_anvil

FEE_BPS = 250
MINTED = 10**24


@dataclass(frozen=True)
class Chain:
    """The deployed contracts and the cast of accounts every chain test uses."""

    w3: Web3
    deployment: Deployment
    registry: AssetRegistry
    escrow: AgreementEscrow
    token: PaymentToken
    deployer: LocalAccount  # marketplace owner and token minter
    owner: LocalAccount  # asset owner (payee)
    provider: LocalAccount  # fulfils agreements
    consumer: LocalAccount
    consumer2: LocalAccount
    relayer: LocalAccount  # submits signed requests
    stranger: LocalAccount
    fee_recipient: LocalAccount

    def now(self) -> int:
        """The latest block's timestamp."""
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def travel(self, seconds: int) -> None:
        """Move the chain's clock forward and mine a block."""
        self.w3.provider.make_request("evm_increaseTime", [seconds])
        self.w3.provider.make_request("evm_mine", [])

    def snapshot(self) -> str:
        return str(self.w3.provider.make_request("evm_snapshot", [])["result"])

    def revert(self, snapshot_id: str) -> None:
        reply = self.w3.provider.make_request("evm_revert", [snapshot_id])
        assert reply.get("result") is True, reply


@pytest.fixture(scope="session")
def rpc_url() -> Iterator[str]:
    with ephemeral_anvil() as url:
        yield url


@pytest.fixture(scope="session")
def chain(rpc_url: str) -> Chain:
    w3 = connect(rpc_url)
    accounts = dev_accounts(10)
    deployer, fee_recipient = accounts[0], accounts[9]
    deployment = deploy_all(w3, deployer, FEE_BPS, fee_recipient.address)
    token = PaymentToken(w3, deployment.token)
    for consumer in accounts[3:5]:
        token.mint(deployer, consumer.address, MINTED)
    return Chain(
        w3=w3,
        deployment=deployment,
        registry=AssetRegistry(w3, deployment.registry),
        escrow=AgreementEscrow(w3, deployment.escrow),
        token=token,
        deployer=deployer,
        owner=accounts[1],
        provider=accounts[2],
        consumer=accounts[3],
        consumer2=accounts[4],
        relayer=accounts[5],
        stranger=accounts[6],
        fee_recipient=fee_recipient,
    )


@pytest.fixture(autouse=True)
def isolated(chain: Chain) -> Iterator[None]:
    """Every test starts from the freshly deployed chain and leaves no trace."""
    snapshot_id = chain.snapshot()
    yield
    chain.revert(snapshot_id)
