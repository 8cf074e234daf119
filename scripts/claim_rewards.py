"""Claim a finalized session's payouts and withdraw them (after the challenge window).

    SESSION=0x… brownie run scripts/claim_rewards.py

Anyone may trigger the claims (the money goes to each payee's ledger entry); the signer then
withdraws its own balance.
"""

import os

from brownie import web3

from insitu.chain.ids import bytes32
from insitu.config import load_settings
from insitu.fl.sdk import claim_all
from insitu.market import Marketplace
from insitu.market.actors import CONSUMER, signer


def main() -> None:
    settings = load_settings()
    market = Marketplace.attach(web3, settings)
    sessions = market.sessions
    sender = signer(web3, CONSUMER, env="INSITU_CLAIMER_KEY")
    sid = bytes32(os.environ["SESSION"])
    claims = claim_all(sessions, sender, sid)
    for i, receipt in claims.participants.items():
        print(f"participant {i} credited (tx {receipt.tx_hash}, gas {receipt.gas_used:,})")
    if claims.remainder is not None:
        print(f"remainder credited (tx {claims.remainder.tx_hash})")
    token = sessions.get(sid).token
    if sessions.withdrawable(sender.address, token):
        print(f"withdrew (tx {sessions.withdraw(sender, token).tx_hash})")
