"""The dealer's worker (``app = "insitu.inference.dealer_app"``, ``listen = false``).

An organisation trusted by both sides not to collude with either runs this worker with its own
key; model owners' workers send it ``insitu.inference.deal`` tasks on its queue
(``insitu.<organisation>``) and it answers with a signed ``SealedMaterial`` receipt (see
``insitu.inference.dealer_service``). It watches no contract events: it needs only the chain
and IPFS to check each request, so its config says ``listen = false`` and no listener runs.

A request the dealer refuses (the agreement is not open, does not name this dealer, does not
fit the offer, or was already dealt ``[options] max_deals_per_agreement`` times, default 3 —
the owner's retries, not an endless supply of work) fails permanently as ``refused``; the
owner's worker then rejects the agreement, which refunds the buyer. A dealer killed mid-job
leaves its message unacknowledged: it is dealt again (fresh material) when the worker is back,
if the owner is still waiting.
"""

from __future__ import annotations

from typing import Any

from celery.signals import worker_ready

from insitu.compute.provider import current_market
from insitu.inference.dealer_service import DEAL_TASK, deal
from insitu.inference.errors import InferenceError
from insitu.worker import (
    JobContext,
    PermanentJobError,
    current_worker_config,
    job_task,
    make_worker_app,
)
from insitu.worker.resources import signing_account, warm_up_in_background

app = make_worker_app("insitu-dealer")
#: How long the dealer remembers how often it dealt for an agreement (beyond any deadline).
DEAL_COUNT_TTL = 30 * 24 * 3600


@worker_ready.connect
def _warm_up(**_: Any) -> None:
    """Decrypt the key and connect before the first request, which an owner is waiting on."""
    warm_up_in_background("dealer", lambda: (signing_account(), current_market().w3.eth.chain_id))


@job_task(app, name=DEAL_TASK, max_attempts=3, backoff_base=0.5, backoff_max=5.0)
def deal_task(ctx: JobContext, payload: dict[str, Any]) -> str:
    """Deal one session's material; the result is the signed receipt (JSON)."""
    agreement = bytes.fromhex(str(payload["agreement_id"]).removeprefix("0x"))
    limit = int(current_worker_config().options.get("max_deals_per_agreement", 3))
    key = f"insitu:dealer:deals:0x{agreement.hex()}"
    dealt = int(ctx.redis.incr(key))
    ctx.redis.expire(key, DEAL_COUNT_TTL)
    if dealt > limit:
        raise PermanentJobError(
            "refused",
            f"agreement 0x{agreement.hex()} was already dealt {limit} times, the most this "
            "dealer deals per agreement: open a new agreement.",
        )
    try:
        receipt = deal(current_market(), signing_account(), agreement)
    except InferenceError as exc:
        raise PermanentJobError("refused", str(exc)) from exc
    return receipt.to_bytes().decode()
