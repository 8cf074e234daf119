"""Buy a compute-to-data job, wait for the provider's worker, verify and decrypt the result.

    DATASET=0x… ALGORITHM=0x… PARAMS='{"estimator": "sklearn.linear_model.LogisticRegression",
        "target": "is_fraud"}' RELAY=1 OUT=result/ brownie run scripts/buy_compute.py

or ``brownie run scripts/buy_compute.py main 0x<dataset> 0x<algorithm> '{…}'``. The buyer is
``$INSITU_CONSUMER_KEY`` (locally: anvil's consumer dev account); with RELAY=1 the relayer
(``$INSITU_RELAYER_KEY``) submits the signed request. On the local chain the buyer is given
payment tokens first. A thin shell over ``insitu.compute.buyer``.
"""

import json
import os

from brownie import web3

from insitu.chain.ids import bytes32
from insitu.compute.buyer import request_compute, wait_for_result
from insitu.market import Marketplace
from insitu.market.actors import CONSUMER, OPERATOR, RELAYER, signer
from insitu.market.deployments import DEV_CHAIN_IDS


def main(
    dataset: str | None = None, algorithm: str | None = None, params: str | None = None
) -> str:
    market = Marketplace.attach(web3)
    buyer = signer(web3, CONSUMER, env="INSITU_CONSUMER_KEY")
    dataset_id = bytes32(dataset or os.environ["DATASET"])
    price = market.asset(dataset_id).price
    if web3.eth.chain_id in DEV_CHAIN_IDS and market.token.balance_of(buyer.address) < price:
        market.token.mint(signer(web3, OPERATOR), buyer.address, price)
    relayer = signer(web3, RELAYER, env="INSITU_RELAYER_KEY") if os.environ.get("RELAY") else None
    request = request_compute(
        market,
        buyer,
        dataset_id,
        bytes32(algorithm or os.environ["ALGORITHM"]),
        json.loads(params or os.environ.get("PARAMS", "{}")),
        relayer=relayer,
    )
    print(f"agreement 0x{request.agreement_id.hex()} (tx {request.receipts[-1].tx_hash})")
    result = wait_for_result(
        market,
        request.agreement_id,
        buyer,
        timeout=float(os.environ.get("TIMEOUT", "300")),
        dest=os.environ.get("OUT"),
        on_progress=print,
    )
    print(f"result {result.cid} verified and decrypted into {result.folder}: {result.files}")
    for name in ("metrics.json", "stats.json", "result.json"):
        if name in result.files:
            print(name, json.dumps(result.load_json(name), indent=2))
    return "0x" + request.agreement_id.hex()
