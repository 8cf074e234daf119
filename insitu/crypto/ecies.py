"""ECIES on secp256k1 (the `eciespy` library) with Ethereum-account key helpers.

A buyer's encryption key is the public key of the Ethereum account that signed the purchase,
so no extra key registry is needed: the provider recovers it from the buyer's signature (or the
buyer publishes it), encrypts the result to it, and only that account's private key decrypts.
Ciphertexts use eciespy's defaults (uncompressed ephemeral key, HKDF-SHA256, AES-256-GCM).
"""

from typing import Any

import ecies
from coincurve import PrivateKey, PublicKey
from eth_account import Account
from eth_account.messages import SignableMessage
from eth_utils import keccak, to_checksum_address

from insitu.errors import InsituError


class CryptoError(InsituError):
    """A key is malformed, or a ciphertext cannot be decrypted with the given key."""


def _private_bytes(private_key: Any) -> bytes:
    """Accept a LocalAccount, 0x-hex string, raw 32 bytes or eth_keys PrivateKey."""
    key = getattr(private_key, "key", private_key)  # LocalAccount -> its key bytes
    if hasattr(key, "to_bytes"):  # eth_keys PrivateKey
        key = key.to_bytes()
    if isinstance(key, str):
        try:
            key = bytes.fromhex(key.removeprefix("0x"))
        except ValueError as exc:
            raise CryptoError("private key is not hex: pass a 0x-prefixed 32-byte key.") from exc
    if not isinstance(key, bytes | bytearray) or len(key) != 32:
        raise CryptoError("private key must be 32 bytes (a LocalAccount, hex or raw bytes).")
    return bytes(key)


def public_key_from_private(private_key: Any) -> bytes:
    """The 65-byte uncompressed secp256k1 public key of an Ethereum private key."""
    return PrivateKey(_private_bytes(private_key)).public_key.format(compressed=False)


def normalise_public_key(public_key: bytes | str) -> bytes:
    """Validate a public key (33/64/65 bytes or hex) and return it uncompressed (65 bytes)."""
    raw = (
        bytes.fromhex(public_key.removeprefix("0x"))
        if isinstance(public_key, str)
        else bytes(public_key)
    )
    if len(raw) == 64:  # eth_keys' format drops the 0x04 prefix
        raw = b"\x04" + raw
    try:
        return PublicKey(raw).format(compressed=False)
    except ValueError as exc:
        raise CryptoError(
            f"not a secp256k1 public key ({len(raw)} bytes): pass the 65-byte "
            "uncompressed or 33-byte compressed key."
        ) from exc


def address_of_public_key(public_key: bytes | str) -> str:
    """The checksummed Ethereum address of a public key."""
    return to_checksum_address(keccak(normalise_public_key(public_key)[1:])[-20:])


def recover_public_key(message: SignableMessage, signature: bytes | str) -> bytes:
    """The uncompressed public key that signed `message` (e.g. an EIP-712 purchase request)."""
    from eth_keys import keys

    sig = (
        bytes.fromhex(signature.removeprefix("0x"))
        if isinstance(signature, str)
        else bytes(signature)
    )
    try:
        address = Account.recover_message(message, signature=sig)
        v = sig[64] - 27 if sig[64] >= 27 else sig[64]
        digest = _signable_hash(message)
        pk = keys.Signature(sig[:64] + bytes([v])).recover_public_key_from_msg_hash(digest)
    except Exception as exc:  # eth libraries raise several unrelated types for bad signatures
        raise CryptoError(f"cannot recover a public key from the signature: {exc}") from exc
    if pk.to_checksum_address() != address:
        raise CryptoError("recovered public key does not match the signer's address.")
    return b"\x04" + pk.to_bytes()


def _signable_hash(message: SignableMessage) -> bytes:
    return keccak(b"\x19" + message.version + message.header + message.body)


def encrypt(public_key: bytes | str, plaintext: bytes) -> bytes:
    """Encrypt `plaintext` so only the holder of the matching private key can read it."""
    return ecies.encrypt(normalise_public_key(public_key), plaintext)


def decrypt(private_key: Any, ciphertext: bytes) -> bytes:
    """Decrypt an `encrypt()` ciphertext; CryptoError on a wrong key or tampered bytes."""
    try:
        return ecies.decrypt(_private_bytes(private_key), ciphertext)
    except (ValueError, TypeError) as exc:
        raise CryptoError(
            "cannot decrypt the result: wrong private key (use the account that "
            "bought the job) or the ciphertext was altered."
        ) from exc
