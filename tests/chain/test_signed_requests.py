"""EIP-712 signed agreement requests with ERC-2612 permits, and every way to abuse them."""

from __future__ import annotations

from dataclasses import replace

from chain_helpers import ALGO, CID, PARAMS, PRICE, Chain, register, register_eth, reverts, salt

from insitu.chain import NO_PERMIT, AgreementRequest, AgreementStatus, PermitSignature
from insitu.chain.eip712 import agreement_request_typed_data


def _request(chain: Chain, asset: bytes, **overrides: object) -> AgreementRequest:
    now = chain.now()
    request = chain.escrow.build_request(
        chain.consumer.address,
        asset,
        salt(),
        max_price=PRICE,
        deadline=now + 3600,
        expiry=now + 600,
        algorithm_hash=ALGO,
        params_hash=PARAMS,
    )
    return replace(request, **overrides)  # type: ignore[arg-type]


def _permit(chain: Chain, value: int = PRICE) -> PermitSignature:
    return chain.token.sign_permit(chain.consumer, chain.escrow.address, value, chain.now() + 600)


def test_signed_request_with_permit_needs_no_consumer_transaction(chain: Chain) -> None:
    asset = register(chain)
    request = _request(chain, asset)
    signature = chain.escrow.sign_request(chain.consumer, request)
    consumer_nonce = chain.w3.eth.get_transaction_count(chain.consumer.address)
    balance = chain.token.balance_of(chain.consumer.address)
    creation = chain.escrow.create_signed(
        chain.relayer, request, signature, _permit(chain), params_cid=CID
    )
    assert chain.w3.eth.get_transaction_count(chain.consumer.address) == consumer_nonce
    assert chain.token.balance_of(chain.consumer.address) == balance - PRICE
    assert creation.terms.consumer == chain.consumer.address
    assert chain.escrow.status(creation.agreement_id) == AgreementStatus.LOCKED
    assert chain.escrow.nonce(chain.consumer.address) == request.nonce + 1
    assert chain.escrow.created(creation.agreement_id).params_cid == CID
    # The provider settles it like any other agreement.
    chain.escrow.fulfil(chain.provider, creation.agreement_id, PARAMS, CID)
    assert chain.escrow.status(creation.agreement_id) == AgreementStatus.FULFILLED


def test_signed_request_with_prior_approval(chain: Chain) -> None:
    asset = register(chain)
    chain.token.approve(chain.consumer, chain.escrow.address, PRICE)
    request = _request(chain, asset)
    signature = chain.escrow.sign_request(chain.consumer, request)
    creation = chain.escrow.create_signed(chain.relayer, request, signature, NO_PERMIT)
    assert chain.escrow.status(creation.agreement_id) == AgreementStatus.LOCKED


def test_replayed_signature_is_rejected(chain: Chain) -> None:
    asset = register(chain)
    chain.token.approve(chain.consumer, chain.escrow.address, 2 * PRICE)
    request = _request(chain, asset)
    signature = chain.escrow.sign_request(chain.consumer, request)
    chain.escrow.create_signed(chain.relayer, request, signature)
    with reverts("InvalidAccountNonce", account=chain.consumer.address, currentNonce=1):
        chain.escrow.create_signed(chain.relayer, request, signature)


def test_wrong_chain_id_is_rejected(chain: Chain) -> None:
    asset = register(chain)
    request = _request(chain, asset)
    signature = chain.escrow.sign_request(chain.consumer, request, chain_id=1)
    with reverts("InvalidSigner", consumer=chain.consumer.address):
        chain.escrow.create_signed(chain.relayer, request, signature, _permit(chain))


def test_other_verifying_contract_is_rejected(chain: Chain) -> None:
    from eth_account.messages import encode_typed_data

    asset = register(chain)
    request = _request(chain, asset)
    typed = agreement_request_typed_data(request, chain.registry.address, chain.w3.eth.chain_id)
    signature = bytes(chain.consumer.sign_message(encode_typed_data(full_message=typed)).signature)
    with reverts("InvalidSigner"):
        chain.escrow.create_signed(chain.relayer, request, signature, _permit(chain))


