"""The marketplace demo: publish, buy with a signed request, deliver, get paid.

Runs against the local stack (or configured services): deploy, two banks publish datasets
(metadata on IPFS), a data scientist signs an EIP-712 purchase with an ERC-2612 permit that a
relayer submits, the bank's provider delivers a result encrypted to the buyer, the escrow
releases the payment, the bank withdraws, and the buyer verifies and decrypts the result.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from rich.table import Table

from insitu.chain import AccessMode, dev_accounts
from insitu.crypto.ecies import decrypt, encrypt, public_key_from_private
from insitu.demo.ledger import DemoLedger
from insitu.market import Marketplace

TOKEN = 10**18  # the payment token has 18 decimals


@dataclass(frozen=True)
class Cast:
    """Who plays which part (anvil's public dev accounts on the local chain)."""

    operator: LocalAccount  # deploys, collects the marketplace fee
    bank_a: LocalAccount
    bank_b: LocalAccount
    scientist: LocalAccount
    relayer: LocalAccount

    @classmethod
    def local(cls) -> Cast:
        return cls(*dev_accounts(5))


def _fmt(amount: int) -> str:
    return f"{amount / TOKEN:,.4f}"


def balances_table(market: Marketplace, cast: Cast, title: str) -> Table:
    token = market.token
    table = Table("account", "wallet (INSITU)", "withdrawable in escrow", title=title)
    rows = [
        ("data scientist", cast.scientist.address),
        ("bank A", cast.bank_a.address),
        ("bank B", cast.bank_b.address),
        ("marketplace (fee)", cast.operator.address),
        ("escrow contract", market.escrow.address),
    ]
    for name, address in rows:
        held = market.escrow.withdrawable(address, token.address)
        table.add_row(name, _fmt(token.balance_of(address)), _fmt(held) if held else "")
    return table


def run_marketplace_flow(market: Marketplace, cast: Cast, ledger: DemoLedger) -> dict[str, str]:
    """The issue-2 flow, step by step; returns the ids and CIDs it created."""
    console = ledger.console

    ledger.phase("Publish: two banks list their transactions as datasets")
    ledger.tx(
        "operator",
        "mint 100 INSITU to the data scientist",
        market.token.mint(cast.operator, cast.scientist.address, 100 * TOKEN),
    )
    published = {}
    for name, bank, rows in (("Bank A", cast.bank_a, 20_000), ("Bank B", cast.bank_b, 15_000)):
        pub = market.publish(
            bank,
            {
                "name": f"{name} card transactions",
                "kind": "dataset",
                "description": "Card payments with a fraud label; the rows never leave the bank.",
                "columns": [
                    {"name": "amount", "type": "number", "unit": "EUR"},
                    {"name": "hour", "type": "integer"},
                    {"name": "is_fraud", "type": "boolean"},
                ],
                "rows": rows,
                "license": "insitu compute-only",
            },
            price=5 * TOKEN,
            mode=AccessMode.DOWNLOAD,
        )
        published[name] = pub
        ledger.tx(
            name,
            "register dataset",
            pub.receipts["register"],
            f"asset 0x{pub.asset_id.hex()[:12]}… metadata {pub.metadata_cid}",
        )
    asset = published["Bank A"].asset_id
    console.print(f"  metadata read back from IPFS: {market.metadata(asset).name!r}")

    ledger.phase("Buy: the data scientist signs, a relayer submits")
    purchase = market.sign_purchase(cast.scientist, asset, duration=3600)
    ledger.note(
        "data scientist",
        "signed EIP-712 request + ERC-2612 permit (no gas)",
        f"nonce {purchase.request.nonce}, max price {_fmt(purchase.request.max_price)}",
    )
    created = market.submit(cast.relayer, purchase)
    agreement = created.agreement_id
    ledger.tx(
        "relayer",
        "createSigned (payment pulled into escrow)",
        created.receipt,
        f"agreement 0x{agreement.hex()[:12]}…",
    )
    console.print(balances_table(market, cast, "Balances with the payment in escrow"))

    ledger.phase("Deliver: the bank's provider fulfils with an encrypted result")
    result = json.dumps({"rows": 20_000, "fraud_rate": 0.011}).encode()
    sealed = encrypt(public_key_from_private(cast.scientist), result)
    cid, digest, receipt = market.deliver(cast.bank_a, agreement, sealed)
    ledger.tx("Bank A", "fulfil (escrow released)", receipt, f"result {cid}")
    ledger.tx(
        "Bank A", "withdraw earnings", market.escrow.withdraw(cast.bank_a, market.token.address)
    )

    ledger.phase("Verify: the data scientist checks and decrypts the result")
    fetched = market.store.cat(cid)
    state = market.escrow.get(agreement)
    if not state.proves_result(digest):
        raise AssertionError("the on-chain commitment does not match the delivered result")
    plaintext = json.loads(decrypt(cast.scientist.key, fetched))
    ledger.note(
        "data scientist",
        "result verified against the on-chain hash and decrypted",
        json.dumps(plaintext),
    )
    console.print(balances_table(market, cast, "Balances after delivery and withdrawal"))
    return {
        "agreement": "0x" + agreement.hex(),
        "asset_a": "0x" + asset.hex(),
        "result_cid": cid,
    }
