"""The ``survey_csv`` collector against export files shaped like the big survey tools'."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from rapport.signals.collectors.base import ClientMap, FetchContext
from rapport.signals.collectors.survey_csv import SurveyCsvCollector, SurveyCsvConfig, detect_scale
from rapport.signals.model import Client, StoredSignal

NOW = datetime(2026, 11, 1, tzinfo=UTC)
REGISTRY = [
    Client(
        id="acme",
        name="Acme",
        attrs={"email_domain": "acme.example", "survey_company": "Acme Corp"},
    ),
    Client(id="globex", name="Globex", attrs={"email_domain": "globex.example,globex.co.example"}),
]
Q = "How likely are you to recommend us to a colleague?"


def context(attribute: str = "email_domain") -> FetchContext:
    return FetchContext(
        now=NOW, clients=ClientMap(REGISTRY, attribute), secret=os.environ.__getitem__
    )


def survey(folder: Path, **settings: Any) -> SurveyCsvCollector:
    return SurveyCsvCollector(SurveyCsvConfig.model_validate({"path": str(folder), **settings}))


def nps(
    event_id: str, client: str, ts: datetime, value: float, name: str, scale: str = "nps"
) -> StoredSignal:
    return StoredSignal(
        event_id=event_id,
        client=client,
        kind="survey",
        ts=ts,
        value=value,
        attrs={"scale": scale, "survey": name},
    )


def test_a_typeform_export_maps_respondents_by_email_domain(tmp_path: Path) -> None:
    (tmp_path / "nps-q4.csv").write_text(
        f"#,{Q},Why?,Email,Start Date (UTC),Submit Date (UTC),Network ID\n"
        f'a1b2,9,"Fast, friendly",it@acme.example,2026-10-04 16:22:01,2026-10-04 16:27:53,x1\n'
        f"c3d4,3,Slow,pm@GLOBEX.co.example,2026-10-05 08:36:07,2026-10-05 08:40:52,x2\n"
        f"e5f6,10,,someone@gmail.example,2026-10-05 09:00:00,2026-10-05 09:01:00,x3\n"
    )
    ctx = context()
    result = survey(tmp_path, score=Q, email="Email").fetch(None, ctx)
    assert result.signals == [
        nps(
            "survey_csv:nps-q4:a1b2",
            "acme",
            datetime(2026, 10, 4, 16, 27, 53, tzinfo=UTC),
            9,
            "nps-q4",
        ),
        nps(
            "survey_csv:nps-q4:c3d4",
            "globex",
            datetime(2026, 10, 5, 8, 40, 52, tzinfo=UTC),
            3,
            "nps-q4",
        ),
    ]
    assert dict(ctx.clients.unmapped) == {"gmail.example": 1}


def test_a_surveymonkey_export_skips_its_second_header_row(tmp_path: Path) -> None:
    (tmp_path / "csat.csv").write_text(
        "Respondent ID,Collector ID,Start Date,End Date,Email Address,How satisfied are you?\n"
        ",,,,,Response\n"
        "114,55,10/01/2026 09:00:00 AM,10/01/2026 09:05:10 AM,a@acme.example,4\n"
        "115,55,10/02/2026 01:00:00 PM,10/02/2026 01:02:00 PM,b@globex.example,2\n"
    )
    collector = survey(
        tmp_path,
        score="How satisfied are you?",
        email="Email Address",
        skip_rows=1,
        survey="Support CSAT",
    )
    assert collector.fetch(None, context()).signals == [
        nps(
            "survey_csv:Support CSAT:114",
            "acme",
            datetime(2026, 10, 1, 9, 5, 10, tzinfo=UTC),
            4,
            "Support CSAT",
            "csat",
        ),
        nps(
            "survey_csv:Support CSAT:115",
            "globex",
            datetime(2026, 10, 2, 13, 2, tzinfo=UTC),
            2,
            "Support CSAT",
            "csat",
        ),
    ]


def test_a_google_forms_export_maps_companies_and_local_times(tmp_path: Path) -> None:
    (tmp_path / "form.csv").write_text(
        "Timestamp,Company,Score\n"
        "10/14/2026 9:30:00,Acme Corp,7\n"
        "10/15/2026 17:45:00,Unknown Ltd,9\n"
    )
    config = SurveyCsvConfig.model_validate(
        {
            "path": str(tmp_path),
            "score": "Score",
            "company": "Company",
            "scale": "0..10",
            "timezone": "America/New_York",
        }
    )
    assert config.client_attribute_default == "survey_company"
    ctx = context("survey_company")
    [signal] = SurveyCsvCollector(config).fetch(None, ctx).signals
    assert signal.client == "acme"
    assert signal.ts == datetime(2026, 10, 14, 13, 30, tzinfo=UTC)  # EDT is UTC-4
    assert signal.attrs == {"scale": "0..10", "survey": "form"}
    assert signal.event_id.startswith("survey_csv:form:")  # no id column: a content digest
    assert dict(ctx.clients.unmapped) == {"unknown ltd": 1}


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        pytest.param([9, 10, 7], "nps", id="scores above five mean nps"),
        pytest.param([0, 3, 4], "nps", id="a zero means nps"),
        pytest.param([1, 4, 5, 5], "csat", id="scores within one to five mean csat"),
        pytest.param([3, 12], None, id="a score above ten fits no scale"),
        pytest.param([-1, 3], None, id="a negative score fits no scale"),
        pytest.param([], None, id="no scores tell nothing"),
    ],
)
def test_scale_detection(scores: list[float], expected: str | None) -> None:
    assert detect_scale(scores) == expected


def test_an_undetectable_scale_skips_the_file_with_a_reason(tmp_path: Path) -> None:
    (tmp_path / "odd.csv").write_text("Timestamp,Email,Score\n2026-10-01 10:00,a@acme.example,70\n")
    ctx = context()
    assert survey(tmp_path, score="Score", email="Email").fetch(None, ctx).signals == []
    assert ctx.skipped == ["odd.csv: cannot tell the scale from the scores (declare scale:)"]


def test_bad_rows_are_skipped_and_a_score_off_the_declared_scale_too(tmp_path: Path) -> None:
    (tmp_path / "s.csv").write_text(
        "Timestamp,Email,Score\n"
        "2026-10-01 10:00,a@acme.example,4\n"
        "2026-10-01 11:00,a@acme.example,\n"
        "2026-10-01 12:00,not-an-address,3\n"
        "2026-10-01 13:00,a@acme.example,six\n"
        "2026-10-01 14:00,a@acme.example,7\n"
    )
    ctx = context()
    signals = survey(tmp_path, score="Score", email="Email", scale="csat").fetch(None, ctx).signals
    assert [s.value for s in signals] == [4.0]
    assert ctx.skipped == [
        "s.csv:3: Score: no score (an unanswered question)",
        "s.csv:4: Email: 'not-an-address' is not an email address",
        "s.csv:5: Score: 'six' is not a number",
        "s.csv:6: value 7 is outside the csat scale 1..5",
    ]


def test_a_file_without_the_configured_columns_is_skipped_whole(tmp_path: Path) -> None:
    (tmp_path / "s.csv").write_text("When,Mail,Rating\n2026-10-01 10:00,a@acme.example,4\n")
    ctx = context()
    assert survey(tmp_path, score="Score", email="Email").fetch(None, ctx).signals == []
    assert ctx.skipped == ["s.csv: no column 'Score', 'Email', 'a timestamp column' in the header"]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        pytest.param(
            {"score": "S"}, "name exactly one of company or email", id="no respondent column"
        ),
        pytest.param(
            {"score": "S", "email": "E", "company": "C"},
            "name exactly one of company or email",
            id="two respondent columns",
        ),
        pytest.param(
            {"score": "S", "email": "E", "scale": "stars"},
            "unknown survey scale 'stars'",
            id="an unknown scale name",
        ),
    ],
)
def test_config_errors(tmp_path: Path, settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SurveyCsvConfig.model_validate({"path": str(tmp_path), **settings})
