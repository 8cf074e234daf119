"""Small builders shared by the chain tests."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3

from insitu.chain import (
    NATIVE_TOKEN,
    AccessMode,
    AgreementEscrow,
    AssetKind,
    AssetRegistry,
    ContractRevert,
    Creation,
    Deployment,
    PaymentToken,
    TxReceipt,
)

CID = "bafkreic2ftncguorzxm526kx4v6awpefejcr6jnwjfcwtn7jioemi3yjqa"
PRICE = 10**18
ALGO = keccak(b"algorithm: logistic regression v1")
OTHER_ALGO = keccak(b"algorithm: exfiltrate rows")
PARAMS = keccak(b'{"C": 1.0}')
RESULT = keccak(b"result bytes")
_salts = itertools.count(1)
FEE_BPS = 250
MINTED = 10**24


@dataclass(frozen=True)
class Chain:
    """The deployed contracts and the cast of accounts every chain test uses."""

    w3: Web3
    deployment: Deployment
    registry: AssetRegistry
    escrow: AgreementEscrow
    token: PaymentToken
    deployer: LocalAccount  # marketplace owner and token minter
    owner: LocalAccount  # asset owner (payee)
    provider: LocalAccount  # fulfils agreements
    consumer: LocalAccount
    consumer2: LocalAccount
    relayer: LocalAccount  # submits signed requests
    stranger: LocalAccount
    fee_recipient: LocalAccount

    def now(self) -> int:
        """The latest block's timestamp."""
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def travel(self, seconds: int) -> None:
        """Move the chain's clock forward and mine a block."""
        self.w3.provider.make_request("evm_increaseTime", [seconds])
        self.w3.provider.make_request("evm_mine", [])

    def snapshot(self) -> str:
        return str(self.w3.provider.make_request("evm_snapshot", [])["result"])

    def revert(self, snapshot_id: str) -> None:
        reply = self.w3.provider.make_request("evm_revert", [snapshot_id])
        assert reply.get("result") is True, reply


def salt() -> bytes:
    """A fresh 32-byte salt."""
    return next(_salts).to_bytes(32, "big")


@contextmanager
def reverts(error: str, **expected_args: Any) -> Iterator[pytest.ExceptionInfo[ContractRevert]]:
    """Expect a ``ContractRevert`` naming ``error`` (and, optionally, these argument values)."""
    with pytest.raises(ContractRevert) as info:
        yield info
    assert info.value.error == error, str(info.value)
    for name, value in expected_args.items():
        assert info.value.args_by_name[name] == value, (name, info.value.args_by_name)


def event_names(contract: Any, receipt: TxReceipt) -> list[str]:
    """Names of ``contract``'s events in ``receipt``, in log order."""
    topics = {
        bytes(keccak(text=_event_signature(item))): item["name"]
        for item in contract.abi
        if item["type"] == "event"
    }
    return [
        topics[bytes(log["topics"][0])]
        for log in receipt.raw["logs"]
        if log["address"] == contract.address and bytes(log["topics"][0]) in topics
    ]


def _event_signature(item: dict[str, Any]) -> str:
    def kind(i: dict[str, Any]) -> str:
        if i["type"].startswith("tuple"):
            return "(" + ",".join(kind(c) for c in i["components"]) + ")" + i["type"][5:]
        return str(i["type"])

    return f"{item['name']}({','.join(kind(i) for i in item['inputs'])})"


def register(
    chain: Any,
    *,
    mode: AccessMode = AccessMode.COMPUTE_ONLY,
    token: str | None = None,
    price: int = PRICE,
    algorithms: tuple[bytes, ...] = (ALGO,),
    owner: Any = None,
) -> bytes:
    """Register an asset (priced in the ERC-20 unless ``token`` is given); allow ``algorithms``."""
    owner = owner or chain.owner
    registration = chain.registry.register(
        owner,
        salt=salt(),
        kind=AssetKind.DATASET,
        mode=mode,
        metadata_cid=CID,
        metadata_hash=keccak(b"metadata"),
        provider=chain.provider.address,
        price=price,
        token=chain.token.address if token is None else token,
    )
    if algorithms:
        chain.registry.allow_algorithms(owner, registration.asset_id, list(algorithms))
    return registration.asset_id


def register_eth(chain: Any, **kwargs: Any) -> bytes:
    """Register an asset priced in native ETH."""
    return register(chain, token=NATIVE_TOKEN, **kwargs)


def buy(
    chain: Any,
    asset: bytes,
    consumer: Any = None,
    *,
    duration: int = 3600,
    max_price: int = PRICE,
    approve: bool = True,
) -> Creation:
    """Approve (ERC-20) and create an agreement on ``asset`` for ``consumer``."""
    consumer = consumer or chain.consumer
    record = chain.registry.get(asset)
    if approve and record.token != NATIVE_TOKEN:
        chain.token.approve(consumer, chain.escrow.address, record.price)
    return chain.escrow.create(
        consumer,
        asset,
        salt(),
        max_price=max_price,
        deadline=chain.now() + duration,
        algorithm_hash=ALGO,
        params_hash=PARAMS,
        params_cid=CID,
    )
