"""Sealing results for the buyer (ECIES + keccak) and opening them; key helpers."""

import json
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from insitu.compute.errors import OutputTooLargeError, ResultError
from insitu.compute.result import open_result, pack_result, result_hash, seal_result
from insitu.crypto.ecies import (
    CryptoError,
    address_of_public_key,
    decrypt,
    encrypt,
    public_key_from_private,
    recover_public_key,
)


def _result_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "output"
    folder.mkdir()
    (folder / "metrics.json").write_text(json.dumps({"accuracy": 0.93}))
    (folder / "tables").mkdir()
    (folder / "tables" / "t.csv").write_text("a,b\n1,2\n")
    return folder


def test_ecies_round_trip_and_wrong_key() -> None:
    buyer, other = Account.create(), Account.create()
    public = public_key_from_private(buyer)
    assert len(public) == 65 and address_of_public_key(public) == buyer.address
    ciphertext = encrypt(public, b"result bytes")
    assert b"result bytes" not in ciphertext
    assert decrypt(buyer.key, ciphertext) == b"result bytes"
    assert decrypt("0x" + buyer.key.hex(), ciphertext) == b"result bytes"
    with pytest.raises(CryptoError, match="wrong private key"):
        decrypt(other, ciphertext)
    with pytest.raises(CryptoError, match="wrong private key"):
        decrypt(buyer, ciphertext[:-1] + bytes([ciphertext[-1] ^ 1]))


def test_public_key_recovered_from_signature() -> None:
    buyer = Account.create()
    message = encode_defunct(text="buy job 42")
    signature = buyer.sign_message(message).signature
    assert recover_public_key(message, signature) == public_key_from_private(buyer)


def test_seal_and_open(tmp_path: Path) -> None:
    buyer = Account.create()
    folder = _result_folder(tmp_path)
    sealed = seal_result(folder, public_key_from_private(buyer))
    assert sealed.result_hash == result_hash(sealed.ciphertext)
    assert len(sealed.result_hash) == 66
    assert pack_result(folder) == pack_result(folder)  # deterministic plaintext
    opened = open_result(
        sealed.ciphertext,
        expected_hash=sealed.result_hash,
        private_key=buyer,
        dest=tmp_path / "buyer",
    )
    assert opened.files == ("metrics.json", "tables/t.csv")
    assert opened.metrics() == {"accuracy": 0.93}
    with pytest.raises(ResultError, match=r"no model\.pkl"):
        opened.load_model()


def test_open_checks_hash_and_key(tmp_path: Path) -> None:
    buyer, other = Account.create(), Account.create()
    sealed = seal_result(_result_folder(tmp_path), public_key_from_private(buyer))
    with pytest.raises(ResultError, match="refetch by CID"):
        open_result(
            sealed.ciphertext + b"x",
            expected_hash=sealed.result_hash,
            private_key=buyer,
            dest=tmp_path / "a",
        )
    with pytest.raises(ResultError, match="wrong private key"):
        open_result(
            sealed.ciphertext,
            expected_hash=sealed.result_hash,
            private_key=other,
            dest=tmp_path / "b",
        )


def test_result_folder_refuses_symlinks_and_oversize(tmp_path: Path) -> None:
    folder = _result_folder(tmp_path)
    (folder / "big.bin").write_bytes(b"x" * 2000)
    with pytest.raises(OutputTooLargeError, match="more than 1000 bytes"):
        pack_result(folder, max_bytes=1000)
    (folder / "data.csv").symlink_to("/etc/hostname")
    with pytest.raises(ResultError, match="not a regular file"):
        pack_result(folder)
