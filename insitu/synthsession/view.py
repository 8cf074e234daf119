"""A generator session as the chain and IPFS record it: terms, config, template, documents.

Workers keep no state of their own: everything is rebuilt from the session's events (through
``insitu.fl.view.SessionView``, which reads commitments without interpreting them) and the
documents they commit to, so a restarted worker, a re-delivered task and an auditor agree.
"""

from __future__ import annotations

from functools import cached_property

from insitu.chain.session import FederatedSession, SessionCreated, SessionState
from insitu.fl.view import Commitment, SessionView
from insitu.storage import ContentStore
from insitu.synth.contribution import Contribution
from insitu.synthsession.documents import (
    GeneratorConfig,
    GeneratorDoc,
    GeneratorTemplate,
    fetch,
)
from insitu.synthsession.errors import GeneratorSessionError, NotAGeneratorSession, NotReady


class GeneratorSessionView:
    """Read-only access to one generator session."""

    def __init__(self, sessions: FederatedSession, store: ContentStore, session_id: bytes) -> None:
        self.sessions = sessions
        self.store = store
        self.session_id = bytes(session_id)
        self._events = SessionView(sessions, store, self.session_id)

    @property
    def hex_id(self) -> str:
        return "0x" + self.session_id.hex()

    @cached_property
    def created(self) -> SessionCreated:
        return self.sessions.created(self.session_id)

    @cached_property
    def config(self) -> GeneratorConfig:
        cid = self.created.config_cid
        if not cid:
            raise NotAGeneratorSession(f"Session {self.hex_id} has no config document.")
        config = GeneratorConfig.from_bytes(fetch(self.store, cid))
        if config.algorithm_hash != bytes(self.created.terms.algorithm_hash):
            raise GeneratorSessionError(
                f"Session {self.hex_id}: the config's template hash differs from the on-chain "
                "algorithm hash; the config document is inconsistent with the session."
            )
        if self.created.terms.rounds != GeneratorConfig.chain_rounds:
            raise GeneratorSessionError(
                f"Session {self.hex_id} has {self.created.terms.rounds} rounds; a generator "
                "session has exactly one."
            )
        return config

    @cached_property
    def template(self) -> GeneratorTemplate:
        config = self.config
        return GeneratorTemplate.from_bytes(
            fetch(self.store, config.template_cid), config.algorithm_hash
        )

    def state(self) -> SessionState:
        return self.sessions.get(self.session_id)

    def commitments(self) -> dict[int, Commitment]:
        """The committed contributions by participant index."""
        return self._events.updates(0).get(0, {})

    def contribution(self, c: Commitment) -> Contribution:
        return Contribution.from_json(fetch(self.store, c.cid, c.digest))

    def aggregate(self) -> Commitment:
        agg = self._events.aggregates().get(0)
        if agg is None:
            raise NotReady(f"Session {self.hex_id}: the generator is not committed yet.")
        return agg

    def generator_doc(self, c: Commitment) -> GeneratorDoc:
        return GeneratorDoc.from_bytes(fetch(self.store, c.cid, c.digest))
