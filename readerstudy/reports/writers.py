"""Report writers: report.json (every number), reads.csv (every stored field of every counted read)."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from .model import READ_COLUMNS

__all__ = ["CSV_COLUMNS", "csv_columns", "jsonable", "write_csv", "write_json"]

CSV_COLUMNS = READ_COLUMNS


def jsonable(o: Any) -> Any:
    """Plain JSON types: NaN/inf -> None, numpy scalars -> Python, dataclasses -> dicts."""
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return jsonable(dataclasses.asdict(o))
    if isinstance(o, dict):
        return {str(k): jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [jsonable(v) for v in o]
    if hasattr(o, "item") and not isinstance(o, (str, bytes)):
        return jsonable(o.item())
    if o is pd.NA:
        return None
    return o


def write_json(path: Path, meta: dict[str, Any], tables: dict[str, Any]) -> Path:
    path.write_text(json.dumps(jsonable({"meta": meta, "tables": tables}), indent=1, allow_nan=False),
                    encoding="utf-8")
    return path


def csv_columns(table: pd.DataFrame) -> list[str]:
    """The fixed read columns, then every further stored field (``view_*``, ``ai_*``, ``answer_*``, ``practice``)."""
    fixed = [c for c in READ_COLUMNS if c in table.columns]
    extra = [c for c in table.columns if c not in READ_COLUMNS]
    order = {"view_": 0, "ai_": 1, "answer_": 2}
    return fixed + sorted(extra, key=lambda c: (next((v for k, v in order.items() if c.startswith(k)), 3), c))


def write_csv(path: Path, table: pd.DataFrame) -> Path:
    table.loc[:, csv_columns(table)].to_csv(path, index=False)
    return path
