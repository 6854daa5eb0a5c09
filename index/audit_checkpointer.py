"""The running server's audit checkpointer (issue #17): verifies the whole chain once at start
(a loud warning when it does not verify), then signs a checkpoint whenever enough entries, or
old enough ones, are past the last checkpoint.

Damage is reported, not acted on: the server keeps recording and serving (stopping a city's
cameras would only add a gap to the evidence), but nothing is signed over a broken chain, so the
damage stays visible to `skynet audit verify` and GET /api/v1/audit/verify.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from index.catalog import (
    AuditChainBroken,
    AuditVerification,
    CatalogError,
    SessionFactory,
    audit_checkpoint_due,
    make_audit_checkpoint,
    verify_audit_chain,
)
from storage.ed25519 import Signer

log = logging.getLogger(__name__)


class AuditCheckpointer:
    """A daemon thread: verify at start, then a signed checkpoint whenever one is due."""

    def __init__(
        self,
        sessions: SessionFactory,
        signer: Signer,
        every_entries: int,
        every: timedelta,
        poll_s: float = 5.0,
    ) -> None:
        self._sessions = sessions
        self._signer = signer
        self._every_entries = every_entries
        self._every = every
        self._poll_s = poll_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-checkpoints", daemon=True)
        self.start_report: AuditVerification | None = None
        self._reported: str | None = None  # the last damage logged, so it is logged once

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def verify_now(self) -> AuditVerification:
        """Check the whole chain; log a loud warning naming the first damage."""
        with self._sessions() as session:
            report = verify_audit_chain(session, self._signer.public_key)
        if report.ok:
            log.info("audit chain verified: %d entries, %d checkpoints",
                     report.entries_checked, report.checkpoints_checked)  # fmt: skip
        else:
            first = report.first_problem
            assert first is not None
            log.critical(
                "AUDIT CHAIN DOES NOT VERIFY: entry %d: %s: %s (%d problem(s); last good "
                "checkpoint at entry %d). No checkpoint will be signed until this is resolved; "
                "run `skynet audit verify` for the list.",
                first.seq, first.kind, first.detail, len(report.problems),
                report.last_good_checkpoint,
            )  # fmt: skip
        return report

    def checkpoint_if_due(self) -> None:
        """Sign a checkpoint if one is due; a broken chain is logged (once), never signed."""
        with self._sessions.begin() as session:
            if not audit_checkpoint_due(session, self._every_entries, self._every):
                return
            try:
                point = make_audit_checkpoint(session, self._signer)
            except AuditChainBroken as error:
                if str(error) != self._reported:
                    log.critical("audit checkpoint refused: %s", error)
                    self._reported = str(error)
                return
        if point is not None:
            log.info("audit checkpoint signed at entry %d", point.seq)

    def _run(self) -> None:
        try:
            self.start_report = self.verify_now()
        except CatalogError:
            log.exception("audit chain verification failed")
        while not self._stop.wait(self._poll_s):
            try:
                self.checkpoint_if_due()
            except CatalogError:
                log.exception("audit checkpoint failed; retrying")
