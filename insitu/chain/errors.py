"""Turn contract reverts into ``ContractRevert`` errors naming the custom error and what to do.

Custom errors arrive as 4-byte selectors plus ABI-encoded arguments; the selector table is built
from the ABIs of every insitu contract (an error raised by the registry surfaces through the
escrow's call too).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from eth_abi import decode
from eth_utils import function_signature_to_4byte_selector, to_checksum_address

from insitu.errors import InsituError
from insitu.toolchain.artifacts import ARTIFACTS_DIR, load_artifact

#: What to do about each custom error; ``{name}`` fields are filled from the error's arguments.
HINTS: dict[str, str] = {
    "AssetExists": "an asset with id {assetId} already exists: register with another salt.",
    "AssetNotFound": "no asset has id {assetId}: check the id (asset_id(owner, salt)) and network.",
    "NotAssetOwner": "{caller} does not own asset {assetId}: send the transaction from its owner.",
    "NotPendingOwner": "{caller} was not proposed as owner of asset {assetId}: the current owner "
    "must call transfer(asset, new_owner) first.",
    "AssetIsRetired": "asset {assetId} is retired: pick another asset.",
    "AlgorithmNotAllowed": "ask the asset owner to allow algorithm {algorithmHash} on asset "
    "{assetId}, or pick one from the allowlist.",
    "EmptyMetadata": "the metadata CID is empty: upload the metadata to IPFS and pass its CID.",
    "ZeroAddress": "an address argument is the zero address: pass a real account.",
    "AgreementExists": "agreement {agreementId} already exists: create it with another salt.",
    "AgreementNotLocked": "agreement {agreementId} is not locked (status {status}): it was never "
    "created or is already settled; nobody is paid twice.",
    "TermsMismatch": "the terms passed for agreement {agreementId} differ from those fixed at "
    "creation: pass the terms from its AgreementCreated event.",
    "NotProvider": "{caller} is not the provider of agreement {agreementId}: send from the "
    "provider named in its terms.",
    "InvalidDeadline": "deadline {deadline} must be in the future and at most {latest} "
    "(90 days from now).",
    "AgreementExpired": "agreement {agreementId} expired at {deadline}: it can only be "
    "refunded now.",
    "AgreementNotExpired": "agreement {agreementId} runs until {deadline}: wait for the deadline "
    "before asking for a refund.",
    "PriceAboveMax": "the asset costs {price}, above your max price {maxPrice}: raise max_price "
    "if you accept the new price.",
    "WrongPayment": "sent {sent} wei but the agreement needs exactly {expected}: send the price as "
    "value for ETH assets and no value for ERC-20 assets.",
    "SignatureExpired": "the signed request expired at {expiry}: ask the consumer to sign a "
    "new one.",
    "InvalidSigner": "the signature is not {consumer}'s over this request, chain and contract: "
    "sign the request again with the consumer's key.",
    "InvalidAccountNonce": "nonce is not {account}'s next one ({currentNonce}): the request was "
    "already used or is out of order; sign a new one with the current nonce.",
    "PayoutAboveAmount": "payout {payout} exceeds the {amount} escrowed for agreement "
    "{agreementId}: pay out at most the agreement's amount (the rest is refunded).",
    "NativeTokenNotSupported": "signed requests work for ERC-20 assets only: the consumer must "
    "call create itself to pay in ETH.",
    "NothingToWithdraw": "{account} has nothing to withdraw in token {token}.",
    "FeeTooHigh": "fee {feeBps} bps exceeds the cap of {maxFeeBps} bps.",
    "EthTransferFailed": "sending ETH to {to} failed: withdraw from an account that accepts ETH.",
    "ReentrancyGuardReentrantCall": "a reentrant call was blocked.",
    "OwnableUnauthorizedAccount": "{account} is not the marketplace owner: send from the owner.",
    "SafeERC20FailedOperation": "token {token} rejected the transfer.",
    "ERC20InsufficientAllowance": "allowance {allowance} of {spender} is below {needed}: approve "
    "the escrow for the price first (or pass a permit).",
    "ERC20InsufficientBalance": "{sender} holds {balance}, below {needed}: fund the account first.",
    "ERC2612ExpiredSignature": "the permit expired at {deadline}: sign a new permit.",
    "ERC2612InvalidSigner": "the permit was signed by {signer}, not {owner}: sign it again.",
    # FederatedSession
    "SessionExists": "session {sessionId} already exists: create it with another salt.",
    "WrongStatus": "session {sessionId} is in status {status} (see SessionStatus), where this "
    "step is not allowed: check get(session) first.",
    "InvalidParticipantCount": "{count} assets with minimum {minParticipants}: pass 1 to 32 "
    "distinct assets and 1 <= min_participants <= their number.",
    "DuplicateAsset": "asset {assetId} is listed twice: list each dataset once.",
    "TokenMismatch": "asset {assetId} is priced in {token}, not {expected}: every asset of a "
    "session must be paid in the session's token.",
    "InvalidRounds": "rounds must be at least 1.",
    "InvalidDeadlines": "need now < accept deadline ({acceptDeadline}) < session deadline "
    "({sessionDeadline}) <= {latest} (180 days from now).",
    "InvalidChallengeWindow": "challenge window {challengeWindow}s must be within "
    "[{min}, {max}] seconds.",
    "TotalAboveMax": "prices plus pool come to {total}, above max_total {maxTotal}: raise "
    "max_total if you accept the current prices.",
    "ParticipantsMismatch": "the participant list passed for session {sessionId} differs from "
    "the one fixed at creation: pass the list from its SessionCreated event.",
    "ScoresMismatch": "the scores passed for session {sessionId} differ from the finalized ones: "
    "pass the scores from its latest SessionFinalized event.",
    "InvalidIndex": "session {sessionId} has no participant {index}.",
    "NotSessionProvider": "{caller} is not the provider of participant {index} of session "
    "{sessionId}: send from the asset's provider account.",
    "NotCoordinator": "{caller} is not the coordinator of session {sessionId}.",
    "NotCreatorOrCoordinator": "only the creator or the coordinator of session {sessionId} may "
    "start it, not {caller}.",
    "AlreadyAccepted": "participant {index} already accepted session {sessionId}.",
    "AcceptClosed": "the accept deadline of session {sessionId} passed at {acceptDeadline}.",
    "NotEnoughAccepted": "only {accepted} of the required {required} participants accepted "
    "session {sessionId}: wait for more, or cancel after the accept deadline.",
    "CannotCancel": "session {sessionId} can be cancelled only by its creator, or by anyone "
    "after the accept deadline when too few accepted.",
    "NotAccepted": "participant {index} did not accept session {sessionId} before it started.",
    "WrongRound": "round {round} is not open in session {sessionId} (current round {current}): "
    "the round closed when its aggregate was committed; join the current one.",
    "AlreadyCommitted": "participant {index} already committed its update for round {round} of "
    "session {sessionId}.",
    "NotEnoughUpdates": "round {round} of session {sessionId} has {updates} updates, below the "
    "minimum {required}: wait for more participants.",
    "IncludedMismatch": "the aggregate of round {round} of session {sessionId} names participants "
    "{includedMask} but {committedMask} committed: an update arrived after you aggregated; "
    "aggregate the round again over every committed update.",
    "RoundsIncomplete": "session {sessionId} has {aggregated} of {rounds} aggregates: commit "
    "every round before finalizing.",
    "SessionDeadlinePassed": "session {sessionId} passed its deadline {sessionDeadline}: anyone "
    "may expire it now.",
    "SessionNotExpired": "session {sessionId} runs until {deadline}: wait before expiring it.",
    "ScoresLengthMismatch": "{length} scores for {expected} participants: pass one per "
    "participant, in list order.",
    "UnbackedScore": "participant {index} of session {sessionId} never committed an update: its "
    "score must be 0.",
    "ChallengeWindowClosed": "the window of session {sessionId} closed at {windowEnd}.",
    "NotClaimable": "session {sessionId} is not claimable (status {status}, window ends "
    "{windowEnd}): wait for the challenge window, or the arbiter's decision.",
    "AlreadyClaimed": "payout {index} of session {sessionId} was already credited; nobody is "
    "paid twice (withdraw to receive it).",
    "NothingToClaim": "participant {index} of session {sessionId} committed no update and earns "
    "nothing (its price goes back with the remainder).",
}


class ContractRevert(InsituError):
    """A contract call reverted; ``error`` is the custom error's name, ``args`` its arguments."""

    def __init__(self, error: str, args: dict[str, Any], action: str = "") -> None:
        self.error = error
        self.args_by_name = args
        where = f"{action} reverted" if action else "transaction reverted"
        rendered = ", ".join(f"{k}={_render(v)}" for k, v in args.items())
        hint = HINTS.get(error)
        text = f"{where} with {error}({rendered})"
        if hint:
            try:
                text += ": " + hint.format(**{k: _render(v) for k, v in args.items()})
            except (KeyError, IndexError):
                text += ": " + hint
        super().__init__(text)


