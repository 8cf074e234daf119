"""The compute-to-data app module of a provider worker (``app = "insitu.compute.worker_app"``).

``insitu worker start --config provider.toml`` runs its Celery ``app`` and its listener:

- ``listener_spec`` watches the escrow's ``AgreementCreated`` events and enqueues one job per
  agreement for an asset this worker serves (``[assets."0x…"]``) or, with
  ``[options] provider_address``, for any asset naming that provider (so an agreement for an
  asset missing from the config is rejected with a clear reason instead of expiring);
- the ``insitu.compute.run`` task runs `ComputeProvider.run` (see `insitu.compute.provider`);
  a permanent failure rejects the agreement on-chain with its reason code, refunding the buyer.

Each worker process keeps one `ComputeProvider` (chain connection, IPFS store, decrypted key)
and one sandbox zygote (``[options] zygote = false`` turns it off), started when the process
starts so the first job does not pay for the scientific imports.
"""

from __future__ import annotations

import logging
import os
import threading
from functools import cache
from typing import Any

from celery.signals import worker_process_init, worker_process_shutdown
from web3 import Web3

from insitu.compute.provider import (
    TASK_NAME,
    TRANSIENT_ERRORS,
    ComputeProvider,
    reject_code,
)
from insitu.compute.sandbox import child_env
from insitu.compute.zygote import Zygote
from insitu.toolchain.artifacts import load_artifact
from insitu.worker import (
    ChainEvent,
    JobContext,
    JobRequest,
    ListenerSpec,
    PermanentJobError,
    Subscription,
    WorkerConfig,
    current_worker_config,
    job_task,
    make_worker_app,
)
from insitu.worker.runner import DEFAULT_TRANSIENT

log = logging.getLogger("insitu.compute")

app = make_worker_app("insitu-compute")


_build_lock = threading.Lock()


@cache
def _zygote() -> Zygote | None:
    config = current_worker_config()
    if not config.options.get("zygote", True):
        return None
    scratch = config.state_dir / "zygote"
    scratch.mkdir(parents=True, exist_ok=True)
    return Zygote(child_env(scratch), log_path=config.state_dir / f"zygote-{os.getpid()}.log")


def provider() -> ComputeProvider:
    """This worker process's provider (built on first use, then reused)."""
    with _build_lock:  # the warm-up thread and the first job may ask at the same time
        return _provider()


@cache
def _provider() -> ComputeProvider:
    return ComputeProvider.from_config(current_worker_config(), launcher=_zygote())


@worker_process_init.connect
def _start_warm_up(**_: Any) -> None:
    # In a thread: Celery kills a pool process whose init takes over 4 s, and the zygote's
    # imports plus the keystore's scrypt can take that long on a loaded machine.
    threading.Thread(target=_warm_up, name="compute-warm-up", daemon=True).start()


def _ensure_warm() -> None:
    """Start the zygote and build the provider (connect, decrypt the keystore: scrypt ~1 s)."""
    with _build_lock:
        zygote = _zygote()
    if zygote is not None:
        zygote.start()
    provider()


def _warm_up() -> None:
    """Pay the scientific imports and the key decryption before the first job, not in it."""
    try:
        _ensure_warm()
    except Exception:
        # The first job retries this and fails with a clear error; the process must not die.
        log.exception("warm-up of the compute worker process failed")


@worker_process_shutdown.connect
def _shut_down(**_: Any) -> None:
    zygote = _zygote()
    if zygote is not None:
        zygote.stop()


def reject_on_chain(job_id: str, payload: dict[str, Any], error: PermanentJobError) -> None:
    """``on_permanent_failure``: reject the agreement with the failure's reason (buyer refunded)."""
    reason = reject_code(error.reason_code)
    receipt = provider().reject(bytes.fromhex(payload["agreement_id"][2:]), reason)
    if receipt is not None:
        log.info("job %s: rejected on-chain with %s in %s", job_id, reason.name, receipt.tx_hash)


@app.task(name="insitu.compute.ping")
def ping() -> str:
    """Answer once this process is warm (`insitu.compute.readiness.wait_until_warm`)."""
    _ensure_warm()
    return "pong"


@job_task(
    app,
    name=TASK_NAME,
    max_attempts=5,
    backoff_base=1.0,
    backoff_max=30.0,
    on_permanent_failure=reject_on_chain,
    transient=(*DEFAULT_TRANSIENT, *TRANSIENT_ERRORS),
)
def run(ctx: JobContext, payload: dict[str, Any]) -> str | None:
    """Run the compute agreement ``payload["agreement_id"]``; returns the result CID."""
    agreement = bytes.fromhex(payload["agreement_id"][2:])
    return provider().run(agreement, ensure_owner=ctx.ensure_owner, attempt=ctx.attempt)


def listener_spec(config: WorkerConfig, web3: Web3) -> ListenerSpec:
    """Watch ``AgreementCreated`` and route this provider's agreements to ``insitu.compute.run``."""
    from insitu.compute.provider import market_for

    escrow_address = config.contracts.get("AgreementEscrow")
    if escrow_address is None:
        escrow_address = market_for(config).escrow.address
    escrow = web3.eth.contract(
        address=Web3.to_checksum_address(escrow_address),
        abi=load_artifact("AgreementEscrow")["abi"],
    )
    served = {a.lower() for a in config.assets}
    provider_address = config.options.get("provider_address")

    def route(event: ChainEvent) -> JobRequest | None:
        asset = str(event.args["assetId"]).lower()
        terms_provider = str(event.args["terms"]["provider"])
        mine = asset in served or (
            provider_address is not None and terms_provider.lower() == provider_address.lower()
        )
        if not mine:
            return None
        agreement = str(event.args["agreementId"]).lower()
        return JobRequest(
            TASK_NAME,
            agreement,
            {
                "agreement_id": agreement,
                "asset": asset,
                "block": event.block_number,
                "tx": event.tx_hash,
            },
        )

    return ListenerSpec([Subscription(escrow.address, [escrow.events.AgreementCreated])], route)
