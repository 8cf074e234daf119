"""Typed wrapper over ``FederatedSession``: create, enrol, run rounds, score, claim, withdraw.

The participant list and the scores are stored on-chain only as hashes; this wrapper reads them
back from the session's ``SessionCreated`` and latest ``SessionFinalized`` events and passes them
in calldata, so callers only name the session.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from eth_abi import encode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.contract.contract import ContractFunction
from web3.logs import DISCARD
from web3.types import BlockIdentifier

from insitu.chain.contracts import bind
from insitu.chain.deploy import deploy_contract
from insitu.chain.errors import ContractRevert
from insitu.chain.ids import bytes32
from insitu.chain.tx import read, transact
from insitu.chain.types import NATIVE_TOKEN, TxReceipt

CONTRACT = "FederatedSession"
#: Index the contract uses in ``AlreadyClaimed`` for the data scientist's remainder.
REMAINDER_INDEX = 255
MAX_PARTICIPANTS = 32
MAX_UINT32 = 2**32 - 1


class SessionStatus(IntEnum):
    """The session state machine (``FederatedSession.Status``)."""

    NONE = 0
    OPEN = 1
    RUNNING = 2
    FINALIZED = 3
    DISPUTED = 4
    CONFIRMED = 5
    SETTLED = 6
    CANCELLED = 7
    EXPIRED = 8


@dataclass(frozen=True)
class Participant:
    """One dataset of a session with the terms fixed at creation."""

    asset_id: bytes
    payee: str
    provider: str
    price: int

    def as_tuple(self) -> tuple[bytes, str, str, int]:
        return (self.asset_id, self.payee, self.provider, self.price)


@dataclass(frozen=True)
class SessionTerms:
    """The session-wide terms fixed at creation."""

    algorithm_hash: bytes
    token: str
    reward_pool: int
    rounds: int
    min_participants: int
    accept_deadline: int
    session_deadline: int
    challenge_window: int


@dataclass(frozen=True)
class SessionCreated:
    """A ``SessionCreated`` event: everything needed to take part in and settle a session."""

    session_id: bytes
    creator: str
    coordinator: str
    participants: tuple[Participant, ...]
    terms: SessionTerms
    config_cid: str
    block_number: int
    tx_hash: str

    @property
    def total(self) -> int:
        """Everything escrowed: the prices plus the reward pool."""
        return sum(p.price for p in self.participants) + self.terms.reward_pool


@dataclass(frozen=True)
class SessionCreation:
    """The result of creating a session."""

    session_id: bytes
    participants: tuple[Participant, ...]
    receipt: TxReceipt


@dataclass(frozen=True)
class Finalization:
    """A ``SessionFinalized`` event."""

    session_id: bytes
    scores: tuple[int, ...]
    model_hash: bytes
    model_cid: str
    report_hash: bytes
    report_cid: str
    challenge_end: int
    block_number: int
    tx_hash: str


@dataclass(frozen=True)
class SessionState:
    """The stored state of a session (status NONE when unknown)."""

    session_id: bytes
    status: SessionStatus
    creator: str
    coordinator: str
    token: str
    count: int
    min_participants: int
    rounds: int
    #: The open round (0-based); equals ``rounds`` once every aggregate is committed.
    round: int
    accept_deadline: int
    session_deadline: int
    challenge_window: int
    accepted_mask: int
    committed_mask: int
    round_mask: int
    claimed_mask: int
    remainder_claimed: bool
    pool: int
    #: What the session still holds in escrow.
    held: int
    participants_hash: bytes
    scores_hash: bytes
    #: End of the challenge window while FINALIZED, the arbiter's deadline while DISPUTED.
    window_end: int

    @property
    def accepted(self) -> list[int]:
        return _bits(self.accepted_mask)

    @property
    def committed(self) -> list[int]:
        """Participants that committed at least one update."""
        return _bits(self.committed_mask)

    @property
    def claimed(self) -> list[int]:
        return _bits(self.claimed_mask)


def session_id(creator: str, salt: bytes) -> bytes:
    """``keccak256(abi.encode(creator, salt))``: ``FederatedSession.sessionIdOf``."""
    return keccak(encode(["address", "bytes32"], [to_checksum_address(creator), bytes32(salt)]))


def hash_participants(participants: Sequence[Participant]) -> bytes:
    """``FederatedSession.hashParticipants``: the commitment stored at creation."""
    return keccak(
        encode(["(bytes32,address,address,uint256)[]"], [[p.as_tuple() for p in participants]])
    )


def hash_scores(scores: Sequence[int]) -> bytes:
    """``FederatedSession.hashScores`` (the first 27 bytes are stored at finalization)."""
    return keccak(encode(["uint32[]"], [list(scores)]))


def payouts(
    participants: Sequence[Participant],
    scores: Sequence[int],
    committed: Sequence[int],
    pool: int,
) -> tuple[list[int], int]:
    """What each participant's payee and the data scientist are credited after finalization.

    Mirrors the contract's integer arithmetic: returns (per participant, remainder).
    """
    total = sum(scores)
    done = set(committed)
    per = [
        p.price + (pool * s // total if total else 0) if i in done else 0
        for i, (p, s) in enumerate(zip(participants, scores, strict=True))
    ]
    # The rest is the data scientist's: dust, zero-score shares and unearned prices.
    return per, sum(p.price for p in participants) + pool - sum(per)


def deploy_session(
    w3: Web3, deployer: LocalAccount, registry_address: str, arbiter: str | None = None
) -> str:
    """Deploy ``FederatedSession`` over the registry; ``arbiter`` (default: deployer) owns it."""
    address, _, _ = deploy_contract(
        w3,
        deployer,
        CONTRACT,
        Web3.to_checksum_address(registry_address),
        Web3.to_checksum_address(arbiter or deployer.address),
    )
    return address


class FederatedSession:
    """Federated sessions paid into escrow; writes are signed by the ``sender`` passed in."""

    def __init__(self, w3: Web3, address: str) -> None:
        self.w3 = w3
        self.contract = bind(w3, CONTRACT, address)
        self.address = self.contract.address
        # Creation events never change: cache them per session.
        self._created: dict[bytes, SessionCreated] = {}

    # -------------------------------------------------------------- creation

    def create(
        self,
        sender: LocalAccount,
        salt: bytes,
        assets: Sequence[bytes],
        *,
        algorithm_hash: bytes,
        rounds: int,
        min_participants: int,
        accept_deadline: int,
        session_deadline: int,
        reward_pool: int,
        coordinator: str,
        token: str = NATIVE_TOKEN,
        challenge_window: int = 3600,
        max_total: int | None = None,
        config_cid: str = "",
        value: int | None = None,
    ) -> SessionCreation:
        """Create a session paid by ``sender`` (the data scientist).

        ERC-20 sessions need an ``approve`` of prices + pool first; for ETH, ``value`` defaults
        to that total. ``max_total`` (default: the current total) guards against a price raise.
        """
        if max_total is None or (value is None and token == NATIVE_TOKEN):
            total = self.quote(assets, algorithm_hash) + reward_pool
            max_total = total if max_total is None else max_total
            if value is None:
                value = total if token == NATIVE_TOKEN else 0
        params = (
            bytes32(salt),
            [bytes32(a) for a in assets],
            bytes32(algorithm_hash),
            rounds,
            min_participants,
            accept_deadline,
            session_deadline,
            challenge_window,
            reward_pool,
            Web3.to_checksum_address(coordinator),
            Web3.to_checksum_address(token),
            max_total,
            config_cid,
        )
        call = self.contract.functions.createSession(params)
        receipt = self._transact(sender, call, value=value or 0, action="createSession")
        events = self.contract.events.SessionCreated().process_receipt(receipt.raw, errors=DISCARD)
        created = _created(events[0])
        self._created[created.session_id] = created
        return SessionCreation(created.session_id, created.participants, receipt)

    def quote(self, assets: Sequence[bytes], algorithm_hash: bytes) -> int:
        """The sum of the assets' current prices (reverts like ``createSession`` would)."""
        registry = bind(self.w3, "AssetRegistry", self.registry())
        total = 0
        for asset in assets:
            _, _, _, price = read(
                registry.functions.purchaseTerms(bytes32(asset), bytes32(algorithm_hash)),
                "purchaseTerms",
            )
            total += int(price)
        return total

    # -------------------------------------------------------------- enrolment

    def accept(self, sender: LocalAccount, session: bytes, index: int) -> TxReceipt:
        """Participant ``index``'s provider agrees to take part (before the accept deadline)."""
        call = self.contract.functions.accept(bytes32(session), index, self._list(session))
        return self._transact(sender, call, action="accept")

    def start(self, sender: LocalAccount, session: bytes) -> TxReceipt:
        """Start training (creator or coordinator; at least the minimum accepted)."""
        call = self.contract.functions.start(bytes32(session))
        return self._transact(sender, call, action="start")

    def cancel(self, sender: LocalAccount, session: bytes) -> TxReceipt:
        """Cancel a session that has not started; the data scientist is refunded in full."""
        call = self.contract.functions.cancel(bytes32(session))
        return self._transact(sender, call, action="cancel")

    # -------------------------------------------------------------- rounds

    def commit_update(
        self,
        sender: LocalAccount,
        session: bytes,
        round_: int,
        index: int,
        update_hash: bytes,
        cid: str,
    ) -> TxReceipt:
        """Participant ``index`` commits its update for the open round ``round_``."""
        call = self.contract.functions.commitUpdate(
            bytes32(session), round_, index, self._list(session), bytes32(update_hash), cid
        )
        return self._transact(sender, call, action="commitUpdate")

    def commit_aggregate(
        self,
        sender: LocalAccount,
        session: bytes,
        round_: int,
        aggregate_hash: bytes,
        cid: str,
        *,
        included: Iterable[int],
    ) -> TxReceipt:
        """The coordinator commits round ``round_``'s aggregate over the updates of the
        ``included`` participants (list indexes), which closes the round.

        Reverts ``IncludedMismatch`` if they are not exactly the round's committed updates (one
        arrived after the aggregate was computed): aggregate again.
        """
        mask = sum(1 << index for index in set(included))
        call = self.contract.functions.commitAggregate(
            bytes32(session), round_, mask, bytes32(aggregate_hash), cid
        )
        return self._transact(sender, call, action="commitAggregate")

    # -------------------------------------------------------------- scores

    def finalize(
        self,
        sender: LocalAccount,
        session: bytes,
        scores: Sequence[int],
        *,
        model_hash: bytes,
        model_cid: str,
        report_hash: bytes,
        report_cid: str,
    ) -> TxReceipt:
        """The coordinator posts the final model and one uint32 score per participant."""
        if any(not 0 <= s <= MAX_UINT32 for s in scores):
            raise ValueError(
                f"scores must be integers in [0, 2**32 - 1], got {list(scores)}: scale the "
                "contribution values to integers (e.g. round(value * 1e6)) and clip negatives."
            )
        call = self.contract.functions.finalize(
            bytes32(session),
            list(scores),
            bytes32(model_hash),
            model_cid,
            bytes32(report_hash),
            report_cid,
        )
        return self._transact(sender, call, action="finalize")

    def challenge(
        self, sender: LocalAccount, session: bytes, evidence_hash: bytes, evidence_cid: str
    ) -> TxReceipt:
        """Dispute the finalization during the challenge window (freezes claims)."""
        call = self.contract.functions.challenge(
            bytes32(session), bytes32(evidence_hash), evidence_cid
        )
        return self._transact(sender, call, action="challenge")

    def resolve(self, sender: LocalAccount, session: bytes, upheld: bool) -> TxReceipt:
        """The arbiter (contract owner) settles a dispute; ``upheld`` voids the finalization."""
        call = self.contract.functions.resolve(bytes32(session), upheld)
        return self._transact(sender, call, action="resolve")

    def expire(self, sender: LocalAccount, session: bytes) -> TxReceipt:
        """End a session not validly finalized in time (anyone); pays prices of workers."""
        call = self.contract.functions.expire(bytes32(session), self._list(session))
        return self._transact(sender, call, action="expire")

    # -------------------------------------------------------------- claims

    def claim(
        self, sender: LocalAccount, session: bytes, index: int, scores: Sequence[int] | None = None
    ) -> TxReceipt:
        """Credit participant ``index``'s payee with its price and reward (anyone may send)."""
        scores = list(self.finalization(session).scores if scores is None else scores)
        call = self.contract.functions.claim(bytes32(session), index, self._list(session), scores)
        return self._transact(sender, call, action="claim")

    def claim_remainder(
        self, sender: LocalAccount, session: bytes, scores: Sequence[int] | None = None
    ) -> TxReceipt:
        """Credit the data scientist with the dust and unearned prices (anyone may send)."""
        scores = list(self.finalization(session).scores if scores is None else scores)
        call = self.contract.functions.claimRemainder(bytes32(session), self._list(session), scores)
        return self._transact(sender, call, action="claimRemainder")

    def withdraw(self, sender: LocalAccount, token: str = NATIVE_TOKEN) -> TxReceipt:
        """Send ``sender`` its whole withdrawable balance in ``token``."""
        call = self.contract.functions.withdraw(Web3.to_checksum_address(token))
        return self._transact(sender, call, action="withdraw")

    # -------------------------------------------------------------- reads

    def get(self, session: bytes) -> SessionState:
        """The stored state of a session."""
        r = read(self.contract.functions.getSession(bytes32(session)), "getSession")
        return SessionState(
            session_id=bytes32(session),
            status=SessionStatus(r[3]),
            creator=r[0],
            coordinator=r[5],
            token=r[9],
            count=r[4],
            min_participants=r[12],
            rounds=r[10],
            round=r[11],
            accept_deadline=r[1],
            session_deadline=r[2],
            challenge_window=r[14],
            accepted_mask=r[6],
            committed_mask=r[7],
            round_mask=r[8],
            claimed_mask=r[17],
            remainder_claimed=r[13],
            pool=r[15],
            held=r[16],
            participants_hash=bytes(r[18]),
            scores_hash=bytes(r[19]),
            window_end=r[20],
        )

    def status(self, session: bytes) -> SessionStatus:
        return self.get(session).status

    def withdrawable(self, account: str, token: str = NATIVE_TOKEN) -> int:
        """What ``account`` may withdraw in ``token``."""
        call = self.contract.functions.withdrawable(
            Web3.to_checksum_address(account), Web3.to_checksum_address(token)
        )
        return int(read(call))

    def registry(self) -> str:
        return str(read(self.contract.functions.registry()))

    def arbiter(self) -> str:
        return str(read(self.contract.functions.owner()))

    def session_id(self, creator: str, salt: bytes) -> bytes:
        """The id ``creator`` gets with ``salt`` (computed locally)."""
        return session_id(creator, salt)

    def created(self, session: bytes, from_block: BlockIdentifier = 0) -> SessionCreated:
        """The ``SessionCreated`` event of ``session`` (the record of its terms)."""
        key = bytes32(session)
        if key not in self._created:
            logs = self.contract.events.SessionCreated().get_logs(
                from_block=from_block, argument_filters={"sessionId": key}
            )
            if not logs:
                raise _unknown(key, "SessionCreated")
            self._created[key] = _created(logs[-1])
        return self._created[key]

    def participants(self, session: bytes) -> tuple[Participant, ...]:
        """The participant list fixed at creation."""
        return self.created(session).participants

    def finalization(self, session: bytes, from_block: BlockIdentifier = 0) -> Finalization:
        """The latest ``SessionFinalized`` event of ``session`` (the scores in force)."""
        logs = self.contract.events.SessionFinalized().get_logs(
            from_block=from_block, argument_filters={"sessionId": bytes32(session)}
        )
        if not logs:
            raise _unknown(bytes32(session), "SessionFinalized")
        log = logs[-1]
        args = log["args"]
        return Finalization(
            session_id=bytes(args["sessionId"]),
            scores=tuple(args["scores"]),
            model_hash=bytes(args["modelHash"]),
            model_cid=args["modelCid"],
            report_hash=bytes(args["reportHash"]),
            report_cid=args["reportCid"],
            challenge_end=args["challengeEnd"],
            block_number=log["blockNumber"],
            tx_hash=log["transactionHash"].to_0x_hex(),
        )

    def events(
        self, name: str, session: bytes | None = None, from_block: BlockIdentifier = 0
    ) -> list[Any]:
        """Decoded logs of event ``name`` (optionally of one session), oldest first."""
        filters = {"sessionId": bytes32(session)} if session is not None else None
        return list(
            getattr(self.contract.events, name)().get_logs(
                from_block=from_block, argument_filters=filters
            )
        )

    # -------------------------------------------------------------- internals

    def _list(self, session: bytes) -> list[tuple[bytes, str, str, int]]:
        return [p.as_tuple() for p in self.participants(session)]

    def _transact(
        self, sender: LocalAccount, call: ContractFunction, value: int = 0, action: str = ""
    ) -> TxReceipt:
        return transact(self.w3, sender, call, value=value, action=action)


