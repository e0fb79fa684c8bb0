"""``mask_url``: every credential of every URL form masked, the rest of the URL kept readable."""

from __future__ import annotations

import pytest

from rapport.signals.database import StoreError, parse_url
from rapport.signals.urls import mask_url, port_problem


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        pytest.param("postgresql://app:s3cret@db:5432/x", "postgresql://app:***@db:5432/x",
                     id="the password of the user info is masked, the user name kept"),
        pytest.param("postgresql://db/x?password=s3cret", "postgresql://db/x?password=***",
                     id="a password in the query string is masked"),
        pytest.param("postgresql://app@db/x?sslmode=require&sslpassword=s3cret&application_name=r",
                     "postgresql://app@db/x?sslmode=require&sslpassword=***&application_name=r",
                     id="sslpassword is masked and the harmless parameters around it kept"),
        pytest.param("postgresql://db/x?token=t1&api_key=k1;secret=s1&PASSWORD=p1",
                     "postgresql://db/x?token=***&api_key=***;secret=***&PASSWORD=***",
                     id="token, key and secret parameters are masked, whatever their case"),
        pytest.param("postgresql+psycopg://u:pw@[::1]:5432/d?passfile=/p&connect_timeout=3",
                     "postgresql+psycopg://u:***@[::1]:5432/d?passfile=***&connect_timeout=3",
                     id="an IPv6 host keeps its brackets and port"),
        pytest.param("postgresql://u:p@ss@db/x", "postgresql://u:***@db/x",
                     id="an unencoded at sign in the password leaks no piece of it"),
        pytest.param("postgresql://u:p/ss@db/x", "postgresql://u:***@db/x",
                     id="an unencoded slash in the password leaks no piece of it"),
        pytest.param("postgresql://u:p%40ss@db/x", "postgresql://u:***@db/x",
                     id="a percent-encoded password is masked whole"),
        pytest.param("postgresql://u:@db/x", "postgresql://u:***@db/x",
                     id="an empty password still shows as masked"),
        pytest.param("sqlite:///data/rapport.db", "sqlite:///data/rapport.db",
                     id="a URL without credentials is unchanged"),
        pytest.param("postgresql://db:5432/x", "postgresql://db:5432/x",
                     id="a port is not mistaken for a password"),
    ],
)  # fmt: skip
def test_mask_url_hides_every_credential(url: str, shown: str) -> None:
    assert mask_url(url) == shown


def test_masking_twice_changes_nothing() -> None:
    once = mask_url("postgresql://u:pw@db/x?password=p")
    assert mask_url(once) == once


def test_a_store_error_masks_the_url_it_is_given() -> None:
    error = StoreError("postgresql://u:pw1@db/x?password=pw2", "connection refused")
    assert "pw1" not in str(error) and "pw2" not in str(error)
    assert error.url == "postgresql://u:***@db/x?password=***"


@pytest.mark.parametrize(
    "url",
    [
        pytest.param(
            "postgresql://u:hunter2@db:port/x?password=hunter3", id="a port that is a word"
        ),
        pytest.param(
            "postgresql://u:hunter2@[::1/x?password=hunter3", id="an unclosed IPv6 bracket"
        ),
    ],
)
def test_an_unparseable_url_is_a_store_error_with_the_url_masked(url: str) -> None:
    assert port_problem(url) is not None
    with pytest.raises(StoreError, match="not a database URL") as raised:
        parse_url(url)
    assert "hunter" not in str(raised.value)


def test_a_numeric_port_is_no_problem() -> None:
    assert port_problem("postgresql://u:pw@db:5432/x") is None
    assert port_problem("sqlite:///data/rapport.db") is None
