"""Publish a dataset: metadata on IPFS, registration and algorithm allowlist on-chain.

    METADATA=dataset.json PRICE=5 MODE=download|compute|inference ALGORITHMS=0xabc…,0xdef… \
        brownie run scripts/publish_asset.py

METADATA defaults to a small example document; PRICE is in payment-token units.
"""

import json
import os
from pathlib import Path

from brownie import web3

from insitu.chain import AccessMode
from insitu.chain.ids import bytes32
from insitu.market import Marketplace, parse_metadata
from insitu.market.actors import PROVIDER_A, signer

EXAMPLE = {
    "name": "Example card transactions",
    "kind": "dataset",
    "description": "Published by scripts/publish_asset.py; the rows stay with the provider.",
}
MODES = {
    "download": AccessMode.DOWNLOAD,
    "compute": AccessMode.COMPUTE_ONLY,
    "inference": AccessMode.INFERENCE,
}


def main() -> str:
    path = os.environ.get("METADATA")
    document = Path(path).read_text() if path else json.dumps(EXAMPLE)
    algorithms = [bytes32(a) for a in os.environ.get("ALGORITHMS", "").split(",") if a]
    market = Marketplace.attach(web3)
    publication = market.publish(
        signer(web3, PROVIDER_A),
        parse_metadata(document, source=path or "example metadata"),
        price=int(float(os.environ.get("PRICE", "5")) * 10**18),
        mode=MODES[os.environ.get("MODE", "download")],
        algorithms=algorithms,
    )
    asset = "0x" + publication.asset_id.hex()
    print(f"asset {asset}\nmetadata {publication.metadata_cid}")
    return asset