def _unknown(session: bytes, event: str) -> ContractRevert:
    return ContractRevert(
        "UnknownSession",
        {"sessionId": session},
        f"lookup: no {event} event; check the session id and the contract address",
    )


def _created(log: Any) -> SessionCreated:
    args = log["args"]
    t = args["terms"]
    return SessionCreated(
        session_id=bytes(args["sessionId"]),
        creator=args["creator"],
        coordinator=args["coordinator"],
        participants=tuple(
            Participant(bytes(p["assetId"]), p["payee"], p["provider"], p["price"])
            for p in args["participants"]
        ),
        terms=SessionTerms(
            algorithm_hash=bytes(t["algorithmHash"]),
            token=t["token"],
            reward_pool=t["rewardPool"],
            rounds=t["rounds"],
            min_participants=t["minParticipants"],
            accept_deadline=t["acceptDeadline"],
            session_deadline=t["sessionDeadline"],
            challenge_window=t["challengeWindow"],
        ),
        config_cid=args["configCid"],
        block_number=log["blockNumber"],
        tx_hash=log["transactionHash"].to_0x_hex(),
    )


def _bits(mask: int) -> list[int]:
    return [i for i in range(MAX_PARTICIPANTS) if mask >> i & 1]


def _render(value: Any) -> str:
    return "0x" + value.hex() if isinstance(value, bytes) else str(value)
