"""brownie fixtures: contracts deployed with brownie's own containers on its anvil."""

import pytest


@pytest.fixture(autouse=True)
def isolation(fn_isolation):
    """Every test starts from the same chain state (brownie snapshots and reverts)."""


@pytest.fixture(scope="module")
def registry(AssetRegistry, accounts):
    return AssetRegistry.deploy({"from": accounts[0]})


@pytest.fixture(scope="module")
def token(PaymentToken, accounts):
    return PaymentToken.deploy("insitu Payment Token", "INSITU", accounts[0], {"from": accounts[0]})


@pytest.fixture(scope="module")
def escrow(AgreementEscrow, registry, accounts):
    # fee 2.5 % to accounts[9]
    return AgreementEscrow.deploy(registry, accounts[0], 250, accounts[9], {"from": accounts[0]})
