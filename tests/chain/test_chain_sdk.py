"""The SDK's plumbing: ids equal the contract's, accounts, deployments, revert decoding."""

from __future__ import annotations

from pathlib import Path

import pytest
from chain_helpers import PRICE, Chain, buy, register
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector, keccak

from insitu.chain import (
    ChainUnavailable,
    account_from_env,
    agreement_id,
    asset_id,
    connect,
    decode_revert,
    dev_accounts,
    load_deployment,
    load_keystore,
    save_deployment,
    save_keystore,
    terms_hash,
)
from insitu.chain.devnode import free_port
from insitu.errors import ConfigError, InsituError


@pytest.mark.parametrize("salt", [b"\0" * 32, b"\xff" * 32, keccak(b"salt")])
def test_python_ids_equal_the_contracts(chain: Chain, salt: bytes) -> None:
    who = chain.consumer.address
    assert asset_id(who, salt) == chain.registry.contract.functions.assetIdOf(who, salt).call()
    assert (
        agreement_id(who, salt) == chain.escrow.contract.functions.agreementIdOf(who, salt).call()
    )
    assert asset_id(who, salt) == agreement_id(who, salt)  # same scheme, different namespaces


def test_terms_hash_equals_the_contracts(chain: Chain) -> None:
    terms = buy(chain, register(chain)).terms
    assert terms_hash(terms) == chain.escrow.contract.functions.hashTerms(terms.as_tuple()).call()


def test_dev_accounts_are_anvils(chain: Chain) -> None:
    assert [a.address for a in dev_accounts(10)] == chain.w3.eth.accounts


def test_connect_to_nothing_says_what_to_do() -> None:
    with pytest.raises(ChainUnavailable, match="INSITU_RPC_URL"):
        connect(f"http://127.0.0.1:{free_port()}", timeout=1)


def test_account_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    account = dev_accounts(1)[0]
    monkeypatch.setenv("INSITU_PRIVATE_KEY", account.key.hex())
    assert account_from_env().address == account.address
    monkeypatch.setenv("INSITU_PRIVATE_KEY", "0x1234")
    with pytest.raises(ConfigError, match="valid"):
        account_from_env()
    monkeypatch.delenv("INSITU_PRIVATE_KEY")
    with pytest.raises(ConfigError, match="INSITU_PRIVATE_KEY"):
        account_from_env()


def test_keystore_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    account = dev_accounts(2)[1]
    path = save_keystore(account, tmp_path / "key.json", "s3cret")
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_keystore(path, "s3cret").address == account.address
    monkeypatch.setenv("INSITU_KEYSTORE_PASSWORD", "s3cret")
    assert load_keystore(path).address == account.address
    with pytest.raises(ConfigError, match="wrong password"):
        load_keystore(path, "nope")
    monkeypatch.delenv("INSITU_KEYSTORE_PASSWORD")
    with pytest.raises(ConfigError, match="INSITU_KEYSTORE_PASSWORD"):
        load_keystore(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_keystore(tmp_path / "missing.json", "x")


def test_deployment_file_round_trip(chain: Chain, tmp_path: Path) -> None:
    path = save_deployment(chain.deployment, tmp_path / "deploy" / "local.json")
    assert load_deployment(path, chain.w3) == chain.deployment
    other_chain = path.read_text().replace('"chain_id": 31337', '"chain_id": 5')
    path.write_text(other_chain)
    with pytest.raises(ConfigError, match="chain 5"):
        load_deployment(path, chain.w3)
    with pytest.raises(ConfigError, match="deploy first"):
        load_deployment(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ConfigError, match="not a deployment"):
        load_deployment(tmp_path / "bad.json")


def test_deployed_contracts_are_configured(chain: Chain) -> None:
    escrow = chain.escrow.contract.functions
    assert escrow.registry().call() == chain.registry.address
    assert escrow.owner().call() == chain.deployer.address
    assert chain.escrow.fee_recipient() == chain.fee_recipient.address
    assert chain.token.contract.functions.decimals().call() == 18
    assert escrow.MAX_FEE_BPS().call() == 1000


def test_revert_decoding() -> None:
    selector = function_signature_to_4byte_selector("PriceAboveMax(uint256,uint256)")
    error = decode_revert(selector + encode(["uint256", "uint256"], [PRICE * 2, PRICE]), "create")
    assert isinstance(error, InsituError)
    assert error.error == "PriceAboveMax"
    assert error.args_by_name == {"price": PRICE * 2, "maxPrice": PRICE}
    assert "create reverted with PriceAboveMax" in str(error) and "raise max_price" in str(error)
    reason = function_signature_to_4byte_selector("Error(string)") + encode(["string"], ["boom"])
    assert decode_revert(reason).args_by_name == {"reason": "boom"}
    assert decode_revert("0xdeadbeef").error == "UnknownRevert"
    assert decode_revert(None).error == "UnknownRevert"


def test_mint_is_owner_only(chain: Chain) -> None:
    from chain_helpers import reverts

    with reverts("OwnableUnauthorizedAccount", account=chain.stranger.address):
        chain.token.mint(chain.stranger, chain.stranger.address, 1)
