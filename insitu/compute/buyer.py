"""The consumer side of compute-to-data: publish an algorithm, buy a job, get the result.

    algo = publish_algorithm(market, author, builtin_path("sklearn_train"))
    request = request_compute(market, buyer, dataset_id, algo.asset_id,
                              {"estimator": "sklearn.linear_model.LogisticRegression",
                               "target": "label"})
    result = wait_for_result(market, request.agreement_id, buyer)
    result.metrics()["roc_auc"], result.load_model()

`request_compute` writes the job document (`insitu.compute.job_document`: parameters, the
algorithm asset and the buyer's public key, which the result is encrypted to) to IPFS and
creates the agreement, either directly (the buyer pays gas) or as an EIP-712 signed request a
``relayer`` submits. `wait_for_result` waits for the provider's worker, fetches the result from
IPFS, checks it against the hash fulfilled on-chain, decrypts and unpacks it. A rejected
agreement raises `ComputeRejected` naming the reason; the price is then back in the buyer's
withdrawable balance.

`run_federated_query` runs one query on several providers' datasets (one agreement each, one
shared job document with a secure-sum session) and returns only the combined answer.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from web3.exceptions import Web3RPCError

from insitu.chain import AccessMode, AgreementStatus, TxReceipt
from insitu.compute.job_document import JobDocument, SecureSum
from insitu.compute.package import algorithm_hash, pack, unpack, validate_params
from insitu.compute.reasons import Reason
from insitu.compute.result import OpenedResult, open_result
from insitu.compute.secure_sum import combine
from insitu.crypto.ecies import address_of_public_key, public_key_from_private
from insitu.errors import InsituError
from insitu.market import Marketplace, Publication

Progress = Callable[[str], None]


class ComputeError(InsituError):
    """A compute purchase could not be made or its result not obtained."""


class ComputeRejected(ComputeError):
    """The provider rejected the job (or it expired); the buyer's payment was refunded."""

    def __init__(
        self, agreement_id: bytes, reason: Reason | None, refunded: int, token: str, tx_hash: str
    ) -> None:
        self.agreement_id = agreement_id
        self.reason = reason
        self.refunded = refunded
        what = (
            f"rejected by the provider with reason {reason.name} ({int(reason)})"
            if reason is not None
            else "expired before the provider delivered"
        )
        super().__init__(
            f"compute agreement 0x{agreement_id.hex()} was {what} in tx {tx_hash}; the buyer "
            f"was refunded {refunded} (token {token}), now withdrawable with "
            "market.escrow.withdraw(buyer, token). Fix the job and buy again."
        )


@dataclass(frozen=True)
class AlgorithmPublication:
    """A published algorithm asset and its package on IPFS."""

    publication: Publication
    package_hash: str
    package_cid: str

    @property
    def asset_id(self) -> bytes:
        return self.publication.asset_id

    @property
    def hash_bytes(self) -> bytes:
        return bytes.fromhex(self.package_hash[2:])


@dataclass(frozen=True)
class ComputeRequest:
    """A created compute agreement."""

    agreement_id: bytes
    asset_id: bytes
    algorithm_hash: bytes
    params_cid: str
    document: JobDocument
    receipts: tuple[TxReceipt, ...]
    created_at: float


@dataclass(frozen=True)
class ComputeResult:
    """A fulfilled job's result, verified against the chain and decrypted."""

    agreement_id: bytes
    cid: str
    result_hash: bytes
    fulfil_tx: str
    provider: str
    opened: OpenedResult

    @property
    def folder(self) -> Path:
        return self.opened.folder

    @property
    def files(self) -> tuple[str, ...]:
        return self.opened.files

    def metrics(self) -> Any:
        """``metrics.json`` of a training job."""
        return self.opened.metrics()

    def load_json(self, name: str) -> Any:
        return self.opened.load_json(name)

    def load_model(self, name: str = "model.pkl") -> Any:
        """The fitted model (unpickled: only from a provider you trust)."""
        return self.opened.load_model(name)


@dataclass(frozen=True)
class FederatedResult:
    """The combined answer of a federated query; per-provider values are never exposed."""

    fields: tuple[str, ...]
    totals: tuple[int, ...]
    agreements: tuple[bytes, ...]
    session: str

    def as_dict(self) -> dict[str, int]:
        return dict(zip(self.fields, self.totals, strict=True))


# ---------------------------------------------------------------------------- algorithms


def publish_algorithm(
    market: Marketplace,
    owner: LocalAccount,
    folder: Path | str,
    *,
    name: str | None = None,
    description: str | None = None,
    price: int = 0,
) -> AlgorithmPublication:
    """Pack an algorithm folder, put the package on IPFS and register it as an algorithm asset."""
    from insitu.compute.package import read_manifest

    folder = Path(folder)
    manifest = read_manifest(folder)
    package = pack(folder)
    cid = market.store.add(package)
    digest = algorithm_hash(package)
    metadata = {
        "name": name or f"{manifest.name} {manifest.version}",
        "kind": "algorithm",
        "description": description or manifest.description or manifest.name,
        "package_cid": cid,
        "package_hash": digest,
    }
    publication = market.publish(owner, metadata, price=price, mode=AccessMode.DOWNLOAD)
    return AlgorithmPublication(publication, digest, cid)


