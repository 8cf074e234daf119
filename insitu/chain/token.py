"""Typed wrapper over ``PaymentToken`` (any ERC-20 + ERC-2612 token works for reads/approve)."""

from __future__ import annotations

from eth_account.signers.local import LocalAccount
from web3 import Web3

from insitu.chain.contracts import bind
from insitu.chain.eip712 import PermitSignature, sign_permit
from insitu.chain.tx import read, transact
from insitu.chain.types import TxReceipt


class PaymentToken:
    """An ERC-20 with permit; ``mint`` only works for the owner of insitu's ``PaymentToken``."""

    def __init__(self, w3: Web3, address: str) -> None:
        self.w3 = w3
        self.contract = bind(w3, "PaymentToken", address)
        self.address = self.contract.address

    def mint(self, sender: LocalAccount, to: str, amount: int) -> TxReceipt:
        """Mint ``amount`` to ``to`` (sender must own the token)."""
        call = self.contract.functions.mint(Web3.to_checksum_address(to), amount)
        return transact(self.w3, sender, call, action="mint")

    def approve(self, sender: LocalAccount, spender: str, amount: int) -> TxReceipt:
        """Let ``spender`` pull up to ``amount`` from ``sender``."""
        call = self.contract.functions.approve(Web3.to_checksum_address(spender), amount)
        return transact(self.w3, sender, call, action="approve")

    def transfer(self, sender: LocalAccount, to: str, amount: int) -> TxReceipt:
        """Send ``amount`` to ``to``."""
        call = self.contract.functions.transfer(Web3.to_checksum_address(to), amount)
        return transact(self.w3, sender, call, action="transfer")

    def permit(
        self, sender: LocalAccount, owner: str, spender: str, permit: PermitSignature
    ) -> TxReceipt:
        """Submit ``owner``'s signed permit (anyone may send it; ``sender`` pays the gas)."""
        call = self.contract.functions.permit(
            Web3.to_checksum_address(owner),
            Web3.to_checksum_address(spender),
            permit.value,
            permit.deadline,
            permit.v,
            permit.r,
            permit.s,
        )
        return transact(self.w3, sender, call, action="permit")

    def balance_of(self, account: str) -> int:
        """The token balance of ``account``."""
        return int(read(self.contract.functions.balanceOf(Web3.to_checksum_address(account))))

    def allowance(self, owner: str, spender: str) -> int:
        """How much ``spender`` may pull from ``owner``."""
        call = self.contract.functions.allowance(
            Web3.to_checksum_address(owner), Web3.to_checksum_address(spender)
        )
        return int(read(call))

    def nonce(self, owner: str) -> int:
        """The owner's next ERC-2612 permit nonce."""
        return int(read(self.contract.functions.nonces(Web3.to_checksum_address(owner))))

    def name(self) -> str:
        """The token name (the permit's EIP-712 domain name)."""
        return str(read(self.contract.functions.name()))

    def sign_permit(
        self,
        owner: LocalAccount,
        spender: str,
        value: int,
        deadline: int,
        *,
        chain_id: int | None = None,
    ) -> PermitSignature:
        """Sign an ERC-2612 permit letting ``spender`` pull ``value`` from ``owner``."""
        return sign_permit(
            owner,
            token=self.address,
            token_name=self.name(),
            chain_id=self.w3.eth.chain_id if chain_id is None else chain_id,
            spender=spender,
            value=value,
            nonce=self.nonce(owner.address),
            deadline=deadline,
        )
