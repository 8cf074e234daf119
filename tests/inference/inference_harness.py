"""Shared values and the environment object of the inference tests (imported by name,
so it must not live in conftest.py: several conftest modules share that name)."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from eth_account.signers.local import LocalAccount
from numpy.typing import NDArray

from insitu.inference import InferenceOffer, InferenceParams, public_key
from insitu.market import Marketplace
from insitu.mpc.transport import BUYER, Channel, handshake
from insitu.worker import JobRecord, JobStore

PRICE_PER_ROW = 10**15 + 1
MAX_ROWS = 200
PEER_TIMEOUT = 3.0
#: Long enough for a loaded 2-core machine's first request (the dealer decrypts its keystore).
DEALER_TIMEOUT = 15.0
DEALER_ORG = "fair-dealer"


@dataclass
class InferenceEnv:
    """The marketplace, the owner's model asset and worker, and a funded buyer."""

    market: Marketplace
    owner: LocalAccount
    buyer: LocalAccount
    operator: LocalAccount
    dealer: LocalAccount
    idle_dealer: LocalAccount
    asset: bytes
    offer: InferenceOffer
    model: object
    rows: NDArray[np.float64]
    jobs: JobStore
    home: Path
    rpc_url: str
    redis_url: str

    def wait_job(self, agreement: bytes, timeout: float = 30.0) -> JobRecord:
        """The owner worker's job for ``agreement`` once it has finished."""
        job_id = f"inference:0x{agreement.hex()}"
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            record = self.jobs.get(job_id)
            if record is not None and record.state.terminal:
                return record
            time.sleep(0.1)
        raise AssertionError(f"job {job_id} did not finish within {timeout} s")

    def open_as_buyer(self, rows: int = 10) -> tuple[bytes, Channel, bytes]:
        """Act as the buyer by hand: open an agreement naming the running dealer, accept the
        owner worker's connection, return (agreement, channel, the first message received)."""
        with socket.create_server(("127.0.0.1", 0)) as listener:
            listener.settimeout(60)
            params = InferenceParams(
                rows,
                "labels",
                "127.0.0.1",
                listener.getsockname()[1],
                public_key(self.buyer),
                self.dealer.address,
            )
            creation, _ = self.market.buy(
                self.buyer, self.asset, params=params.to_json(), duration=600
            )
            sock, _ = listener.accept()
        channel = handshake(
            sock,
            BUYER,
            private_key=bytes(self.buyer.key),
            peer_public_key=self.offer.provider_public_key,
            timeout=30,
        )
        return creation.agreement_id, channel, channel.recv()

    def travel(self, seconds: int) -> None:
        w3 = self.market.w3
        w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
