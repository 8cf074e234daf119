"""Create and start a generator session over published datasets (the data scientist).

    ASSETS=0x…,0x… SCHEMA=schema.json EPSILON=4 POOL=100 brownie run scripts/synth_session.py

SCHEMA is the shared schema JSON (``insitu.synth.Schema.to_dict``); its generator template's
keccak256 is the algorithm hash each provider must have allowlisted (printed here). Prices plus
POOL tokens are escrowed; once the providers' workers (``insitu.synthsession.worker_app``) have
accepted, the session is started and they fit and commit their DP contributions.
Leave EPSILON unset for a session without differential privacy (providers refuse it by default).
"""

import json
import os
from pathlib import Path

from brownie import web3

from insitu.chain.ids import bytes32
from insitu.config import load_settings
from insitu.fl.sdk import wait_accepted
from insitu.market import Marketplace
from insitu.market.actors import CONSUMER, signer
from insitu.synth.schema import Schema
from insitu.synthsession.documents import GeneratorConfig
from insitu.synthsession.sdk import create_generator_session, publish_generator_template


def main() -> str:
    market = Marketplace.attach(web3, load_settings())
    scientist = signer(web3, CONSUMER, env="INSITU_CONSUMER_KEY")
    schema = Schema.from_dict(json.loads(Path(os.environ["SCHEMA"]).read_text()))
    template_cid, algo = publish_generator_template(market.store, schema)
    print(f"algorithm hash 0x{algo.hex()} (providers allowlist it on their assets)")
    epsilon = float(os.environ["EPSILON"]) if os.environ.get("EPSILON") else None
    config = GeneratorConfig(template_cid, "0x" + algo.hex(), epsilon=epsilon,
                             delta=float(os.environ.get("DELTA", "1e-5")))  # fmt: skip
    created = create_generator_session(
        market, scientist, [bytes32(a) for a in os.environ["ASSETS"].split(",")], config,
        reward_pool=int(float(os.environ.get("POOL", "0")) * 10**18),
        coordinator=os.environ.get("COORDINATOR", scientist.address),
    )  # fmt: skip
    sid = created.session_id
    print(f"session 0x{sid.hex()} created (tx {created.receipt.tx_hash}); waiting for providers")
    wait_accepted(market.sessions, sid, timeout=float(os.environ.get("ACCEPT_TIMEOUT", "120")))
    receipt = market.sessions.start(scientist, sid)
    print(f"started (tx {receipt.tx_hash}); follow it: `insitu synth session status 0x{sid.hex()}`")
    return "0x" + sid.hex()
