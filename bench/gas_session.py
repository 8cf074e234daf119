"""Gas of every step of a federated session (4 banks), on a real anvil.

Run: ``.venv/bin/python bench/gas_session.py``; prints a Markdown table and writes
``bench/results/gas_session.md``. It starts its own anvil, or uses the dev chain at
``$INSITU_RPC_URL`` (which must fund anvil's public dev accounts and support
``evm_increaseTime``).

The session plays 2 rounds with 4 participants, then finalizes and settles; the first
occurrence of each step is reported separately where it writes a storage slot from zero.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from eth_utils import keccak
from gas_table import run_and_write

from insitu.chain import (
    NATIVE_TOKEN,
    AccessMode,
    AssetKind,
    AssetRegistry,
    PaymentToken,
    connect,
    deploy_all,
    dev_accounts,
)
from insitu.chain.session import FederatedSession, deploy_session

RESULTS = Path(__file__).resolve().parent / "results" / "gas_session.md"
# A realistic CIDv1 (59 characters) for every CID argument.
CID = "bafkreic2ftncguorzxm526kx4v6awpefejcr6jnwjfcwtn7jioemi3yjqa"
ALGO = keccak(b"algorithm: federated logistic regression v1")
PRICE = 10**18
POOL = 10 * 10**18
BANKS = 4
HOUR = 3600


@dataclass(frozen=True)
class Row:
    operation: str
    gas: int
    note: str = ""


class Bench:
    """One deployment, four banks (owner + provider each), a data scientist, a coordinator."""

    def __init__(self, url: str) -> None:
        self.w3 = connect(url)
        accounts = dev_accounts(10)
        self.deployer, self.scientist = accounts[0], accounts[9]
        self.owners, self.providers = accounts[1:5], accounts[5:9]
        self.coordinator = self.deployer
        d = deploy_all(self.w3, self.deployer)
        self.registry = AssetRegistry(self.w3, d.registry)
        self.token = PaymentToken(self.w3, d.token)
        self.sessions = FederatedSession(
            self.w3, deploy_session(self.w3, self.deployer, d.registry)
        )
        self.token.mint(self.deployer, self.scientist.address, 10**24)
        self.token.approve(self.scientist, self.sessions.address, 2**256 - 1)
        self.assets = [self._register(i, self.token.address) for i in range(BANKS)]
        self.eth_assets = [self._register(i, NATIVE_TOKEN) for i in range(BANKS)]
        self._salt = 0

    def _register(self, i: int, token: str) -> bytes:
        self._salt = getattr(self, "_salt", 0) + 1
        asset = self.registry.register(
            self.owners[i],
            salt=self._salt.to_bytes(32, "big"),
            kind=AssetKind.DATASET,
            mode=AccessMode.COMPUTE_ONLY,
            metadata_cid=CID,
            metadata_hash=keccak(b"metadata"),
            provider=self.providers[i].address,
            price=PRICE + i,
            token=token,
        ).asset_id
        self.registry.allow_algorithms(self.owners[i], asset, [ALGO])
        return asset

    def _now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def _travel(self, seconds: int) -> None:
        self.w3.provider.make_request("evm_increaseTime", [seconds])
        self.w3.provider.make_request("evm_mine", [])

    def _create(self, assets: list[bytes], token: str) -> tuple[bytes, int]:
        self._salt += 1
        now = self._now()
        creation = self.sessions.create(
            self.scientist,
            self._salt.to_bytes(32, "big"),
            assets,
            algorithm_hash=ALGO,
            rounds=2,
            min_participants=3,
            accept_deadline=now + HOUR,
            session_deadline=now + 24 * HOUR,
            reward_pool=POOL,
            coordinator=self.coordinator.address,
            token=token,
            challenge_window=HOUR,
            config_cid=CID,
        )
        return creation.session_id, creation.receipt.gas_used

    def run(self) -> list[Row]:
        s, rows = self.sessions, []
        sid, gas = self._create(self.assets, self.token.address)
        rows.append(Row("createSession (4 datasets, ERC-20)", gas, "prices + pool pulled"))
        _, gas = self._create(self.eth_assets, NATIVE_TOKEN)
        rows.append(Row("createSession (4 datasets, ETH)", gas))
        accepts = [s.accept(self.providers[i], sid, i).gas_used for i in range(BANKS)]
        rows.append(Row("accept", accepts[1], "per provider"))
        rows.append(Row("start", s.start(self.coordinator, sid).gas_used))

        updates: list[int] = []
        aggregates: list[int] = []
        for r in range(2):
            for i in range(BANKS):
                receipt = s.commit_update(self.providers[i], sid, r, i, keccak(b"u%d" % i), CID)
                updates.append(receipt.gas_used)
            receipt = s.commit_aggregate(
                self.coordinator, sid, r, keccak(b"agg"), CID, included=range(BANKS)
            )
            aggregates.append(receipt.gas_used)
        rows.append(Row("commitUpdate (first of a participant)", updates[0]))
        rows.append(Row("commitUpdate (later rounds)", updates[BANKS + 1], "per participant"))
        rows.append(Row("commitAggregate", aggregates[1], "per round"))

        scores = [5, 3, 2, 1]
        receipt = s.finalize(
            self.coordinator, sid, scores, model_hash=keccak(b"model"), model_cid=CID,
            report_hash=keccak(b"report"), report_cid=CID,
        )  # fmt: skip
        rows.append(Row("finalize (4 scores)", receipt.gas_used, "opens the challenge window"))
        self._travel(HOUR + 1)
        claims = [s.claim(self.scientist, sid, i, scores).gas_used for i in range(BANKS)]
        rows.append(Row("claim", claims[0], "payee's balance slot written from zero"))
        remainder = s.claim_remainder(self.scientist, sid, scores).gas_used
        rows.append(Row("claimRemainder", remainder, "last claim: settles the session"))
        rows.append(
            Row("withdraw (ERC-20)", s.withdraw(self.owners[0], self.token.address).gas_used)
        )

        total = (
            gas_of(rows, "createSession (4 datasets, ERC-20)")
            + sum(accepts)
            + gas_of(rows, "start")
            + sum(updates)
            + sum(aggregates)
            + gas_of(rows, "finalize (4 scores)")
            + sum(claims)
            + remainder
        )
        rows.append(
            Row("**whole session** (4 banks, 2 rounds, settled)", total, "before withdrawals")
        )
        rows.extend(self._other_paths())
        return rows

    def _other_paths(self) -> list[Row]:
        """Dispute, expiry and cancellation, each on a fresh session."""
        s, rows = self.sessions, []
        sid, _ = self._create(self.assets, self.token.address)
        rows.append(Row("cancel (before start)", s.cancel(self.scientist, sid).gas_used))

        sid, _ = self._create(self.assets, self.token.address)
        for i in range(BANKS):
            s.accept(self.providers[i], sid, i)
        s.start(self.coordinator, sid)
        for i in range(BANKS):
            s.commit_update(self.providers[i], sid, 0, i, keccak(b"u"), CID)
        s.commit_aggregate(self.coordinator, sid, 0, keccak(b"agg"), CID, included=range(BANKS))
        for i in range(BANKS):
            s.commit_update(self.providers[i], sid, 1, i, keccak(b"u"), CID)
        s.commit_aggregate(self.coordinator, sid, 1, keccak(b"agg"), CID, included=range(BANKS))
        s.finalize(
            self.coordinator, sid, [1, 1, 1, 1], model_hash=keccak(b"m"), model_cid=CID,
            report_hash=keccak(b"r"), report_cid=CID,
        )  # fmt: skip
        rows.append(Row("challenge", s.challenge(self.owners[0], sid, keccak(b"e"), CID).gas_used))
        rows.append(Row("resolve (arbiter)", s.resolve(self.deployer, sid, True).gas_used))
        self._travel(24 * HOUR + 1)
        rows.append(
            Row("expire (4 paid their price)", s.expire(self.scientist, sid).gas_used, "anyone")
        )
        return rows


def gas_of(rows: list[Row], operation: str) -> int:
    return next(r.gas for r in rows if r.operation == operation)


def render(rows: list[Row], anvil: str) -> str:
    today = datetime.now(UTC).date().isoformat()
    lines = [
        "# Gas per step of a federated session",
        "",
        f"Measured by `bench/gas_session.py` on anvil ({anvil}), {today}: solc 0.8.28, "
        "optimizer 200 runs, EVM paris; 4 banks' compute-only datasets, 2 rounds, CIDs of 59 "
        "characters. Rows are gas used by the transaction (21,000 base included). The "
        "participant list and the scores are stored as hashes and passed back in calldata, so "
        "accept, commitUpdate, claim and expire carry 4 × 128 bytes of participants.",
        "",
        "| operation | gas | note |",
        "|---|---:|---|",
        *(f"| {r.operation} | {r.gas:,} | {r.note} |" for r in rows),
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    """Run, print and write the report."""
    return run_and_write(lambda url: Bench(url).run(), render, RESULTS)


if __name__ == "__main__":
    sys.exit(main())
