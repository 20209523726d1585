"""Which store the settings name: PostgreSQL when ``DATABASE_URL`` is set, else the SQLite file at ``DATABASE_PATH``."""

import time
from collections.abc import Callable

from bot.config import Settings
from bot.store import Store


def open_store(settings: Settings, *, clock: Callable[[], float] = time.time) -> Store:
    if settings.database_url is not None:
        from bot.store_postgres import PostgresStore  # imports psycopg (~40 ms), which SQLite does without

        return PostgresStore(settings.database_url.get_secret_value(), clock=clock)
    return Store(settings.database_path, clock=clock)
