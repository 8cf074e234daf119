"""Start a federated session over published datasets (the data scientist).

    ASSETS=0x…,0x… TEMPLATE=model.pkl CONFIG=session.json POOL=100 \
        brownie run scripts/start_session.py

TEMPLATE is the pickled sklearn Pipeline (its keccak256 is the algorithm hash each bank must have
allowlisted), CONFIG the JSON of `insitu.fl.SessionConfig` fields other than the template's CID
and hash (features, target, classes, rounds, ...). Prices plus POOL tokens are escrowed; the
banks' workers accept, then the session is started once all have.
"""

import json
import os
from pathlib import Path

from brownie import web3

from insitu.chain.ids import bytes32
from insitu.config import load_settings
from insitu.fl.documents import SessionConfig, put
from insitu.fl.sdk import create_session, wait_accepted
from insitu.market import Marketplace
from insitu.market.actors import CONSUMER, signer


def main() -> str:
    settings = load_settings()
    market = Marketplace.attach(web3, settings)
    sessions = market.sessions
    address = sessions.address
    scientist = signer(web3, CONSUMER, env="INSITU_CONSUMER_KEY")
    template_cid, algo = put(market.store, Path(os.environ["TEMPLATE"]).read_bytes())
    fields = json.loads(Path(os.environ["CONFIG"]).read_text())
    config = SessionConfig(template_cid=template_cid, template_hash="0x" + algo.hex(), **fields)
    assets = [bytes32(a) for a in os.environ["ASSETS"].split(",")]
    pool = int(float(os.environ.get("POOL", "0")) * 10**18)
    market.token.approve(scientist, address, sessions.quote(assets, algo) + pool)
    created = create_session(
        sessions, market.store, scientist, assets, config, reward_pool=pool,
        coordinator=os.environ.get("COORDINATOR", scientist.address),
        token=market.deployment.token,
    )  # fmt: skip
    sid = created.session_id
    print(f"session 0x{sid.hex()} created (tx {created.receipt.tx_hash}); waiting for the banks")
    wait_accepted(sessions, sid, timeout=float(os.environ.get("ACCEPT_TIMEOUT", "120")))
    receipt = sessions.start(scientist, sid)
    print(
        f"started (tx {receipt.tx_hash}); follow it with `insitu fl session status 0x{sid.hex()}`"
    )
    return "0x" + sid.hex()
