"""Sample a finalized generator session in your own encoding (any participant).

    SESSION=0x… MAPPING=my_mapping.json N=5000 OUT=synthetic.csv brownie run scripts/synth_sample.py

The generator is fetched from IPFS and checked against the session's on-chain commitment; the
rows come back in MAPPING's columns, units and codes (``insitu.synth.LocalMapping`` JSON).
"""

import os
from pathlib import Path

from brownie import web3

from insitu.chain.ids import bytes32
from insitu.config import load_settings
from insitu.market import Marketplace
from insitu.synthsession.sdk import load_mapping, request_synthetic_sample


def main() -> str:
    market = Marketplace.attach(web3, load_settings())
    frame = request_synthetic_sample(
        market, bytes32(os.environ["SESSION"]), int(os.environ.get("N", "1000")),
        load_mapping(os.environ["MAPPING"]),
        seed=int(os.environ["SEED"]) if os.environ.get("SEED") else None,
    )  # fmt: skip
    out = Path(os.environ.get("OUT", "synthetic.csv"))
    frame.to_csv(out, index=False)
    print(f"{len(frame)} synthetic rows -> {out}")
    return str(out)