def algorithm_package(market: Marketplace, algorithm_asset: bytes) -> tuple[bytes, bytes]:
    """(package bytes, algorithm hash) of an algorithm asset, checked against its metadata."""
    meta = market.metadata(algorithm_asset)
    if not (meta.package_cid and meta.package_hash):
        raise ComputeError(
            f"asset 0x{algorithm_asset.hex()} has no package_cid/package_hash in "
            "its metadata: it is not an algorithm asset (publish_algorithm)."
        )
    package = market.store.cat(meta.package_cid)
    if algorithm_hash(package) != meta.package_hash.lower():
        raise ComputeError(
            f"the package of algorithm asset 0x{algorithm_asset.hex()} does not "
            "match its declared hash: do not buy it; tell its owner."
        )
    return package, bytes.fromhex(meta.package_hash[2:])


def check_params(package: bytes, params: dict[str, Any]) -> None:
    """Raise ``ParamsError`` before paying if ``params`` fail the algorithm's schema."""
    with tempfile.TemporaryDirectory(prefix="insitu-params-") as tmp:
        validate_params(unpack(package, Path(tmp) / "pkg"), params)


# ---------------------------------------------------------------------------- buying


def request_compute(
    market: Marketplace,
    consumer: LocalAccount,
    dataset_asset: bytes,
    algorithm_asset: bytes,
    params: dict[str, Any],
    *,
    relayer: LocalAccount | None = None,
    duration: int = 3600,
    secure_sum: SecureSum | None = None,
    salt: bytes | None = None,
    validate: bool = True,
) -> ComputeRequest:
    """Buy one compute job on ``dataset_asset`` with ``algorithm_asset`` (see module docstring).

    ``validate`` checks the parameters against the algorithm's schema before paying.
    """
    package, digest = algorithm_package(market, algorithm_asset)
    if validate:
        check_params(package, params)
    document = JobDocument(
        algorithm_asset="0x" + bytes(algorithm_asset).hex(),
        params=params,
        encryption_key="0x" + public_key_from_private(consumer.key).hex(),
        secure_sum=secure_sum,
    )
    if relayer is not None:
        purchase = market.sign_purchase(
            consumer,
            dataset_asset,
            algorithm_hash=digest,
            params=document.to_json(),
            duration=duration,
            salt=salt,
        )
        creation = market.submit(relayer, purchase)
        receipts: list[TxReceipt] = [creation.receipt]
        params_cid = purchase.params_cid
    else:
        creation, receipts = market.buy(
            consumer,
            dataset_asset,
            algorithm_hash=digest,
            params=document.to_json(),
            duration=duration,
            salt=salt,
        )
        params_cid, _ = market.store_params(document.to_json())
    return ComputeRequest(
        creation.agreement_id,
        bytes(dataset_asset),
        digest,
        params_cid,
        document,
        tuple(receipts),
        time.time(),
    )


def wait_for_result(
    market: Marketplace,
    agreement_id: bytes,
    private_key: Any,
    *,
    timeout: float = 120.0,
    dest: Path | str | None = None,
    on_progress: Progress | None = None,
    poll: float = 0.1,
) -> ComputeResult:
    """Wait for fulfilment, fetch the result, verify it against the chain, decrypt and unpack.

    ``private_key`` is the buyer's account (or key). Raises `ComputeRejected` if the provider
    rejected the job or it expired, `ComputeError` on timeout.
    """
    progress = on_progress or (lambda _message: None)
    started = time.monotonic()
    progress("waiting for the provider's worker to run the job")
    while True:
        try:
            agreement = market.escrow.get(agreement_id)
        except Web3RPCError:
            # A node-side hiccup (e.g. anvil pruning the block a call raced with): poll again.
            time.sleep(poll)
            continue
        if agreement.status is not AgreementStatus.LOCKED:
            break
        waited = time.monotonic() - started
        if waited > timeout:
            raise ComputeError(
                f"agreement 0x{agreement_id.hex()} still not fulfilled after {timeout:.0f} s: is "
                "the provider's worker running? The payment stays in escrow until the deadline, "
                "then anyone can refund it (escrow.refund_expired)."
            )
        progress(f"job running at the provider ({waited:.0f} s)")
        time.sleep(poll)
    if agreement.status is not AgreementStatus.FULFILLED:
        raise _rejection(market, agreement_id, agreement.status)
    event = _last_event(market, "AgreementFulfilled", agreement_id)
    args = event["args"]
    result_hash, cid = bytes(args["resultHash"]), str(args["resultCid"])
    if not agreement.proves_result(result_hash):
        raise ComputeError(
            f"agreement 0x{agreement_id.hex()}: the fulfilment event does not "
            "match the on-chain commitment; do not trust this result."
        )
    progress(f"fetching result {cid} from IPFS")
    ciphertext = market.store.cat(cid)
    progress("verifying and decrypting")
    folder = (
        Path(dest)
        if dest is not None
        else Path(tempfile.mkdtemp(prefix=f"insitu-result-{agreement_id.hex()[:8]}-"))
    )
    opened = open_result(
        ciphertext, expected_hash=result_hash, private_key=private_key, dest=folder
    )
    return ComputeResult(
        agreement_id,
        cid,
        result_hash,
        event["transactionHash"].to_0x_hex(),
        str(args["provider"]),
        opened,
    )


