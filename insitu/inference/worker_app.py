"""The model owner's inference worker (``app = "insitu.inference.worker_app"``).

``insitu worker start --config owner.toml`` runs its Celery ``app`` and its listener:

- ``listener_spec`` watches the escrow's ``AgreementCreated`` and enqueues one job per agreement
  on an inference asset this worker serves (``[assets."0x…"] data = "<model.pkl>"``), keyed
  ``inference:<agreement id>``, so a re-delivered event or message never serves twice;
- the ``insitu.inference.serve`` task runs ``serve_agreement``: get the sealed material from
  the dealer the buyer named, dial the buyer's endpoint, run the protocol, ``fulfilPartial``
  for the rows delivered.

The dealers this worker can reach are the ``[options.dealers]`` table: ``"0x<dealer address>" =
"<its queue>"`` for a dealer worker on this worker's Redis, or ``{ queue = "…", redis_url =
"…" }`` for one on its own broker (see ``insitu.inference.dealer_service``).

Failures are permanent and end the job without fulfilment (no payment): a silent or unreachable
buyer (``buyer_gone``) or a tampered session (``protocol_abort``) leave the escrow to the buyer's
``refund_expired`` after the deadline; a request the offer does not cover (``bad_request``) or a
dealer that is unreachable, unknown or refuses (``dealer_unavailable``) is rejected on-chain at
once, which refunds the buyer. ``[options] peer_timeout`` (seconds, default 30) bounds every
wait for the buyer, ``dealer_timeout`` (default 30) the wait for the dealer. The model file is
the owner's own pickle of a fitted scikit-learn estimator or pipeline (trusted: it never comes
from outside).
"""

from __future__ import annotations

import json
import pickle
from functools import cache
from typing import Any

from celery.signals import worker_ready
from web3 import Web3

from insitu.compute.provider import current_market
from insitu.inference.dealer_service import DealerEndpoint, request_material
from insitu.inference.errors import DealerUnavailable, OfferError
from insitu.inference.sealed_material import SealedMaterial
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
from insitu.worker.resources import signing_account, warm_up_in_background

TASK_NAME = "insitu.inference.serve"
#: Reason codes of the on-chain ``reject`` (``AgreementRejected.reason``).
REJECT_REASONS = {"bad_request": 4001, "dealer_unavailable": 4002}

app = make_worker_app("insitu-inference")


@cache
def _model(asset: str) -> Any:
    path = current_worker_config().asset(asset).data
    with open(path, "rb") as handle:
        return pickle.load(handle)  # the owner's own file (see the module docstring)


@cache
def _offer(asset: str) -> Any:
    from insitu.inference.offer import InferenceOffer

    return InferenceOffer.from_extra(current_market().metadata(bytes.fromhex(asset[2:])).extra)


@worker_ready.connect
def _warm_up(**_: Any) -> None:
    """Decrypt the key and load the models and offers before the first buyer arrives."""

    def load() -> None:
        signing_account()
        for asset in current_worker_config().assets:
            _model(asset.lower())
            _offer(asset.lower())

    warm_up_in_background("inference", load)


def _material_from(dealer: str, agreement: bytes) -> SealedMaterial:
    """Ask ``dealer`` (by address, through ``[options.dealers]``) for a session's material."""
    config = current_worker_config()
    routes = {k.lower(): v for k, v in dict(config.options.get("dealers", {})).items()}
    if dealer.lower() not in routes:
        raise DealerUnavailable(
            f"this worker has no route to dealer {dealer}: add it to [options.dealers] in "
            f"{config.path}, or remove it from the offer's dealers."
        )
    endpoint = DealerEndpoint.from_option(dealer, routes[dealer.lower()], config.redis_url)
    timeout = float(config.options.get("dealer_timeout", 30.0))
    return request_material(endpoint, agreement, timeout)


def _reject_on_chain(job_id: str, payload: dict[str, Any], error: PermanentJobError) -> None:
    """Refund the buyer at once when the session cannot even start."""
    reason = REJECT_REASONS.get(error.reason_code)
    if reason is None:
        return
    agreement = bytes.fromhex(str(payload["agreement_id"]).removeprefix("0x"))
    current_market().escrow.reject(signing_account(), agreement, reason)


@job_task(
    app,
    name=TASK_NAME,
    max_attempts=3,
    backoff_base=0.5,
    backoff_max=5.0,
    on_permanent_failure=_reject_on_chain,
)
def serve(ctx: JobContext, payload: dict[str, Any]) -> str | None:
    """Serve one agreement's private-inference session and get paid per delivered row."""
    from insitu.inference.owner import serve_agreement
    from insitu.mpc import PeerTimeout, ProtocolAbort

    asset = str(payload["asset"]).lower()
    agreement = bytes.fromhex(str(payload["agreement_id"]).removeprefix("0x"))
    timeout = float(current_worker_config().options.get("peer_timeout", 30.0))
    market = current_market()
    try:
        delivery = serve_agreement(
            market.escrow,
            market.store,
            signing_account(),
            _model(asset),
            _offer(asset),
            agreement,
            _material_from,
            timeout=timeout,
            before_fulfil=ctx.ensure_owner,
        )
    except DealerUnavailable as exc:
        raise PermanentJobError("dealer_unavailable", str(exc)) from exc
    except OfferError as exc:
        raise PermanentJobError("bad_request", str(exc)) from exc
    except PeerTimeout as exc:
        raise PermanentJobError("buyer_gone", str(exc)) from exc
    except ProtocolAbort as exc:
        raise PermanentJobError("protocol_abort", str(exc)) from exc
    if delivery is None:
        return "already-settled"
    return json.dumps(
        {
            "rows": delivery.rows,
            "payout": str(delivery.payout),
            "refund": str(delivery.refund),
            "commitment": "0x" + delivery.commitment.hex(),
            "bytes": delivery.bytes_exchanged,
            "online_seconds": round(delivery.online_seconds, 4),
            "dealer_seconds": round(delivery.dealer_seconds, 4),
            "tx": delivery.tx_hash,
        }
    )


def listener_spec(config: WorkerConfig, web3: Web3) -> ListenerSpec:
    """Route ``AgreementCreated`` on this worker's inference assets to ``serve``."""
    escrow_address = config.contracts.get("AgreementEscrow")
    if not escrow_address:
        raise PermanentJobError(
            "no_contract", f'{config.path} needs [contracts] AgreementEscrow = "0x...".'
        )
    escrow = web3.eth.contract(
        address=Web3.to_checksum_address(escrow_address),
        abi=load_artifact("AgreementEscrow")["abi"],
    )
    served = {a.lower() for a in config.assets}

    def route(event: ChainEvent) -> JobRequest | None:
        asset = str(event.args["assetId"]).lower()
        if asset not in served:
            return None
        agreement = str(event.args["agreementId"]).lower()
        return JobRequest(
            TASK_NAME, f"inference:{agreement}", {"agreement_id": agreement, "asset": asset}
        )

    return ListenerSpec([Subscription(escrow.address, [escrow.events.AgreementCreated])], route)
