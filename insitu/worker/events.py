"""Decoded chain events and the subscriptions that select them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3.contract.contract import ContractEvent
from web3.types import LogReceipt


@dataclass(frozen=True)
class Subscription:
    """Events of one contract to watch, e.g. ``Subscription(escrow.address, [escrow.events.
    AgreementCreated])`` (pass the events of a ``web3.eth.contract(address, abi)``)."""

    address: str
    events: Sequence[ContractEvent]


@dataclass(frozen=True)
class ChainEvent:
    """A decoded log with JSON-friendly arguments (bytes as ``0x`` hex, addresses checksummed)."""

    name: str
    address: str
    args: Mapping[str, Any]
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int

    @property
    def key(self) -> str:
        """The log's identity on its chain: ``<tx hash>:<log index>``."""
        return f"{self.tx_hash}:{self.log_index}"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "address": self.address,
            "args": dict(self.args),
            "block_number": self.block_number,
            "block_hash": self.block_hash,
            "tx_hash": self.tx_hash,
            "log_index": self.log_index,
        }


def _plain(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | HexBytes):
        return "0x" + bytes(value).hex()
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return to_checksum_address(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _hex(value: Any) -> str:
    return "0x" + bytes(HexBytes(value)).hex()


class EventDecoder:
    """Maps (address, topic0) of a raw log to its ABI event and decodes it."""

    def __init__(self, subscriptions: Sequence[Subscription]) -> None:
        self._events: dict[tuple[str, str], ContractEvent] = {}
        for sub in subscriptions:
            for event in sub.events:
                self._events[(sub.address.lower(), _hex(event.topic))] = event
        self.addresses = sorted({to_checksum_address(s.address) for s in subscriptions})
        self.topics = sorted({topic for _, topic in self._events})

    def decode(self, log: LogReceipt) -> ChainEvent | None:
        """The decoded event, or ``None`` for a log no subscription asked for."""
        topics = log["topics"]
        if not topics:
            return None
        event = self._events.get((str(log["address"]).lower(), _hex(topics[0])))
        if event is None:
            return None
        decoded = event.process_log(log)
        return ChainEvent(
            name=decoded["event"],
            address=to_checksum_address(decoded["address"]),
            args={k: _plain(v) for k, v in decoded["args"].items()},
            block_number=int(decoded["blockNumber"]),
            block_hash=_hex(decoded["blockHash"]),
            tx_hash=_hex(decoded["transactionHash"]),
            log_index=int(decoded["logIndex"]),
        )
