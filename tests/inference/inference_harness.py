"""Shared values and the environment object of the inference tests (imported by name,
so it must not live in conftest.py: several conftest modules share that name)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from eth_account.signers.local import LocalAccount
from numpy.typing import NDArray

from insitu.inference import InferenceOffer
from insitu.market import Marketplace
from insitu.worker import JobRecord, JobStore

PRICE_PER_ROW = 10**15 + 1
MAX_ROWS = 200
PEER_TIMEOUT = 3.0
#: Long enough for a loaded 2-core machine's first request (the dealer decrypts its keystore).
DEALER_TIMEOUT = 15.0


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

    def travel(self, seconds: int) -> None:
        w3 = self.market.w3
        w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