def _last_event(market: Marketplace, name: str, agreement_id: bytes) -> Any:
    event = getattr(market.escrow.contract.events, name)
    logs = event().get_logs(
        from_block=market.deployment.block_number,
        argument_filters={"agreementId": bytes(agreement_id)},
    )
    if not logs:
        raise ComputeError(
            f"no {name} event for agreement 0x{agreement_id.hex()}: check the "
            "escrow address and that the node keeps logs from its deployment."
        )
    return logs[-1]


def _rejection(
    market: Marketplace, agreement_id: bytes, status: AgreementStatus
) -> ComputeRejected:
    terms = market.escrow.created(agreement_id, from_block=market.deployment.block_number).terms
    if status is AgreementStatus.REJECTED:
        event = _last_event(market, "AgreementRejected", agreement_id)
        code = int(event["args"]["reason"])
        reason: Reason | None = Reason(code) if code in Reason._value2member_map_ else None
        if reason is None:
            reason = Reason.CRASHED
    else:
        event = _last_event(market, "AgreementRefunded", agreement_id)
        reason = None
    return ComputeRejected(
        agreement_id, reason, terms.amount, terms.token, event["transactionHash"].to_0x_hex()
    )


# ---------------------------------------------------------------------------- federated


def provider_public_key(market: Marketplace, dataset_asset: bytes) -> str:
    """The provider's public key a dataset publishes (metadata ``extra.provider_public_key``)."""
    asset = market.asset(dataset_asset)
    key = market.metadata(dataset_asset).extra.get("provider_public_key")
    if not isinstance(key, str):
        raise ComputeError(
            f"dataset 0x{dataset_asset.hex()} publishes no "
            "extra.provider_public_key in its metadata: it cannot take part in a "
            "federated query; ask its owner to add it."
        )
    if address_of_public_key(key) != asset.provider:
        raise ComputeError(
            f"dataset 0x{dataset_asset.hex()}'s provider_public_key is not the key "
            f"of its provider {asset.provider}: do not use it."
        )
    return key


def run_federated_query(
    market: Marketplace,
    consumer: LocalAccount,
    dataset_assets: Sequence[bytes],
    algorithm_asset: bytes,
    params: dict[str, Any],
    *,
    fields: Sequence[str] | None = None,
    relayer: LocalAccount | None = None,
    timeout: float = 120.0,
    on_progress: Progress | None = None,
) -> FederatedResult:
    """One secure-sum query over several providers; returns only the combined totals.

    Each dataset gets its own agreement with the same job document (fresh session id, every
    provider's public key); each provider returns its counts masked and encrypted to the buyer;
    the masks cancel in the sum, so neither the buyer nor anyone else learns a single
    provider's counts.
    """
    if len(dataset_assets) < 2:
        raise ComputeError("a federated query needs at least two datasets (providers).")
    from insitu.compute.builtin.coldchain_query.coldchain import FIELDS

    names = tuple(fields or FIELDS)
    keys = [provider_public_key(market, d) for d in dataset_assets]
    if len(set(keys)) != len(keys):
        raise ComputeError(
            "two datasets of the query have the same provider: its masks would "
            "not cancel; query each provider once."
        )
    session = SecureSum("0x" + os.urandom(32).hex(), tuple(keys), len(names))
    requests = [
        request_compute(
            market, consumer, d, algorithm_asset, params, relayer=relayer, secure_sum=session
        )
        for d in dataset_assets
    ]
    masked = []
    for request in requests:
        result = wait_for_result(
            market, request.agreement_id, consumer, timeout=timeout, on_progress=on_progress
        )
        document = result.load_json("result.json")
        if not document.get("masked") or document.get("session") != session.session:
            raise ComputeError(
                f"provider {result.provider} returned an unmasked or foreign "
                "result: refusing to combine it."
            )
        masked.append([int(v) for v in document["values"]])
    return FederatedResult(
        names, tuple(combine(masked)), tuple(r.agreement_id for r in requests), session.session
    )
