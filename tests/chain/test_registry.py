"""AssetRegistry through the SDK: every function, every revert, an event for every change."""

from __future__ import annotations

from chain_helpers import (
    ALGO,
    CID,
    OTHER_ALGO,
    PRICE,
    Chain,
    buy,
    event_names,
    register,
    reverts,
    salt,
)
from eth_utils import keccak
from web3.logs import DISCARD

from insitu.chain import NATIVE_TOKEN, AccessMode, AssetKind, asset_id


def test_register_stores_enforced_fields_and_binds_id_to_owner(chain: Chain) -> None:
    s = salt()
    reg = chain.registry.register(
        chain.owner,
        salt=s,
        kind=AssetKind.MODEL,
        mode=AccessMode.INFERENCE,
        metadata_cid=CID,
        metadata_hash=keccak(b"m"),
        provider=chain.provider.address,
        price=123,
        token=chain.token.address,
    )
    assert reg.asset_id == asset_id(chain.owner.address, s)
    assert (
        reg.asset_id == chain.registry.contract.functions.assetIdOf(chain.owner.address, s).call()
    )
    asset = chain.registry.get(reg.asset_id)
    assert asset.exists and asset.owner == chain.owner.address
    assert (asset.kind, asset.mode, asset.version) == (AssetKind.MODEL, AccessMode.INFERENCE, 1)
    assert (asset.provider, asset.price, asset.token) == (
        chain.provider.address,
        123,
        chain.token.address,
    )
    assert not asset.retired and not asset.allow_any_algorithm
    assert event_names(chain.registry.contract, reg.receipt) == ["AssetRegistered"]
    log = chain.registry.contract.events.AssetRegistered().process_receipt(
        reg.receipt.raw, errors=DISCARD
    )[0]
    assert log["args"]["metadataCid"] == CID and log["args"]["metadataHash"] == keccak(b"m")


def test_same_salt_other_owner_gets_another_id(chain: Chain) -> None:
    """Ids are bound to their creator: copying a pending registration's salt cannot steal it."""
    s = salt()
    kwargs = dict(
        salt=s,
        kind=AssetKind.DATASET,
        mode=AccessMode.DOWNLOAD,
        metadata_cid=CID,
        metadata_hash=keccak(b"m"),
        provider=chain.provider.address,
        price=1,
    )
    mine = chain.registry.register(chain.owner, **kwargs)
    theirs = chain.registry.register(chain.stranger, **kwargs)
    assert mine.asset_id != theirs.asset_id
    assert chain.registry.get(mine.asset_id).owner == chain.owner.address


def test_register_reverts(chain: Chain) -> None:
    s = salt()
    args = dict(
        kind=AssetKind.DATASET,
        mode=AccessMode.DOWNLOAD,
        metadata_cid=CID,
        metadata_hash=keccak(b"m"),
        provider=chain.provider.address,
        price=1,
    )
    chain.registry.register(chain.owner, salt=s, **args)
    with reverts("AssetExists", assetId=asset_id(chain.owner.address, s)):
        chain.registry.register(chain.owner, salt=s, **args)
    with reverts("ZeroAddress"):
        chain.registry.register(chain.owner, salt=salt(), **{**args, "provider": NATIVE_TOKEN})
    with reverts("EmptyMetadata"):
        chain.registry.register(chain.owner, salt=salt(), **{**args, "metadata_cid": ""})


def test_unknown_asset_reads_as_absent(chain: Chain) -> None:
    assert not chain.registry.get(keccak(b"nothing")).exists


def test_update_metadata_bumps_version(chain: Chain) -> None:
    asset = register(chain)
    receipt = chain.registry.update_metadata(chain.owner, asset, "bafy-v2", keccak(b"v2"))
    assert chain.registry.get(asset).version == 2
    chain.registry.update_metadata(chain.owner, asset, "bafy-v3", keccak(b"v3"))
    assert chain.registry.get(asset).version == 3
    logs = chain.registry.contract.events.MetadataUpdated().process_receipt(
        receipt.raw, errors=DISCARD
    )
    assert logs[0]["args"]["version"] == 2 and logs[0]["args"]["metadataCid"] == "bafy-v2"
    with reverts("EmptyMetadata"):
        chain.registry.update_metadata(chain.owner, asset, "", keccak(b"v4"))


def test_owner_only_functions_reject_others_and_unknown_assets(chain: Chain) -> None:
    asset = register(chain)
    unknown = keccak(b"unknown")
    calls = [
        lambda who, a: chain.registry.update_metadata(who, a, CID, keccak(b"x")),
        lambda who, a: chain.registry.set_price(who, a, 5),
        lambda who, a: chain.registry.set_provider(who, a, chain.stranger.address),
        lambda who, a: chain.registry.allow_algorithm(who, a, ALGO),
        lambda who, a: chain.registry.set_allow_any(who, a, True),
        lambda who, a: chain.registry.retire(who, a),
        lambda who, a: chain.registry.transfer(who, a, chain.stranger.address),
    ]
    for call in calls:
        with reverts("NotAssetOwner", assetId=asset, caller=chain.stranger.address):
            call(chain.stranger, asset)
        with reverts("AssetNotFound", assetId=unknown):
            call(chain.owner, unknown)


