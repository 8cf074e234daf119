"""The dealer's material for one session, sealed: each half encrypted to its party, signed.

The dealer (``insitu.inference.dealer_service``) encrypts the owner's half to the owner's
public key (from the asset's offer) and the buyer's half to the buyer's (from the agreement's
parameters), stores both ciphertexts on IPFS, and signs a small document naming them: chain,
escrow, agreement, the public plan (architecture fingerprint, rows, mode) and the two CIDs. The
owner receives that document from the dealer and forwards it to the buyer over their channel;
the owner can neither read the buyer's half (it lacks the key) nor swap in material of its own
(the buyer checks the signature against the dealer *it* named in the parameters). Because the
IPFS store checks content against its CID, signing the CIDs signs the ciphertexts.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address

from insitu.chain import AgreementEscrow
from insitu.crypto.ecies import CryptoError, decrypt
from insitu.inference.errors import OfferError
from insitu.inference.material_wire import decode_material
from insitu.mpc.dealer import PartyMaterial, PlanHeader
from insitu.mpc.transport import OWNER
from insitu.storage import ContentStore
from insitu.storage.errors import StorageError

SERVICE = "insitu-dealer/1"


@dataclass(frozen=True)
class SealedMaterial:
    """The dealer's signed receipt for one session's encrypted material."""

    chain_id: int
    escrow: str
    agreement_id: str  # 0x-hex
    architecture_id: str
    rows: int
    mode: str
    owner_cid: str
    buyer_cid: str
    dealer: str
    dealer_seconds: float
    signature: str = ""

    @property
    def header(self) -> PlanHeader:
        return PlanHeader(self.architecture_id, self.rows, self.mode)

    def _digest(self) -> bytes:
        body = {k: v for k, v in asdict(self).items() if k != "signature"}
        body["service"] = SERVICE
        return keccak(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())

    def signed(self, dealer: LocalAccount) -> SealedMaterial:
        """This receipt signed (EIP-191) by ``dealer``, whose address it must name."""
        if to_checksum_address(self.dealer) != dealer.address:
            raise ValueError("the receipt names another dealer than the signing account")
        message = encode_defunct(primitive=self._digest())
        return replace(self, signature=dealer.sign_message(message).signature.to_0x_hex())

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> SealedMaterial:
        """Parse a receipt; ``OfferError`` if it is not one."""
        try:
            fields: dict[str, Any] = json.loads(data)
            return cls(
                chain_id=int(fields["chain_id"]),
                escrow=str(fields["escrow"]),
                agreement_id=str(fields["agreement_id"]),
                architecture_id=str(fields["architecture_id"]),
                rows=int(fields["rows"]),
                mode=str(fields["mode"]),
                owner_cid=str(fields["owner_cid"]),
                buyer_cid=str(fields["buyer_cid"]),
                dealer=str(fields["dealer"]),
                dealer_seconds=float(fields["dealer_seconds"]),
                signature=str(fields["signature"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise OfferError(f"malformed dealer receipt: {exc}") from exc

    def check(
        self, *, dealer: str, escrow: AgreementEscrow, agreement_id: bytes, plan: PlanHeader
    ) -> None:
        """Signed by ``dealer`` and made for this escrow (and its chain), agreement and plan."""
        try:
            signer = Account.recover_message(
                encode_defunct(primitive=self._digest()), signature=self.signature
            )
        except Exception as exc:  # eth-account raises several unrelated types for bad bytes
            raise OfferError(f"the dealer receipt's signature is unreadable: {exc}") from exc
        if signer != to_checksum_address(dealer) or to_checksum_address(self.dealer) != signer:
            raise OfferError(
                f"the dealer material is signed by {signer}, not by the agreement's dealer "
                f"{to_checksum_address(dealer)}: refusing it (a party that deals its own "
                "material learns the other's inputs)."
            )
        expected = (escrow.w3.eth.chain_id, escrow.address, "0x" + agreement_id.hex(), plan)
        actual = (self.chain_id, to_checksum_address(self.escrow), self.agreement_id, self.header)
        if actual != expected:
            raise OfferError(
                f"the dealer material was made for {actual}, this session is {expected}"
            )

    def open(self, store: ContentStore, account: LocalAccount, role: int) -> PartyMaterial:
        """Fetch, decrypt and parse the half of party ``role`` (OWNER or BUYER)."""
        cid = self.owner_cid if role == OWNER else self.buyer_cid
        try:
            material = decode_material(decrypt(account, store.cat(cid)))
        except StorageError as exc:
            raise OfferError(f"cannot fetch the dealer material {cid} from IPFS: {exc}") from exc
        except CryptoError as exc:
            raise OfferError(
                f"cannot decrypt the dealer material {cid} with {account.address}'s key: it was "
                "sealed for another key"
            ) from exc
        if material.role != role or material.header != self.header:
            raise OfferError("the sealed dealer material is not this party's half of this plan")
        return material
