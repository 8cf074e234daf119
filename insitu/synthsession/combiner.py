"""The coordinator's part of a generator session: combine, commit the generator, finalize.

The single round closes like an FL round (``insitu.fl.coordinator.decide_round``): when every
accepted provider has committed its contribution, or at the round timeout with at least the
minimum. The coordinator fetches exactly the contributions the contract recorded (each checked
against its on-chain hash and its ``"<session>:<index>"`` label), runs ``insitu.synth.combine``
on the data scientist's validation set with the settings fixed in the config document, and
commits the generator document (mixture + provenance) as the round's aggregate. Then it
finalizes: scores = each accepted contribution's metric gain (scaled to integers), 0 for a
rejected one, whose provider is still paid its access price by the contract (it did the work and
spent privacy budget on the session's terms) but gets nothing from the reward pool.

Finalization reads the committed generator document rather than recomputing, so a re-delivered
task after a crash between the two transactions posts scores consistent with what was committed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
from eth_account.signers.local import LocalAccount

from insitu.chain.errors import ContractRevert
from insitu.chain.session import FederatedSession, SessionStatus
from insitu.fl.coordinator import Decision, decide_open_round, post_final
from insitu.storage import ContentStore
from insitu.synth.api import combine
from insitu.synth.contribution import Contribution
from insitu.synth.errors import SynthError
from insitu.synth.schema import LocalMapping
from insitu.synthsession.documents import (
    GeneratorDoc,
    contribution_label,
    put,
    report_bytes,
    scores_of,
)
from insitu.synthsession.errors import GeneratorSessionError, NotReady
from insitu.synthsession.view import GeneratorSessionView


@dataclass
class Combiner:
    """What the coordinator's worker holds: its key, IPFS, the contract, the validation set.

    ``validation`` is in the schema's encoding unless ``validation_mapping`` says how to convert
    it (a data scientist keeps its validation rows in its own encoding like anyone else).
    """

    sessions: FederatedSession
    store: ContentStore
    account: LocalAccount
    validation: pd.DataFrame
    validation_mapping: LocalMapping | None = None
    poll_interval: float = 0.2
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep

    def view(self, session_id: bytes) -> GeneratorSessionView:
        return GeneratorSessionView(self.sessions, self.store, session_id)

    def run(self, session_id: bytes, opened_at: float) -> str:
        """Wait for the contributions, combine, commit the generator, finalize."""
        view = self.view(session_id)
        config = view.config
        while True:
            state = view.state()
            if state.status == SessionStatus.OPEN:
                raise NotReady(f"Session {view.hex_id} has not started yet.")
            if state.status != SessionStatus.RUNNING:
                return "already"
            if state.round > 0:
                break
            if self.clock() >= state.session_deadline:
                raise GeneratorSessionError(
                    f"Session {view.hex_id} passed its deadline before the combination; anyone "
                    "may now expire it (providers that contributed are paid their price)."
                )
            decision, answered = decide_open_round(
                state, self.clock() - opened_at, config.round_timeout
            )
            if decision is Decision.WAIT:
                self.sleep(self.poll_interval)
                continue
            doc = self.combine(view, answered)
            cid, digest = put(self.store, doc.to_bytes())
            try:
                self.sessions.commit_aggregate(
                    self.account, session_id, 0, digest, cid, included=answered
                )
            except ContractRevert as exc:
                if exc.error == "IncludedMismatch":
                    continue  # a late contribution landed after we combined: combine it too
                if exc.error != "WrongRound":
                    raise
            break
        return self.finalize(session_id)

    def combine(self, view: GeneratorSessionView, included: list[int]) -> GeneratorDoc:
        """The generator document over the contributions of `included`."""
        config = view.config
        schema = view.template.schema
        committed = view.commitments()
        missing = [i for i in included if i not in committed]
        if missing:
            raise NotReady(f"Contributions of {missing} are not visible in the logs yet; retry.")
        records: dict[int, dict[str, Any]] = {}
        valid: dict[int, Contribution] = {}
        for i in included:
            c = committed[i]
            record: dict[str, Any] = {"cid": c.cid, "hash": "0x" + c.digest.hex(), "tx": c.tx_hash}
            record["asset"] = "0x" + bytes(view.created.participants[i].asset_id).hex()
            try:
                contribution = view.contribution(c)
                if contribution.participant != contribution_label(view.hex_id, i):
                    raise GeneratorSessionError(
                        f"labelled {contribution.participant!r}, not for this session and slot"
                    )
                if contribution.generator().schema != schema:
                    raise GeneratorSessionError("fitted on another schema than the template's")
                if config.epsilon is not None and (
                    contribution.spent_epsilon is None
                    or contribution.spent_epsilon > config.epsilon * (1 + 1e-9)
                ):
                    raise GeneratorSessionError(
                        f"spent epsilon {contribution.spent_epsilon} exceeds the declared "
                        f"{config.epsilon}"
                    )
            except (SynthError, ValueError, KeyError) as exc:
                # An invalid contribution is rejected like an unhelpful one, with the reason.
                records[i] = {**record, "accepted": False, "gain": 0.0, "invalid": str(exc)}
                continue
            valid[i] = contribution
            record.update(
                contribution_id=contribution.contribution_id,
                spent_epsilon=contribution.spent_epsilon,
                delta=contribution.delta,
                n_rows=contribution.n_rows,
            )
            records[i] = record
        if not valid:
            raise GeneratorSessionError(
                f"Session {view.hex_id}: no valid contribution to combine; let it expire."
            )
        mixture, report = combine(
            list(valid.values()),
            self.validation,
            schema,
            validation_mapping=self.validation_mapping,
            n_synthetic=config.n_synthetic,
            seed=config.seed,
            min_gain=config.min_gain,
            strategy=config.strategy,  # type: ignore[arg-type]
        )
        by_id = {d.contribution_id: d for d in report.decisions}
        accepted = []
        for i, contribution in valid.items():
            d = by_id[contribution.contribution_id]
            gain = d.metric_after - d.metric_before if d.accepted else 0.0
            records[i].update(
                accepted=d.accepted,
                gain=gain,
                metric_before=d.metric_before,
                metric_after=d.metric_after,
            )
            if d.accepted:
                accepted.append(i)
        return GeneratorDoc(
            session=view.hex_id,
            included=list(included),
            accepted=sorted(accepted),
            generator=mixture.to_dict(),
            contributions=records,
            combination=report.to_dict(),
        )

    def finalize(self, session_id: bytes) -> str:
        """Post the scores and the report for the committed generator (once)."""
        view = self.view(session_id)
        state = view.state()
        if state.status != SessionStatus.RUNNING:
            return "already"
        aggregate = view.aggregate()
        doc = view.generator_doc(aggregate)
        scores = scores_of(doc, len(view.created.participants))
        posted = post_final(
            self.sessions,
            self.account,
            self.store,
            session_id,
            scores,
            model_hash=aggregate.digest,
            model_cid=aggregate.cid,
            report=report_bytes(doc, view.created.config_cid, aggregate.cid, scores),
        )
        if not posted:
            return "already"
        return f"finalized: accepted {doc.accepted} of {doc.included}, scores {scores}"
