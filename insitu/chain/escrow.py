"""Typed wrapper over ``AgreementEscrow``: create, settle, withdraw, and read agreements."""

from __future__ import annotations

from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.logs import DISCARD
from web3.types import BlockIdentifier

from insitu.chain.contracts import bind
from insitu.chain.eip712 import (
    NO_PERMIT,
    AgreementRequest,
    PermitSignature,
    sign_agreement_request,
)
from insitu.chain.errors import ContractRevert
from insitu.chain.ids import agreement_id as compute_agreement_id
from insitu.chain.ids import bytes32
from insitu.chain.tx import read, transact
from insitu.chain.types import (
    NATIVE_TOKEN,
    Agreement,
    AgreementCreated,
    AgreementStatus,
    Creation,
    Terms,
    TxReceipt,
)

ZERO32 = b"\0" * 32


class AgreementEscrow:
    """Agreements paid into escrow; writes are signed by the ``sender`` passed in."""

    def __init__(self, w3: Web3, address: str) -> None:
        self.w3 = w3
        self.contract = bind(w3, "AgreementEscrow", address)
        self.address = self.contract.address
        self._registry = bind(w3, "AssetRegistry", self.contract.functions.registry().call())

    # -------------------------------------------------------------- creation

    def create(
        self,
        sender: LocalAccount,
        asset: bytes,
        salt: bytes,
        *,
        max_price: int,
        deadline: int,
        algorithm_hash: bytes = ZERO32,
        params_hash: bytes = ZERO32,
        params_cid: str = "",
        value: int | None = None,
    ) -> Creation:
        """Create an agreement paid by ``sender``.

        ERC-20 assets need an ``approve`` of the price first; for ETH assets ``value`` defaults
        to the asset's current price.
        """
        if value is None:
            _, _, _, _, _, _, _, price, token = self._registry.functions.getAsset(
                bytes32(asset)
            ).call()
            value = price if token == NATIVE_TOKEN else 0
        call = self.contract.functions.create(
            bytes32(asset),
            bytes32(salt),
            bytes32(algorithm_hash),
            bytes32(params_hash),
            params_cid,
            max_price,
            deadline,
        )
        receipt = transact(self.w3, sender, call, value=value, action="create")
        return self._creation(receipt)

    def build_request(
        self,
        consumer: str,
        asset: bytes,
        salt: bytes,
        *,
        max_price: int,
        deadline: int,
        expiry: int,
        algorithm_hash: bytes = ZERO32,
        params_hash: bytes = ZERO32,
        nonce: int | None = None,
    ) -> AgreementRequest:
        """An ``AgreementRequest`` for ``consumer`` with its current nonce (unless given)."""
        return AgreementRequest(
            consumer=Web3.to_checksum_address(consumer),
            asset_id=bytes32(asset),
            salt=bytes32(salt),
            algorithm_hash=bytes32(algorithm_hash),
            params_hash=bytes32(params_hash),
            max_price=max_price,
            deadline=deadline,
            expiry=expiry,
            nonce=self.nonce(consumer) if nonce is None else nonce,
        )

    def sign_request(
        self, consumer: LocalAccount, request: AgreementRequest, chain_id: int | None = None
    ) -> bytes:
        """``consumer``'s EIP-712 signature of ``request`` for this escrow and chain."""
        chain = self.w3.eth.chain_id if chain_id is None else chain_id
        return sign_agreement_request(consumer, request, self.address, chain)

    def create_signed(
        self,
        sender: LocalAccount,
        request: AgreementRequest,
        signature: bytes,
        permit: PermitSignature = NO_PERMIT,
        params_cid: str = "",
    ) -> Creation:
        """Submit a consumer's signed request (``sender`` pays only the gas). ERC-20 assets only."""
        call = self.contract.functions.createSigned(
            request.as_tuple(), params_cid, signature, permit.as_tuple()
        )
        receipt = transact(self.w3, sender, call, action="createSigned")
        return self._creation(receipt)

    # -------------------------------------------------------------- settlement

    def fulfil(
        self,
        sender: LocalAccount,
        agreement: bytes,
        result_hash: bytes,
        result_cid: str,
        terms: Terms | None = None,
    ) -> TxReceipt:
        """Deliver the result and release the payment (provider only, before the deadline)."""
        terms = terms or self.terms(agreement)
        call = self.contract.functions.fulfil(
            bytes32(agreement), terms.as_tuple(), bytes32(result_hash), result_cid
        )
        return transact(self.w3, sender, call, action="fulfil")

    def fulfil_partial(
        self,
        sender: LocalAccount,
        agreement: bytes,
        result_hash: bytes,
        result_cid: str,
        payout: int,
        terms: Terms | None = None,
    ) -> TxReceipt:
        """Deliver a metered result, releasing only ``payout`` (<= the escrowed amount).

        The payee gets ``payout`` minus the pro-rata fee ``fee * payout // amount``, the fee
        recipient that fee, and the consumer the unused ``amount - payout`` back (provider only,
        before the deadline).
        """
        terms = terms or self.terms(agreement)
        call = self.contract.functions.fulfilPartial(
            bytes32(agreement), terms.as_tuple(), bytes32(result_hash), result_cid, payout
        )
        return transact(self.w3, sender, call, action="fulfilPartial")

    def reject(
        self, sender: LocalAccount, agreement: bytes, reason: int = 0, terms: Terms | None = None
    ) -> TxReceipt:
        """Decline the agreement and refund the consumer (provider only)."""
        terms = terms or self.terms(agreement)
        call = self.contract.functions.reject(bytes32(agreement), terms.as_tuple(), reason)
        return transact(self.w3, sender, call, action="reject")

    def refund_expired(
        self, sender: LocalAccount, agreement: bytes, terms: Terms | None = None
    ) -> TxReceipt:
        """Refund an expired, unfulfilled agreement to its consumer (anyone may call)."""
        terms = terms or self.terms(agreement)
        call = self.contract.functions.refundExpired(bytes32(agreement), terms.as_tuple())
        return transact(self.w3, sender, call, action="refundExpired")

    def withdraw(self, sender: LocalAccount, token: str = NATIVE_TOKEN) -> TxReceipt:
        """Send ``sender`` its whole withdrawable balance in ``token``."""
        call = self.contract.functions.withdraw(Web3.to_checksum_address(token))
        return transact(self.w3, sender, call, action="withdraw")

    # -------------------------------------------------------------- admin

    def set_fee(self, sender: LocalAccount, fee_bps: int) -> TxReceipt:
        """Set the marketplace fee (owner only, at most 1000 bps)."""
        return transact(self.w3, sender, self.contract.functions.setFee(fee_bps), action="setFee")

    def set_fee_recipient(self, sender: LocalAccount, recipient: str) -> TxReceipt:
        """Set who is credited the fee (owner only)."""
        call = self.contract.functions.setFeeRecipient(Web3.to_checksum_address(recipient))
        return transact(self.w3, sender, call, action="setFeeRecipient")

    # -------------------------------------------------------------- reads

    def get(self, agreement: bytes) -> Agreement:
        """The stored state of an agreement (status NONE when unknown)."""
        status, deadline, commitment = read(
            self.contract.functions.getAgreement(bytes32(agreement)), "getAgreement"
        )
        return Agreement(bytes32(agreement), AgreementStatus(status), deadline, commitment)

    def status(self, agreement: bytes) -> AgreementStatus:
        """The agreement's status."""
        return AgreementStatus(read(self.contract.functions.statusOf(bytes32(agreement))))

    def withdrawable(self, account: str, token: str = NATIVE_TOKEN) -> int:
        """What ``account`` may withdraw in ``token``."""
        call = self.contract.functions.withdrawable(
            Web3.to_checksum_address(account), Web3.to_checksum_address(token)
        )
        return int(read(call))

    def nonce(self, consumer: str) -> int:
        """The consumer's next signed-request nonce."""
        return int(read(self.contract.functions.nonces(Web3.to_checksum_address(consumer))))

    def fee_bps(self) -> int:
        """The marketplace fee (basis points) new agreements get."""
        return int(read(self.contract.functions.feeBps()))

    def fee_recipient(self) -> str:
        """Who is credited the fee when an agreement is released."""
        return str(read(self.contract.functions.feeRecipient()))

    def agreement_id(self, consumer: str, salt: bytes) -> bytes:
        """The id ``consumer`` gets with ``salt`` (computed locally)."""
        return compute_agreement_id(consumer, salt)

    def created(self, agreement: bytes, from_block: BlockIdentifier = 0) -> AgreementCreated:
        """The ``AgreementCreated`` event of ``agreement`` (the record of its terms)."""
        logs = self.contract.events.AgreementCreated().get_logs(
            from_block=from_block, argument_filters={"agreementId": bytes32(agreement)}
        )
        if not logs:
            raise ContractRevert(
                "UnknownAgreement",
                {"agreementId": bytes32(agreement)},
                "lookup: no AgreementCreated event; check the id and the escrow address",
            )
        return _created(logs[-1])

    def created_events(
        self, from_block: BlockIdentifier = 0, to_block: BlockIdentifier = "latest"
    ) -> list[AgreementCreated]:
        """Every ``AgreementCreated`` event in the block range."""
        logs = self.contract.events.AgreementCreated().get_logs(
            from_block=from_block, to_block=to_block
        )
        return [_created(log) for log in logs]

    def terms(self, agreement: bytes) -> Terms:
        """The terms fixed at creation, read from the agreement's event."""
        return self.created(agreement).terms

    def _creation(self, receipt: TxReceipt) -> Creation:
        events = self.contract.events.AgreementCreated().process_receipt(
            receipt.raw, errors=DISCARD
        )
        event = _created(events[0])
        return Creation(event.agreement_id, event.terms, receipt)


def _created(log: Any) -> AgreementCreated:
    args = log["args"]
    t = args["terms"]  # web3 decodes the struct by field name
    return AgreementCreated(
        agreement_id=bytes(args["agreementId"]),
        terms=Terms(
            asset_id=bytes(t["assetId"]),
            consumer=t["consumer"],
            payee=t["payee"],
            provider=t["provider"],
            token=t["token"],
            amount=t["amount"],
            fee=t["fee"],
        ),
        deadline=args["deadline"],
        algorithm_hash=bytes(args["algorithmHash"]),
        params_hash=bytes(args["paramsHash"]),
        params_cid=args["paramsCid"],
        block_number=log["blockNumber"],
        tx_hash=log["transactionHash"].to_0x_hex(),
    )
