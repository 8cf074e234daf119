"""A real anvil for the chain tests: one per session, one EVM snapshot per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from chain_helpers import FEE_BPS, MINTED, Chain

from insitu.chain import (
    AgreementEscrow,
    AssetRegistry,
    PaymentToken,
    connect,
    deploy_all,
    dev_accounts,
)
from insitu.chain.devnode import ephemeral_anvil


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
