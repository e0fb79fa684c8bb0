"""Rapport's effective configuration: defaults < config file < ``RAPPORT_*`` environment < secrets.

One ``Settings`` object is built at the edge (CLI or service start) and handed to what needs it;
nothing else reads the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from engine.errors import RapportError

DEFAULT_DATABASE_URL = "sqlite:///data/rapport.db"


class SettingsError(RapportError):
    """A configuration value is invalid; the message names the variable and what is wrong."""

    def __init__(self, error: ValidationError) -> None:
        problems = "; ".join(
            f"RAPPORT_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in error.errors()
        )
        super().__init__(f"Invalid configuration: {problems}")


class Settings(BaseSettings):
    """Where Rapport keeps its data and reads its rules, and how it serves them."""

    model_config = SettingsConfigDict(
        env_prefix="RAPPORT_", extra="forbid", frozen=True, validate_default=True
    )

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        description="SQLAlchemy URL of the store (SQLite file by default, or postgresql://…)",
    )
    rules_dir: Path = Field(default=Path("rules"), description="directory holding scorecard.yaml")

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, url: str) -> str:
        if not url.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
            raise ValueError("must start with sqlite://, postgresql:// or postgresql+psycopg://")
        return url


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with explicit (e.g. CLI flag) ``overrides`` on top."""
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)
    except ValidationError as error:
        raise SettingsError(error) from None
