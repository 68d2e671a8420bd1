"""Use case: re-identify a case (its original identifiers), for a coordinator, audited.

This is the only service that reads the private ``phi_mapping`` table
(``tests/services/test_roles.py`` checks that no other module calls ``uow.cases.phi``). Every call
is an audit event naming the case, who asked and why; the identifiers themselves are never
written to the audit trail.
"""

from __future__ import annotations

import hashlib
from typing import Any

from readerstudy.core.errors import PermissionDenied, ValidationError
from readerstudy.services.auth import UserSession, require_coordinator
from readerstudy.services.context import AppContext


def reidentify(ctx: AppContext, coordinator: UserSession, case_id: str, reason: str) -> dict[str, Any]:
    """The original identifiers of ``case_id`` (``{"original": ..., "date_shift_days": n}``, ``{}`` when
    none were recorded). Coordinators of the case's study only; ``reason`` is required and audited.

    Raises
    ------
    PermissionDenied
        not a coordinator, or the case belongs to another study.
    ValidationError
        no reason given.
    """
    require_coordinator(coordinator, "re-identifying a case (seeing its original identifiers)")
    if not reason or not reason.strip():
        raise ValidationError("Re-identification needs a reason (e.g. 'incidental finding: inform the patient's "
                              "physician'); it is recorded in the audit trail.")
    with ctx.uow() as uow:
        case = uow.cases.get(case_id)
        if coordinator.study_id and case.study_id != coordinator.study_id:
            raise PermissionDenied(f"That case belongs to another study than {coordinator.study_name!r}.")
        mapping = uow.cases.phi(case_id)
        uow.audit.append(coordinator.name, "phi.access", "case", case_id,
                         {"pseudonym": case.pseudonym, "reason": reason.strip(), "found": bool(mapping)})
        uow.commit()
    return mapping


def identity_keys(phi: dict[str, Any]) -> list[str]:
    """Grouping keys from a case's de-identification mapping: its patient ID and series UIDs.

    ``phi`` is the stored mapping (empty for PNG/JPEG/NIfTI imports, which carry no identifiers).
    The keys are sha256 digests, so no identifier leaves this function.
    """
    out: set[str] = set()
    for inst in (phi.get("original") or {}).get("instances", []):
        for field_name in ("PatientID", "SeriesInstanceUID"):
            value = str(inst.get(field_name, "")).strip()
            if value:
                out.add(f"{field_name}:" + hashlib.sha256(value.encode()).hexdigest()[:16])
    return sorted(out)


def grouping_keys(uow: Any, case_id: str) -> list[str]:
    """:func:`identity_keys` of a stored case (inside a use case that checked the coordinator's role).

    Digests only: the engine's near-duplicate grouping keeps one patient's images on one side of
    the split without any identifier leaving this module.
    """
    return identity_keys(uow.cases.phi(case_id))
