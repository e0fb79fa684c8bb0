"""``survey_csv``: survey exports (Typeform, SurveyMonkey, Google Forms style CSV) → ``survey``.

Each row is one response: a timestamp, a score and who answered (a company column, or an email
column whose domain maps to a client through the registry's ``email_domain`` attribute)::

    nps:
      type: survey_csv
      path: ../examples/exports
      glob: "nps-*.csv"
      score: "How likely are you to recommend us to a colleague?"
      email: "Email"                 # or company: "Company" (mapped by attribute survey_company)
      scale: auto                    # nps (0..10), csat (1..5), "1..7", or auto

Columns left out are found by the names the big tools export: the timestamp is the first of
``Submit Date (UTC)`` (Typeform), ``Submitted At``, ``Timestamp`` (Google Forms), ``End Date``
(SurveyMonkey), ``Start Date (UTC)``, ``Start Date``; the response id the first of ``#``
(Typeform), ``Response ID``, ``Respondent ID`` (SurveyMonkey). Without an id column a response is
identified by a digest of its timestamp, respondent and score. SurveyMonkey's second header row is
dropped with ``skip_rows: 1``.

``scale: auto`` looks at every score of a file: any 0 or any score above 5 means NPS (0..10); all
scores within 1..5 mean CSAT. A 0..10 survey whose answers all happen to be 1..5 would be read as
CSAT, so declare the scale whenever it is known.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from rapport.engine.model import scale_bounds
from rapport.signals.collectors.base import BaseCollector, FetchContext, FetchResult, JsonValue
from rapport.signals.collectors.file import (
    Row,
    TableSource,
    convert_rows,
    fetch_drop_folder,
    read_rows,
    stable_id,
    to_time,
)
from rapport.signals.model import StoredSignal, parse_signal

TIMESTAMP_COLUMNS = (
    "Submit Date (UTC)",
    "Submitted At",
    "Timestamp",
    "End Date",
    "Date Submitted",
    "Start Date (UTC)",
    "Start Date",
)
ID_COLUMNS = ("#", "Response ID", "Respondent ID", "Response Id")


class SurveyCsvConfig(TableSource):
    """A ``survey_csv`` source. Exactly one of ``company`` / ``email`` names the respondent."""

    score: str = Field(min_length=1, description="the column holding the score")
    timestamp: str | None = None
    company: str | None = None
    email: str | None = None
    response_id: str | None = None
    scale: str = "auto"
    survey: str | None = Field(default=None, max_length=200, description="default: the file name")
    skip_rows: int = Field(default=0, ge=0)

    @field_validator("scale")
    @classmethod
    def _known_scale(cls, value: str) -> str:
        if value != "auto":
            scale_bounds(value)  # raises ValueError with the accepted spellings
        return value

    @model_validator(mode="after")
    def _one_respondent_column(self) -> SurveyCsvConfig:
        if (self.company is None) == (self.email is None):
            raise ValueError("name exactly one of company or email (the respondent column)")
        return self

    @property
    def client_attribute_default(self) -> str:
        """Email domains map through ``email_domain``; company names through ``survey_company``."""
        return "email_domain" if self.email is not None else "survey_company"


def detect_scale(scores: list[float]) -> str | None:
    """``nps`` when any score is 0 or above 5, ``csat`` when all are within 1..5, else None."""
    if not scores or min(scores) < 0 or max(scores) > 10:
        return None
    if min(scores) == 0 or max(scores) > 5:
        return "nps"
    return "csat" if min(scores) >= 1 else None


def first_present(header: list[str], wanted: str | None, candidates: tuple[str, ...]) -> str | None:
    if wanted is not None:
        return wanted
    return next((c for c in candidates if c in header), None)


def number(cell: Any) -> float | None:
    try:
        value = float(cell)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


class SurveyCsvCollector(
    BaseCollector[SurveyCsvConfig],
    name="survey_csv",
    kinds=("survey",),
    client_attribute="email_domain",
):
    """Survey export rows → ``survey`` signals with the scale declared or detected per file."""

    def fetch(self, cursor: JsonValue, context: FetchContext) -> FetchResult:
        """Read the next new or changed export; ``more`` while others are waiting."""
        return fetch_drop_folder(self.config, self.name, cursor, context, self._read)

    def _read(self, path: Path, name: str, context: FetchContext) -> list[StoredSignal]:
        config = self.config
        header, records = read_rows(
            path,
            "csv",
            delimiter=config.delimiter,
            encoding=config.encoding,
            skip_rows=config.skip_rows,
        )
        missing = [c for c in (config.score, config.company or config.email) if c not in header]
        timestamp = first_present(header, config.timestamp, TIMESTAMP_COLUMNS)
        if timestamp is None or timestamp not in header:
            missing.append(config.timestamp or "a timestamp column")
        if missing or timestamp is None:
            context.log_skip(name, f"no column {', '.join(repr(m) for m in missing)} in the header")
            return []
        rows = [r for r in records if isinstance(r, Row)]
        scale = config.scale
        if scale == "auto":
            detected = detect_scale(
                [v for r in rows if (v := number(r.cells.get(config.score))) is not None]
            )
            if detected is None:
                context.log_skip(name, "cannot tell the scale from the scores (declare scale:)")
                return []
            scale = detected
        id_column = first_present(header, config.response_id, ID_COLUMNS)
        survey = config.survey or path.stem
        return convert_rows(
            ((f"{name}:{row.line}", row) for row in rows),
            lambda row: self._signal(
                row,
                timestamp=timestamp,
                id_column=id_column,
                scale=scale,
                survey=survey,
                context=context,
            ),
            context,
        )

    def _signal(
        self,
        row: Row,
        *,
        timestamp: str,
        id_column: str | None,
        scale: str,
        survey: str,
        context: FetchContext,
    ) -> StoredSignal | None:
        config = self.config
        cells = row.cells
        raw_score = cells.get(config.score)
        if raw_score is None:
            raise ValueError(f"{config.score}: no score (an unanswered question)")
        score = number(raw_score)
        if score is None:
            raise ValueError(f"{config.score}: {raw_score!r} is not a number")
        respondent = cells.get(config.company or config.email or "")
        if respondent is None:
            raise ValueError(f"{config.company or config.email}: no respondent")
        source_id = str(respondent)
        if config.email is not None:
            if "@" not in source_id:
                raise ValueError(f"{config.email}: {source_id!r} is not an email address")
            source_id = source_id.rsplit("@", 1)[1]
        client = context.clients.resolve(source_id)
        if client is None:
            return None
        raw_id = cells.get(id_column) if id_column is not None else None
        identity = (
            raw_id if raw_id is not None else stable_id(cells.get(timestamp), respondent, raw_score)
        )
        return parse_signal(
            {
                "event_id": f"survey_csv:{survey}:{identity}",
                "client": client,
                "kind": "survey",
                "ts": to_time(cells.get(timestamp), config.time_format, config.timezone),
                "value": score,
                "scale": scale,
                "survey": survey,
            }
        ).to_stored(context.clients.zones)
