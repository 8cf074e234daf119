"""The provider side of compute-to-data: one paid agreement in, one encrypted result out.

`ComputeProvider.run(agreement_id)` is the body of the worker's compute task
(`insitu.compute.worker_app`). In order, it:

1. re-reads the chain: a FULFILLED (or rejected/refunded) agreement is never run again; the
   agreement must be LOCKED, not expired, name this provider, be for an asset this worker
   serves, and its algorithm must still be allowed for that asset;
2. fetches the job document by the agreement's ``paramsCid`` and checks it against the
   committed ``paramsHash`` (`insitu.compute.job_document`), and that its encryption key is
   the consumer's;
3. fetches the algorithm asset's metadata, checks its ``package_hash`` equals the agreement's
   algorithm hash, fetches the package by ``package_cid`` (cached locally, re-verified);
4. for a federated query, derives this provider's secure-sum mask after checking that every
   participant is the provider of an agreement with the same consumer and job document, and
   that the session was never used before by this provider;
5. runs the algorithm in the sandbox next to the private data (through the zygote when given);
6. seals the output folder to the buyer's key and delivers: IPFS add, then ``fulfil``.

Failures about the job itself raise `PermanentJobError` with a `Reason` name in lower case as
reason code (``not_allowed``, ``hash_mismatch``, ``bad_params``, …); `reject_code` maps it back
to the on-chain reason. Infrastructure failures (RPC, IPFS) raise `TransientError`.

Idempotency: the FULFILLED check comes first, and delivery re-checks the status right before
sending; a crash between the IPFS add and ``fulfil`` simply redoes both (ECIES is randomised,
so the new CID differs, which is fine: nothing pointed at the first one).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import redis
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3
from web3.exceptions import Web3RPCError

from insitu.chain import (
    AgreementCreated,
    AgreementStatus,
    AssetKind,
    ChainUnavailable,
    ContractRevert,
    Deployment,
    TxReceipt,
    connect,
    load_keystore,
)
from insitu.compute.errors import ComputeError, OutputTooLargeError
from insitu.compute.job_document import JobDocument, parse_job_document
from insitu.compute.package import algorithm_hash
from insitu.compute.reasons import Reason
from insitu.compute.result import seal_result
from insitu.compute.sandbox import Launcher, Limits, run_algorithm
from insitu.compute.secure_sum import provider_mask
from insitu.crypto.ecies import address_of_public_key, public_key_from_private
from insitu.errors import InsituError
from insitu.market import Marketplace, MetadataError
from insitu.market.deployments import find_deployment
from insitu.storage import KuboUnreachable, NotFound, open_store
from insitu.worker import (
    PermanentJobError,
    TransientError,
    WorkerConfig,
    WorkerConfigError,
    current_worker_config,
)

log = logging.getLogger("insitu.compute")

#: The task name the listener enqueues and the worker runs.
TASK_NAME = "insitu.compute.run"
#: Failures of services the job needs that are worth retrying, besides the worker's defaults.
#: ``Web3RPCError`` is a node-side error, never a revert (those are ``ContractRevert``): e.g.
#: anvil with ``--prune-history`` answers an ``eth_call`` at "latest" racing a new block with
#: "BlockOutOfRangeError"; a retry succeeds.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    ChainUnavailable,
    KuboUnreachable,
    Web3RPCError,
)
_SESSION_TTL = 400 * 24 * 3600
#: Attempts (with backoff, ~7 s in all) a federated job waits for its sibling agreements.
MAX_PARTICIPANT_WAITS = 4


def reject_code(reason_code: str) -> Reason:
    """The on-chain reason for a job failure's reason code (unknown codes count as a crash)."""
    try:
        return Reason[reason_code.upper()]
    except KeyError:
        return Reason.TIMEOUT if reason_code == "expired" else Reason.CRASHED


def fail(reason: Reason, message: str) -> PermanentJobError:
    """A permanent job failure carrying ``reason`` (raise it)."""
    return PermanentJobError(reason.name.lower(), message)