@cache
def _error_table() -> dict[bytes, tuple[str, list[str], list[str]]]:
    table: dict[bytes, tuple[str, list[str], list[str]]] = {
        function_signature_to_4byte_selector("Error(string)"): ("Error", ["string"], ["reason"]),
        function_signature_to_4byte_selector("Panic(uint256)"): ("Panic", ["uint256"], ["code"]),
    }
    # Every compiled insitu contract: an error may surface through another contract's call.
    for contract in sorted(p.stem for p in ARTIFACTS_DIR.glob("*.json")):
        for item in load_artifact(contract)["abi"]:
            if item["type"] != "error":
                continue
            types = [_abi_type(i) for i in item["inputs"]]
            names = [i["name"] or f"arg{n}" for n, i in enumerate(item["inputs"])]
            selector = function_signature_to_4byte_selector(f"{item['name']}({','.join(types)})")
            table[selector] = (item["name"], types, names)
    return table


def decode_revert(data: bytes | str | None, action: str = "") -> ContractRevert:
    """Decode revert data (selector + arguments) into a ``ContractRevert``."""
    raw = _as_bytes(data)
    if len(raw) < 4:
        return ContractRevert("UnknownRevert", {"data": "0x" + raw.hex()}, action)
    entry = _error_table().get(raw[:4])
    if entry is None:
        return ContractRevert("UnknownRevert", {"data": "0x" + raw.hex()}, action)
    name, types, names = entry
    values = [
        to_checksum_address(v) if t == "address" else v
        for t, v in zip(types, decode(types, raw[4:]), strict=True)
    ]
    return ContractRevert(name, dict(zip(names, values, strict=True)), action)


def _abi_type(item: dict[str, Any]) -> str:
    if item["type"].startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in item["components"])
        return f"({inner}){item['type'][5:]}"
    return str(item["type"])


def _as_bytes(data: bytes | str | None) -> bytes:
    if data is None:
        return b""
    if isinstance(data, str):
        return bytes.fromhex(data.removeprefix("0x"))
    return bytes(data)


def _render(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)
