"""A federation for the session tests: four banks with their own owner and provider accounts."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chain_helpers import Chain
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from insitu.chain import NATIVE_TOKEN, AccessMode, AssetKind, dev_accounts
from insitu.chain.session import FederatedSession, SessionCreation, deploy_session

CID = "bafkreic2ftncguorzxm526kx4v6awpefejcr6jnwjfcwtn7jioemi3yjqa"
ALGO = keccak(b"algorithm: federated logistic regression v1")
# Odd prices so that sums and shares exercise rounding.
PRICES = (10**18, 2 * 10**18 + 1, 3 * 10**18 + 7, 5 * 10**17)
ETH_PRICES = (10**15 + 3, 2 * 10**15)
POOL = 10**19 + 1
HOUR = 3600
DAY = 24 * HOUR
MAX_UINT = 2**256 - 1
_salts = itertools.count(10_000)


def salt() -> bytes:
    """A fresh 32-byte salt."""
    return next(_salts).to_bytes(32, "big")


@dataclass(frozen=True)
class Federation:
    """The session contract, four banks' assets (ERC-20 and ETH) and the cast."""

    chain: Chain
    sessions: FederatedSession
    owners: tuple[LocalAccount, ...]  # payees
    providers: tuple[LocalAccount, ...]  # run the workers and sign accept/commitUpdate
    assets: tuple[bytes, ...]  # ERC-20 priced
    eth_assets: tuple[bytes, ...]
    scientist: LocalAccount
    coordinator: LocalAccount
    arbiter: LocalAccount

    @property
    def token(self) -> str:
        return self.chain.token.address

    def balance(self, token: str = "") -> int:
        """What the session contract holds in ``token`` (default: the ERC-20)."""
        c = self.chain
        if token == NATIVE_TOKEN:
            return int(c.w3.eth.get_balance(self.sessions.address))
        return c.token.balance_of(self.sessions.address)


def setup_federation(chain: Chain) -> Federation:
    """Deploy ``FederatedSession`` and register the banks' assets (once per test module)."""
    w3 = chain.w3
    extra = dev_accounts(18)[10:]
    for account in extra:
        w3.provider.make_request("anvil_setBalance", [account.address, hex(10**22)])
    owners, providers = tuple(extra[0::2]), tuple(extra[1::2])
    address = deploy_session(w3, chain.deployer, chain.registry.address)
    sessions = FederatedSession(w3, address)
    assets = tuple(
        _register(chain, owners[i], providers[i], price, chain.token.address)
        for i, price in enumerate(PRICES)
    )
    eth_assets = tuple(
        _register(chain, owners[i], providers[i], price, NATIVE_TOKEN)
        for i, price in enumerate(ETH_PRICES)
    )
    chain.token.approve(chain.consumer, address, MAX_UINT)
    return Federation(
        chain=chain,
        sessions=sessions,
        owners=owners,
        providers=providers,
        assets=assets,
        eth_assets=eth_assets,
        scientist=chain.consumer,
        coordinator=chain.relayer,
        arbiter=chain.deployer,
    )


def _register(
    chain: Chain, owner: LocalAccount, provider: LocalAccount, price: int, token: str
) -> bytes:
    registration = chain.registry.register(
        owner,
        salt=salt(),
        kind=AssetKind.DATASET,
        mode=AccessMode.COMPUTE_ONLY,
        metadata_cid=CID,
        metadata_hash=keccak(b"bank transactions"),
        provider=provider.address,
        price=price,
        token=token,
    )
    chain.registry.allow_algorithms(owner, registration.asset_id, [ALGO])
    return registration.asset_id


def create(
    fed: Federation,
    assets: Sequence[bytes] | None = None,
    *,
    creator: LocalAccount | None = None,
    token: str | None = None,
    rounds: int = 2,
    min_participants: int = 2,
    accept_in: int = HOUR,
    session_in: int = DAY,
    challenge_window: int = HOUR,
    pool: int = POOL,
    **kwargs: Any,
) -> SessionCreation:
    """Create a session over ``assets`` (default: the four ERC-20 assets)."""
    now = fed.chain.now()
    return fed.sessions.create(
        creator or fed.scientist,
        kwargs.pop("salt", None) or salt(),
        list(fed.assets if assets is None else assets),
        algorithm_hash=kwargs.pop("algorithm_hash", ALGO),
        rounds=rounds,
        min_participants=min_participants,
        accept_deadline=kwargs.pop("accept_deadline", now + accept_in),
        session_deadline=kwargs.pop("session_deadline", now + session_in),
        reward_pool=pool,
        coordinator=kwargs.pop("coordinator", fed.coordinator.address),
        token=fed.token if token is None else token,
        challenge_window=challenge_window,
        config_cid=CID,
        **kwargs,
    )


def accept_all(fed: Federation, session: bytes, indexes: Sequence[int]) -> None:
    for i in indexes:
        fed.sessions.accept(fed.providers[i], session, i)


def run_rounds(fed: Federation, session: bytes, rounds: Sequence[Sequence[int]]) -> None:
    """Play rounds: ``rounds[r]`` lists who commits in round r; the coordinator aggregates."""
    state = fed.sessions.get(session)
    for offset, who in enumerate(rounds):
        r = state.round + offset
        for i in who:
            fed.sessions.commit_update(fed.providers[i], session, r, i, _h("update", r, i), CID)
        fed.sessions.commit_aggregate(
            fed.coordinator, session, r, _h("aggregate", r), CID, included=who
        )


def finalize(fed: Federation, session: bytes, scores: Sequence[int]) -> None:
    fed.sessions.finalize(
        fed.coordinator,
        session,
        scores,
        model_hash=_h("model"),
        model_cid=CID,
        report_hash=_h("report", *scores),
        report_cid=CID,
    )


def _h(*parts: object) -> bytes:
    return keccak(text=":".join(map(str, parts)))
