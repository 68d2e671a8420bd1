"""Use cases: verify the database against its audit trail, and the chain head for reports.

:func:`verify` runs every check of :mod:`readerstudy.storage.verify` (chain, anchor, reads,
annotations, predictions, pixel files) and names the first bad item. The app runs it when a
coordinator signs in (:func:`startup_check`) and shows the result; ``readerstudy audit verify``
runs it from the command line. :func:`chain_head` is what a report footer or an export records,
so a chain recomputed later no longer matches a head printed before.
"""

from __future__ import annotations

from readerstudy.services.auth import UserSession, require_coordinator
from readerstudy.services.context import AppContext
from readerstudy.storage.audit import ChainHead
from readerstudy.storage.audit import chain_head as storage_chain_head
from readerstudy.storage.verify import Problem, VerifyReport, verify_database

__all__ = ["ChainHead", "Problem", "VerifyReport", "chain_head", "parse_head", "startup_check", "verify"]


def parse_head(text: str) -> tuple[int, str]:
    """``"SEQ:HASH"`` (as a report or an export's provenance prints it, ``#`` optional, hash 16-64 hex,
    anything after a space ignored) -> ``(seq, hash)``."""
    from readerstudy.core.errors import ValidationError

    seq, _, digest = text.strip().lstrip("#").split(" ")[0].partition(":")
    digest = digest.strip().lower()
    if not seq.isdigit() or not 16 <= len(digest) <= 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValidationError(f"{text!r} is not a chain head; give it as SEQ:HASH, e.g. 42:9f86d081884c7d65.")
    return int(seq), digest


def verify(ctx: AppContext, session: UserSession, *, files: bool = True,
           expected_heads: list[tuple[int, str]] | None = None) -> VerifyReport:
    """Verify the whole database (every study in it). Coordinators only.

    Parameters
    ----------
    files : also hash every pixel file and mask in the store (slower; default on).
    expected_heads : ``(seq, hash)`` heads recorded elsewhere (a report footer); a hash may be a
        prefix of at least 16 hex digits.
    """
    require_coordinator(session, "verifying the audit trail")
    with ctx.uow(read=True) as uow:
        assert uow.session is not None
        heads = []
        for seq, digest in expected_heads or []:
            heads.append((seq, _full_hash(uow, seq, digest)))
        return verify_database(uow.session, store=ctx.store if files else None, anchor=ctx.anchor,
                               expected_heads=heads)


def _full_hash(uow, seq: int, digest: str) -> str:  # noqa: ANN001
    """A prefix stays a prefix: expand it to the stored hash only when it matches, else keep it (fails)."""
    for ev in uow.audit.list():
        if ev.seq == seq:
            return ev.hash if ev.hash.startswith(digest) else digest
    return digest


def startup_check(ctx: AppContext, session: UserSession) -> VerifyReport | None:
    """Run when a coordinator signs in: the report to show (None for other roles, who are not told)."""
    if not session.is_coordinator:
        return None
    return verify(ctx, session, files=True)


def chain_head(ctx: AppContext, session: UserSession) -> ChainHead | None:
    """The head of the audit chain now, for a report footer or an export's metadata (coordinators)."""
    require_coordinator(session, "reading the audit chain head")
    with ctx.uow(read=True) as uow:
        assert uow.session is not None
        return storage_chain_head(uow.session)
