"""The purchase flow through brownie's contract objects, and the SDK over brownie's web3."""

import brownie
from brownie import web3

from insitu.chain import AgreementEscrow, AssetRegistry, agreement_id, asset_id

ZERO = "0x" + "00" * 32
DATASET, COMPUTE_ONLY = 0, 1
PRICE = 10**18


def _register(registry, token, owner, salt="0x" + "11" * 32, mode=COMPUTE_ONLY):
    registry.register(
        salt,
        DATASET,
        mode,
        "bafy-metadata",
        "0x" + "22" * 32,
        owner,
        token,
        PRICE,
        {"from": owner},
    )
    return asset_id(owner.address, bytes.fromhex(salt[2:]))


def test_compute_purchase_releases_payment_minus_fee(registry, token, escrow, accounts):
    owner, buyer = accounts[1], accounts[2]
    algo = "0x" + "ab" * 32
    asset = _register(registry, token, owner)
    registry.setAlgorithms(asset, [algo], True, {"from": owner})
    token.mint(buyer, PRICE, {"from": accounts[0]})
    token.approve(escrow, PRICE, {"from": buyer})

    salt = "0x" + "33" * 32
    deadline = web3.eth.get_block("latest")["timestamp"] + 3600
    tx = escrow.create(asset, salt, algo, ZERO, "bafy-params", PRICE, deadline, {"from": buyer})
    agreement = agreement_id(buyer.address, bytes.fromhex(salt[2:]))
    assert tx.events["AgreementCreated"]["agreementId"] == "0x" + agreement.hex()
    assert token.balanceOf(escrow) == PRICE

    terms = tx.events["AgreementCreated"]["terms"]
    escrow.fulfil(agreement, terms, "0x" + "44" * 32, "bafy-result", {"from": owner})
    fee = PRICE * 250 // 10_000
    assert escrow.withdrawable(owner, token) == PRICE - fee
    assert escrow.withdrawable(accounts[9], token) == fee
    with brownie.reverts():  # nobody is paid twice
        escrow.fulfil(agreement, terms, "0x" + "44" * 32, "bafy-result", {"from": owner})


def test_algorithm_not_on_the_allowlist_is_refused(registry, token, escrow, accounts):
    owner, buyer = accounts[1], accounts[2]
    asset = _register(registry, token, owner)
    token.mint(buyer, PRICE, {"from": accounts[0]})
    token.approve(escrow, PRICE, {"from": buyer})
    deadline = web3.eth.get_block("latest")["timestamp"] + 3600
    with brownie.reverts():  # deny by default: an empty allowlist allows nothing
        escrow.create(
            asset, "0x" + "33" * 32, "0x" + "ab" * 32, ZERO, "", PRICE, deadline, {"from": buyer}
        )


def test_sdk_reads_brownie_deployments(registry, token, escrow, accounts):
    owner = accounts[1]
    asset = _register(registry, token, owner)
    record = AssetRegistry(web3, registry.address).get(asset)
    assert record.owner == owner.address and record.price == PRICE
    assert AgreementEscrow(web3, escrow.address).fee_bps() == 250