def test_set_price_and_provider(chain: Chain) -> None:
    asset = register(chain)
    receipt = chain.registry.set_price(chain.owner, asset, 7, NATIVE_TOKEN)
    assert event_names(chain.registry.contract, receipt) == ["PriceUpdated"]
    record = chain.registry.get(asset)
    assert (record.price, record.token) == (7, NATIVE_TOKEN)
    receipt = chain.registry.set_provider(chain.owner, asset, chain.stranger.address)
    assert event_names(chain.registry.contract, receipt) == ["ProviderUpdated"]
    assert chain.registry.get(asset).provider == chain.stranger.address
    with reverts("ZeroAddress"):
        chain.registry.set_provider(chain.owner, asset, NATIVE_TOKEN)


def test_allowlist_is_deny_by_default(chain: Chain) -> None:
    asset = register(chain, algorithms=())
    assert not chain.registry.is_algorithm_allowed(asset, ALGO)
    # An empty allowlist never means "allow everything" (Ocean's bug).
    chain.token.approve(chain.consumer, chain.escrow.address, PRICE)
    with reverts("AlgorithmNotAllowed", assetId=asset, algorithmHash=ALGO):
        buy(chain, asset, approve=False)


def test_allow_and_remove_algorithms(chain: Chain) -> None:
    asset = register(chain, algorithms=())
    receipt = chain.registry.allow_algorithms(chain.owner, asset, [ALGO, OTHER_ALGO])
    assert event_names(chain.registry.contract, receipt) == ["AlgorithmAllowed"] * 2
    assert chain.registry.is_algorithm_allowed(asset, ALGO)
    assert chain.registry.is_algorithm_allowed(asset, OTHER_ALGO)
    chain.registry.allow_algorithm(chain.owner, asset, OTHER_ALGO, allowed=False)
    assert not chain.registry.is_algorithm_allowed(asset, OTHER_ALGO)
    assert buy(chain, asset).agreement_id


def test_wildcard_is_explicit_and_revocable(chain: Chain) -> None:
    asset = register(chain, algorithms=())
    receipt = chain.registry.set_allow_any(chain.owner, asset, True)
    assert event_names(chain.registry.contract, receipt) == ["AllowAnyAlgorithmSet"]
    assert chain.registry.get(asset).allow_any_algorithm
    assert chain.registry.is_algorithm_allowed(asset, keccak(b"anything"))
    assert buy(chain, asset).agreement_id
    chain.registry.set_allow_any(chain.owner, asset, False)
    assert not chain.registry.is_algorithm_allowed(asset, keccak(b"anything"))


def test_download_assets_ignore_the_allowlist(chain: Chain) -> None:
    asset = register(chain, mode=AccessMode.DOWNLOAD, algorithms=())
    assert buy(chain, asset).agreement_id


def test_retire_blocks_new_agreements(chain: Chain) -> None:
    asset = register(chain)
    receipt = chain.registry.retire(chain.owner, asset)
    assert event_names(chain.registry.contract, receipt) == ["AssetRetired"]
    assert chain.registry.get(asset).retired
    with reverts("AssetIsRetired", assetId=asset):
        chain.registry.retire(chain.owner, asset)
    with reverts("AssetIsRetired", assetId=asset):
        buy(chain, asset)


def test_two_step_ownership_transfer(chain: Chain) -> None:
    asset = register(chain)
    receipt = chain.registry.transfer(chain.owner, asset, chain.consumer2.address)
    assert event_names(chain.registry.contract, receipt) == ["AssetOwnershipTransferStarted"]
    assert chain.registry.pending_owner(asset) == chain.consumer2.address
    assert chain.registry.get(asset).owner == chain.owner.address  # not yet
    with reverts("NotPendingOwner", assetId=asset, caller=chain.stranger.address):
        chain.registry.accept_ownership(chain.stranger, asset)
    receipt = chain.registry.accept_ownership(chain.consumer2, asset)
    assert event_names(chain.registry.contract, receipt) == ["AssetOwnershipTransferred"]
    assert chain.registry.get(asset).owner == chain.consumer2.address
    assert chain.registry.pending_owner(asset) == NATIVE_TOKEN
    with reverts("NotAssetOwner"):
        chain.registry.set_price(chain.owner, asset, 1)
    chain.registry.set_price(chain.consumer2, asset, 1)
    with reverts("NotPendingOwner"):
        chain.registry.accept_ownership(chain.consumer2, asset)


def test_transfer_to_zero_cancels_a_proposal(chain: Chain) -> None:
    asset = register(chain)
    chain.registry.transfer(chain.owner, asset, chain.consumer2.address)
    chain.registry.transfer(chain.owner, asset, NATIVE_TOKEN)
    with reverts("NotPendingOwner"):
        chain.registry.accept_ownership(chain.consumer2, asset)


def test_purchase_terms_view(chain: Chain) -> None:
    asset = register(chain)
    fn = chain.registry.contract.functions.purchaseTerms
    owner, provider, token, price = fn(asset, ALGO).call()
    assert (owner, provider, token, price) == (
        chain.owner.address,
        chain.provider.address,
        chain.token.address,
        PRICE,
    )