def test_expired_signature_is_rejected(chain: Chain) -> None:
    asset = register(chain)
    request = _request(chain, asset, expiry=chain.now() + 10)
    signature = chain.escrow.sign_request(chain.consumer, request)
    chain.travel(11)
    with reverts("SignatureExpired", expiry=request.expiry):
        chain.escrow.create_signed(chain.relayer, request, signature, _permit(chain))


def test_wrong_signer_is_rejected(chain: Chain) -> None:
    asset = register(chain)
    request = _request(chain, asset)
    signature = chain.escrow.sign_request(chain.stranger, request)
    with reverts("InvalidSigner", consumer=chain.consumer.address):
        chain.escrow.create_signed(chain.relayer, request, signature, _permit(chain))


def test_malformed_signature_is_rejected(chain: Chain) -> None:
    asset = register(chain)
    request = _request(chain, asset)
    with reverts("InvalidSigner"):
        chain.escrow.create_signed(chain.relayer, request, b"\x01" * 64, _permit(chain))


def test_tampered_fields_are_rejected(chain: Chain) -> None:
    asset = register(chain)
    other_asset = register(chain)
    request = _request(chain, asset)
    signature = chain.escrow.sign_request(chain.consumer, request)
    tampered = [
        replace(request, max_price=PRICE * 10),
        replace(request, asset_id=other_asset),
        replace(request, deadline=request.deadline + 1),
        replace(request, salt=salt()),
        replace(request, params_hash=b"\x09" * 32),
        replace(request, expiry=request.expiry + 1),
    ]
    for forged in tampered:
        with reverts("InvalidSigner", consumer=chain.consumer.address):
            chain.escrow.create_signed(chain.relayer, forged, signature, _permit(chain))


def test_out_of_order_nonce_is_rejected(chain: Chain) -> None:
    asset = register(chain)
    request = _request(chain, asset, nonce=5)
    signature = chain.escrow.sign_request(chain.consumer, request)
    with reverts("InvalidAccountNonce", currentNonce=0):
        chain.escrow.create_signed(chain.relayer, request, signature, _permit(chain))


def test_signed_requests_are_erc20_only(chain: Chain) -> None:
    asset = register_eth(chain)
    request = _request(chain, asset)
    signature = chain.escrow.sign_request(chain.consumer, request)
    with reverts("NativeTokenNotSupported"):
        chain.escrow.create_signed(chain.relayer, request, signature)


def test_front_run_permit_does_not_block_the_request(chain: Chain) -> None:
    """Someone submits the permit first; the request still goes through on the allowance."""
    asset = register(chain)
    request = _request(chain, asset)
    signature = chain.escrow.sign_request(chain.consumer, request)
    permit = _permit(chain)
    chain.token.permit(chain.stranger, chain.consumer.address, chain.escrow.address, permit)
    creation = chain.escrow.create_signed(chain.relayer, request, signature, permit)
    assert chain.escrow.status(creation.agreement_id) == AgreementStatus.LOCKED


def test_invalid_permit_without_allowance_fails_on_transfer(chain: Chain) -> None:
    asset = register(chain)
    request = _request(chain, asset)
    signature = chain.escrow.sign_request(chain.consumer, request)
    bad = replace(_permit(chain), value=PRICE * 2)  # signed for PRICE, claims 2 * PRICE
    with reverts("ERC20InsufficientAllowance"):
        chain.escrow.create_signed(chain.relayer, request, signature, bad)


def test_permit_signature_sets_allowance(chain: Chain) -> None:
    permit = _permit(chain, 42)
    chain.token.permit(chain.relayer, chain.consumer.address, chain.escrow.address, permit)
    assert chain.token.allowance(chain.consumer.address, chain.escrow.address) == 42
    assert chain.token.nonce(chain.consumer.address) == 1


def test_expired_or_replayed_permit_is_refused(chain: Chain) -> None:
    permit = _permit(chain, 42)
    chain.token.permit(chain.relayer, chain.consumer.address, chain.escrow.address, permit)
    with reverts("ERC2612InvalidSigner"):  # the nonce moved on: the digest no longer matches
        chain.token.permit(chain.relayer, chain.consumer.address, chain.escrow.address, permit)
    late = chain.token.sign_permit(chain.consumer, chain.escrow.address, 1, chain.now() + 5)
    chain.travel(10)
    with reverts("ERC2612ExpiredSignature"):
        chain.token.permit(chain.relayer, chain.consumer.address, chain.escrow.address, late)
