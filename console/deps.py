"""The dependencies every console router shares: the settings and the loop's database engine."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from sqlalchemy.engine import Engine

from console.settings import ConsoleSettings, get_settings
from learning.db import get_engine

SettingsDep = Annotated[ConsoleSettings, Depends(get_settings)]


def get_db(settings: SettingsDep) -> Engine:
    """The engine of the settings' database (one per URL per process, tables created on first use)."""
    return get_engine(settings.database_url)


EngineDep = Annotated[Engine, Depends(get_db)]
