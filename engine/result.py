"""What the scorer returns: arrays over all clients, and per-client records built from them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

from rapport.engine.errors import UnknownClientError
from rapport.engine.frame import BoolArray, ClientSet, FloatArray


class Status(IntEnum):
    """Why a component has (or lacks) points."""

    OK = 0  # measured from signals in its window
    MISSING = 1  # no usable signals; the component's missing-data policy applied
    STALE = 2  # its source is stale, or its value was carried from older signals


StatusName = Literal["ok", "missing", "stale"]

#: The grade of a client whose coverage is below the scorecard's ``min_coverage``: too little of
#: the score rests on measured data to grade it. No scorecard grade may take this name.
INSUFFICIENT_DATA = "insufficient_data"


class ComponentScore(BaseModel):
    """One component of one client's score.

    ``value`` is the raw measurement (None when missing); ``points`` what the curve gave it (None
    when skipped); ``weight`` the share of the score after renormalisation (0 when skipped), so the
    contributions add up to the score before caps and floors.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    value: float | None
    points: float | None
    weight: float
    contribution: float
    status: StatusName
    note: str | None = None


class AppliedLimit(BaseModel):
    """A cap or floor that changed (or bounded) a client's score."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    kind: Literal["cap", "floor"]
    limit: float
    reason: str


class ClientScore(BaseModel):
    """One client's evaluated health (``score`` and ``grade`` None when no component had data).

    ``coverage`` (0-1) is the share of the scorecard's weight for the client's segment that rests
    on components measured from signals (status ok), and ``covered`` names those components; None
    and empty for history saved before coverage existed. Below the scorecard's ``min_coverage``
    the grade is ``INSUFFICIENT_DATA`` and ``score`` is None — never a number a dashboard would
    average in — while ``provisional_score`` keeps what the score would have been (None for any
    other grade).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    client: str
    as_of: datetime
    score: float | None
    grade: str | None
    rules_version: str
    components: dict[str, ComponentScore]
    limits: list[AppliedLimit]
    coverage: float | None = None
    covered: list[str] = []
    provisional_score: float | None = None

    @property
    def insufficient(self) -> bool:
        """Whether too little of the score rests on measured data to grade it."""
        return self.grade == INSUFFICIENT_DATA