def limits_from_options(options: dict[str, Any]) -> Limits:
    """Sandbox limits from the worker config's ``[options.limits]`` table."""
    table = dict(options.get("limits", {}))
    known = {"wall_seconds", "cpu_seconds", "memory_mb", "max_file_mb", "max_output_mb"}
    unknown = set(table) - known
    if unknown:
        raise WorkerConfigError(
            f"[options.limits] has unknown keys {sorted(unknown)}; allowed: {sorted(known)}."
        )
    base = Limits()
    mb = 1024 * 1024
    return Limits(
        wall_seconds=float(table.get("wall_seconds", base.wall_seconds)),
        cpu_seconds=int(table.get("cpu_seconds", base.cpu_seconds)),
        memory_bytes=int(table.get("memory_mb", base.memory_bytes // mb)) * mb,
        max_file_bytes=int(table.get("max_file_mb", base.max_file_bytes // mb)) * mb,
        max_output_bytes=int(table.get("max_output_mb", base.max_output_bytes // mb)) * mb,
    )


@cache
def current_market() -> Marketplace:
    """The marketplace of this worker process's config, built once per process."""
    return market_for(current_worker_config())


def market_for(config: WorkerConfig) -> Marketplace:
    """The marketplace of a worker config: its RPC node, IPFS store and contracts.

    The contracts come from ``[contracts] AgreementEscrow`` (the registry is read from the
    escrow), else from the deployment file of insitu's settings.
    """
    w3 = connect(config.rpc_url)
    store = open_store(config.ipfs_url, config.ipfs_store_dir)
    escrow = config.contracts.get("AgreementEscrow")
    if escrow is None:
        from insitu.config import load_settings

        return Marketplace(w3, find_deployment(w3, load_settings()), store)
    contract = w3.eth.contract(address=Web3.to_checksum_address(escrow), abi=_escrow_abi())
    registry = contract.functions.registry().call()
    zero = "0x0000000000000000000000000000000000000000"
    deployment = Deployment(
        chain_id=w3.eth.chain_id,
        registry=registry,
        escrow=contract.address,
        token=config.contracts.get("PaymentToken", zero),
        deployer=zero,
        block_number=config.start_block,
        gas_used={},
        session=config.contracts.get("FederatedSession", zero),
    )
    return Marketplace(w3, deployment, store)


def _escrow_abi() -> list[dict[str, Any]]:
    from insitu.toolchain.artifacts import load_artifact

    return list(load_artifact("AgreementEscrow")["abi"])


def provider_account(config: WorkerConfig) -> LocalAccount:
    """The provider's signing account from the config's keystore."""
    if config.keystore is None:
        raise WorkerConfigError(
            f"{config.path}: a compute worker needs a [keystore] table with "
            "the provider's key (it fulfils and rejects agreements)."
        )
    return load_keystore(config.keystore.path, config.keystore.password())


@dataclass
class ComputeProvider:
    """Runs compute agreements for one provider account (see the module docstring)."""

    config: WorkerConfig
    market: Marketplace
    account: LocalAccount
    redis: redis.Redis
    limits: Limits
    launcher: Launcher | None = None

    @classmethod
    def from_config(cls, config: WorkerConfig, launcher: Launcher | None = None) -> ComputeProvider:
        return cls(
            config,
            market_for(config),
            provider_account(config),
            redis.Redis.from_url(config.redis_url, socket_timeout=10),
            limits_from_options(config.options),
            launcher,
        )

    @property
    def start_block(self) -> int:
        return self.market.deployment.block_number

    # ------------------------------------------------------------------ the job

    def run(
        self, agreement_id: bytes, ensure_owner: Callable[[], None] = lambda: None, attempt: int = 1
    ) -> str:
        """Run one agreement end to end; returns the result CID (or the settled status)."""
        agreement = self.market.escrow.get(agreement_id)
        if agreement.status is not AgreementStatus.LOCKED:
            if agreement.status is AgreementStatus.NONE:
                raise PermanentJobError(
                    "unknown_agreement",
                    f"agreement 0x{agreement_id.hex()} "
                    "does not exist on this chain (reorg or wrong escrow).",
                )
            log.info(
                "agreement 0x%s already %s; nothing to do",
                agreement_id.hex(),
                agreement.status.name,
            )
            return agreement.status.name.lower()
        created = self.market.escrow.created(agreement_id, from_block=self.start_block)
        self._check_agreement(created)
        asset_hex = "0x" + created.terms.asset_id.hex()
        data_path = self._data_path(asset_hex)
        doc = self._job_document(created)
        package = self._package(doc, created.algorithm_hash)
        inputs = self._secure_sum_inputs(doc, created, attempt) if doc.secure_sum else {}
        workdir = self.config.state_dir / "jobs" / agreement_id.hex()
        shutil.rmtree(workdir, ignore_errors=True)  # leftovers of a killed attempt
        try:
            result = run_algorithm(
                package,
                params=doc.params,
                data_path=data_path,
                workdir=workdir,
                expected_hash=created.algorithm_hash,
                limits=self.limits,
                asset=asset_hex,
                provider_inputs=inputs,
                launcher=self.launcher,
            )
            if not result.ok:
                raise fail(result.reason, f"asset {asset_hex}: {result.detail}")
            try:
                sealed = seal_result(
                    result.output_dir, doc.encryption_key, max_bytes=self.limits.max_output_bytes
                )
            except OutputTooLargeError as exc:
                raise fail(Reason.OUTPUT_TOO_LARGE, str(exc)) from exc
            ensure_owner()
            return self._deliver(agreement_id, created, sealed.ciphertext)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _check_agreement(self, created: AgreementCreated) -> None:
        aid = "0x" + created.agreement_id.hex()
        if created.terms.provider != self.account.address:
            raise PermanentJobError(
                "not_provider",
                f"agreement {aid} names provider "
                f"{created.terms.provider}, not {self.account.address}.",
            )
        now = self.market.w3.eth.get_block("latest")["timestamp"]
        if created.deadline <= now:
            raise PermanentJobError("expired", f"agreement {aid} expired at {created.deadline}.")
        if not self.market.registry.is_algorithm_allowed(
            created.terms.asset_id, created.algorithm_hash
        ):
            raise fail(
                Reason.NOT_ALLOWED,
                f"algorithm 0x{created.algorithm_hash.hex()} is not "
                f"allowed on asset 0x{created.terms.asset_id.hex()} (any more).",
            )

    def _data_path(self, asset_hex: str) -> Path:
        try:
            asset = self.config.asset(asset_hex)
        except WorkerConfigError as exc:
            raise fail(Reason.DATA_MISSING, str(exc)) from exc
        if not asset.data.exists():
            raise fail(
                Reason.DATA_MISSING,
                f"the private data of asset {asset_hex} is missing: "
                f"{asset.data} does not exist. Restore it or fix its `data` path in "
                f"{self.config.path}.",
            )
        return asset.data

    def _cat(self, cid: str, what: str) -> bytes:
        try:
            return self.market.store.cat(cid)
        except NotFound as exc:
            # With a real IPFS network the content may still be on its way from the buyer.
            raise TransientError(f"{what} {cid} is not (yet) available on IPFS: {exc}") from exc

    def _job_document(self, created: AgreementCreated) -> JobDocument:
        aid = "0x" + created.agreement_id.hex()
        if not created.params_cid:
            raise fail(
                Reason.BAD_PARAMS,
                f"agreement {aid} has no job document (paramsCid): "
                "buy compute with insitu.compute.buyer.request_compute.",
            )
        data = self._cat(created.params_cid, "job document")
        try:
            doc = parse_job_document(
                data, expected_hash=created.params_hash, source=f"job document {created.params_cid}"
            )
        except ComputeError as exc:
            raise fail(exc.reason, str(exc)) from exc
        if doc.buyer_address() != created.terms.consumer:
            raise fail(
                Reason.BAD_PARAMS,
                f"agreement {aid}: the job document's encryption key "
                f"belongs to {doc.buyer_address()}, not to the consumer "
                f"{created.terms.consumer}; only the buyer's own key is accepted.",
            )
        return doc

    def _package(self, doc: JobDocument, expected: bytes) -> bytes:
        asset_id = bytes.fromhex(doc.algorithm_asset[2:])
        label = f"algorithm asset {doc.algorithm_asset}"
        try:
            asset = self.market.asset(asset_id)
            if asset.kind is not AssetKind.ALGORITHM:
                raise MetadataError(f"{label} is a {asset.kind.name.lower()}, not an algorithm.")
            meta = self.market.metadata(asset_id)
        except NotFound as exc:
            raise TransientError(f"metadata of {label} not available on IPFS: {exc}") from exc
        except (TransientError, *TRANSIENT_ERRORS):
            raise
        except InsituError as exc:  # unknown asset, malformed or tampered metadata
            raise fail(Reason.BAD_METADATA, f"{label}: {exc}") from exc
        if not (meta.package_cid and meta.package_hash):
            raise fail(
                Reason.BAD_METADATA,
                f"{label}: its metadata has no package_cid / "
                "package_hash; the owner must republish it with both.",
            )
        wanted = "0x" + expected.hex()
        if meta.package_hash.lower() != wanted:
            raise fail(
                Reason.HASH_MISMATCH,
                f"{label} declares package {meta.package_hash} but "
                f"the agreement pays for algorithm {wanted}.",
            )
        cache = self.config.state_dir / "packages" / f"{wanted[2:]}.tar"
        if cache.is_file():
            data = cache.read_bytes()
            if algorithm_hash(data) == wanted:
                return data
        data = self._cat(meta.package_cid, f"package of {label}")
        if algorithm_hash(data) == wanted:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(f".{id(data)}.tmp")
            tmp.write_bytes(data)
            tmp.replace(cache)
        return data  # a mismatch is reported by the sandbox as HASH_MISMATCH

    def _secure_sum_inputs(
        self, doc: JobDocument, created: AgreementCreated, attempt: int
    ) -> dict[str, Any]:
        assert doc.secure_sum is not None
        secure = doc.secure_sum
        mine = "0x" + public_key_from_private(self.account.key).hex()
        if mine not in secure.participants:
            raise fail(
                Reason.BAD_PARAMS,
                "this provider's public key is not among the "
                "secure_sum participants; the consumer must list every provider's key.",
            )
        others = {address_of_public_key(p) for p in secure.participants if p != mine}
        logs = self.market.escrow.contract.events.AgreementCreated().get_logs(
            from_block=self.start_block, argument_filters={"consumer": created.terms.consumer}
        )
        same_query = {
            log["args"]["terms"]["provider"]
            for log in logs
            if bytes(log["args"]["paramsHash"]) == created.params_hash
        }
        missing = others - same_query
        if missing and attempt >= MAX_PARTICIPANT_WAITS:
            raise fail(
                Reason.BAD_PARAMS,
                f"secure_sum participants {sorted(missing)} never got "
                "an agreement with this job document: every participant must be a "
                "provider the consumer buys the same query from.",
            )
        if missing:
            # The consumer creates one agreement per provider in turn: give it a moment.
            raise TransientError(
                f"secure_sum participants {sorted(missing)} have no agreement for this query yet"
            )
        key = f"insitu:securesum:{self.account.address}:{secure.session}"
        first = self.redis.set(key, created.agreement_id.hex(), nx=True, ex=_SESSION_TTL)
        if not first and self.redis.get(key) != created.agreement_id.hex().encode():
            raise fail(
                Reason.BAD_PARAMS,
                f"secure_sum session {secure.session} was already used "
                "with this provider: reusing masks would reveal the counts; use a fresh "
                "session id per query.",
            )
        mask = provider_mask(
            self.account.key,
            secure.participant_keys(),
            bytes.fromhex(secure.session[2:]),
            secure.length,
        )
        return {"mask": mask, "session": secure.session}

    # ------------------------------------------------------------------ settling

    def _tx_lock(self) -> Any:
        # One provider account, several worker processes: serialise its transactions so two
        # processes never pick the same nonce.
        return self.redis.lock(
            f"insitu:txlock:{self.account.address}", timeout=60, blocking_timeout=90, sleep=0.005
        )

    def _deliver(self, agreement_id: bytes, created: AgreementCreated, ciphertext: bytes) -> str:
        # What Marketplace.deliver does, with the IPFS add outside the transaction lock (the
        # other processes' fulfilments need not wait for it) and the terms already at hand.
        cid = self.market.store.add(ciphertext)
        with self._tx_lock():
            status = self.market.escrow.status(agreement_id)
            if status is not AgreementStatus.LOCKED:
                log.info(
                    "agreement 0x%s became %s meanwhile; not fulfilling",
                    agreement_id.hex(),
                    status.name,
                )
                return status.name.lower()
            try:
                receipt = self.market.escrow.fulfil(
                    self.account, agreement_id, keccak(ciphertext), cid, created.terms
                )
            except ContractRevert as exc:
                if self.market.escrow.status(agreement_id) is AgreementStatus.FULFILLED:
                    return "fulfilled"
                raise PermanentJobError("fulfil_failed", str(exc)) from exc
        log.info(
            "agreement 0x%s fulfilled: %s (tx %s, gas %d)",
            agreement_id.hex(),
            cid,
            receipt.tx_hash,
            receipt.gas_used,
        )
        return cid

    def reject(self, agreement_id: bytes, reason: Reason) -> TxReceipt | None:
        """Reject (refund the buyer at once) if the agreement is still LOCKED and ours."""
        with self._tx_lock():
            if self.market.escrow.status(agreement_id) is not AgreementStatus.LOCKED:
                return None
            terms = self.market.escrow.created(agreement_id, from_block=self.start_block).terms
            if terms.provider != self.account.address:
                return None
            receipt = self.market.escrow.reject(self.account, agreement_id, int(reason), terms)
        log.info(
            "agreement 0x%s rejected with reason %s (tx %s)",
            agreement_id.hex(),
            reason.name,
            receipt.tx_hash,
        )
        return receipt
