"""Buy access to an asset with a signed (EIP-712) request that a relayer submits.

    ASSET=0x… brownie run scripts/buy_access.py

The consumer signs the request and an ERC-2612 permit offline; the relayer pays the gas. On the
local chain the consumer is given payment tokens first.
"""

import os

from brownie import web3

from insitu.chain.ids import bytes32
from insitu.market import Marketplace
from insitu.market.actors import CONSUMER, OPERATOR, RELAYER, signer
from insitu.market.deployments import DEV_CHAIN_IDS


def main(asset: str | None = None) -> str:
    asset_id = bytes32(asset or os.environ["ASSET"])
    market = Marketplace.attach(web3)
    consumer = signer(web3, CONSUMER, env="INSITU_CONSUMER_KEY")
    price = market.asset(asset_id).price
    if web3.eth.chain_id in DEV_CHAIN_IDS and market.token.balance_of(consumer.address) < price:
        market.token.mint(signer(web3, OPERATOR), consumer.address, price)
    purchase = market.sign_purchase(consumer, asset_id)
    created = market.submit(signer(web3, RELAYER, env="INSITU_RELAYER_KEY"), purchase)
    agreement = "0x" + created.agreement_id.hex()
    print(f"agreement {agreement} (tx {created.receipt.tx_hash}, gas {created.receipt.gas_used:,})")
    return agreement