@dataclass(frozen=True)
class Evaluation:
    """The scorer's output over all clients: row ``i`` is ``clients.ids[i]``, column ``j`` is
    ``component_ids[j]``. NaN marks an absent value, points or score; never 0."""

    as_of: datetime
    rules_version: str
    clients: ClientSet
    component_ids: tuple[str, ...]
    grade_names: tuple[str, ...]
    score: FloatArray  # [clients]; NaN when no component had data, or coverage is insufficient
    grade: npt.NDArray[np.int16]  # [clients]; index into grade_names, -1 when ungraded
    provisional: FloatArray  # [clients]; the score before the coverage check (NaN: no data)
    coverage: FloatArray  # [clients]; share of the weight on components with status ok
    insufficient: BoolArray  # [clients]; coverage below min_coverage: graded INSUFFICIENT_DATA
    raw: FloatArray  # [clients, components]
    points: FloatArray  # [clients, components]
    weight: FloatArray  # [clients, components]; normalised effective weights
    status: npt.NDArray[np.int8]  # [clients, components]; Status codes
    notes: dict[tuple[int, int], str]  # sparse (client row, component column) → why
    limit_ids: tuple[str, ...]
    limit_kinds: tuple[Literal["cap", "floor"], ...]
    limit_values: FloatArray  # [limits]
    limit_reasons: tuple[str, ...]
    limit_applied: BoolArray  # [clients, limits]; True where the condition held

    def row(self, client: str) -> int:
        try:
            return self.clients.ids.index(client)
        except ValueError:
            raise UnknownClientError(client) from None

    def record(self, row: int) -> ClientScore:
        """The per-client record of row ``row``, as stored in history and served by the API."""
        return self._records(np.array([row]))[0]

    def records(self) -> list[ClientScore]:
        """Every client's record, in row order."""
        return self._records(np.arange(len(self.clients)))

    def records_of(self, rows: npt.NDArray[np.intp]) -> list[ClientScore]:
        """The records of ``rows`` (row indexes), in that order."""
        return self._records(np.asarray(rows, dtype=np.intp))

    def _records(self, rows: npt.NDArray[np.intp]) -> list[ClientScore]:
        # Unvalidated construction: the data comes from the scorer, not a user.
        out = []
        for data in self.record_data(rows):
            components = {
                cid: ComponentScore.model_construct(**fields)
                for cid, fields in data["components"].items()
            }
            limits = [AppliedLimit.model_construct(**fields) for fields in data["limits"]]
            out.append(
                ClientScore.model_construct(**{**data, "components": components, "limits": limits})
            )
        return out

    def record_data(self, rows: npt.NDArray[np.intp]) -> list[dict[str, Any]]:
        """The records of ``rows`` as plain data: each a dict of ``ClientScore``'s fields, its
        components and limits as dicts of their fields — what a record dumps to, without the
        models (the history writer stores 100k of them at a start)."""
        rows = np.asarray(rows, dtype=np.intp)
        # Whole-array conversions (tolist): per-element numpy calls made 10k records take seconds.
        raw, points, weight = self.raw[rows], self.points[rows], self.weight[rows]
        contribution = (np.nan_to_num(points) * weight).tolist()
        raw_l, points_l, weight_l = _optional(raw), _optional(points), weight.tolist()
        status = self.status[rows].tolist()
        score = _optional(self.score[rows])
        provisional = _optional(self.provisional[rows])
        coverage = self.coverage[rows].tolist()
        insufficient = self.insufficient[rows].tolist()
        grade = self.grade[rows].tolist()
        applied = self.limit_applied[rows]
        limits = [
            {
                "id": self.limit_ids[k],
                "kind": self.limit_kinds[k],
                "limit": float(self.limit_values[k]),
                "reason": self.limit_reasons[k],
            }
            for k in range(len(self.limit_ids))
        ]
        applied_at: list[list[int]] = [[] for _ in range(len(rows))]
        for i, k in zip(*np.nonzero(applied), strict=True):
            applied_at[i].append(int(k))
        ok = int(Status.OK)
        covered_by_codes: dict[tuple[int, ...], list[str]] = {}  # few distinct status rows
        out = []
        for i, row in enumerate(rows.tolist()):
            codes = status[i]
            covered = covered_by_codes.get(key := tuple(codes))
            if covered is None:
                pairs = zip(self.component_ids, codes, strict=True)
                covered = [cid for cid, code in pairs if code == ok]
                covered_by_codes[key] = covered
            components = {
                cid: {
                    "value": raw_l[i][j],
                    "points": points_l[i][j],
                    "weight": weight_l[i][j],
                    "contribution": contribution[i][j],
                    "status": _STATUS_NAMES[codes[j]],
                    "note": self.notes.get((row, j)),
                }
                for j, cid in enumerate(self.component_ids)
            }
            if insufficient[i]:
                grade_name: str | None = INSUFFICIENT_DATA
            else:
                grade_name = self.grade_names[grade[i]] if grade[i] >= 0 else None
            out.append(
                {
                    "client": self.clients.ids[row],
                    "as_of": self.as_of,
                    "score": score[i],
                    "grade": grade_name,
                    "rules_version": self.rules_version,
                    "components": components,
                    "limits": [limits[k] for k in applied_at[i]],
                    "coverage": coverage[i],
                    "covered": list(covered),
                    "provisional_score": provisional[i] if insufficient[i] else None,
                }
            )
        return out


def _optional(values: FloatArray) -> Any:
    """Floats as Python floats, NaN as None, in the array's nesting."""
    boxed = values.astype(object)
    boxed[np.isnan(values)] = None
    return boxed.tolist()


_STATUS_NAMES: dict[int, StatusName] = {
    Status.OK: "ok",
    Status.MISSING: "missing",
    Status.STALE: "stale",
}
