"""Predict rows privately with a model asset, paying per row.

    ASSET=0x… CSV=rows.csv MODE=labels brownie run scripts/predict_private.py

The buyer listens on 127.0.0.1 for the model owner's worker (``HOST``/``PORT`` to change it)
and uses the offer's first dealer (``DEALER=0x…`` to pick another one the offer accepts).
On the local chain the buyer is given payment tokens first.
"""

import os

import numpy as np
from brownie import web3

from insitu.chain.ids import bytes32
from insitu.inference import buy_predictions, inference_offer
from insitu.market import Marketplace
from insitu.market.actors import CONSUMER, OPERATOR, signer
from insitu.market.deployments import DEV_CHAIN_IDS


def main(asset: str | None = None, csv: str | None = None, mode: str | None = None) -> list:
    asset_id = bytes32(asset or os.environ["ASSET"])
    rows = np.loadtxt(csv or os.environ["CSV"], delimiter=",", skiprows=1, ndmin=2)
    market = Marketplace.attach(web3)
    buyer = signer(web3, CONSUMER, env="INSITU_CONSUMER_KEY")
    price = inference_offer(market, asset_id).asset_price
    if web3.eth.chain_id in DEV_CHAIN_IDS and market.token.balance_of(buyer.address) < price:
        market.token.mint(signer(web3, OPERATOR), buyer.address, price)
    sale = buy_predictions(
        market,
        buyer,
        asset_id,
        rows,
        mode or os.environ.get("MODE", "labels"),
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "0")),
        dealer=os.environ.get("DEALER"),
    )
    print(f"predictions: {sale.predictions.tolist()}")
    print(
        f"agreement 0x{sale.agreement_id.hex()}: paid {sale.paid}, refunded {sale.refund}, "
        f"{sale.bytes_exchanged:,} bytes, {sale.seconds:.2f} s"
    )
    return sale.predictions.tolist()
