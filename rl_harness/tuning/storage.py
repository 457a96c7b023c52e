"""Where a study lives: an RDB URL (PostgreSQL, MySQL, SQLite) or a journal file, and the
storage-level calls the sweep needs (trial ids, heartbeats) through Optuna's public
`BaseStorage` methods on the storage object we opened ourselves.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import optuna

from rl_harness.common import liveness


def storage_url(url: str) -> str:
    """SQLAlchemy 2.1 reads `postgresql://` as psycopg 3; name psycopg2 when only it is there."""
    if url.startswith("postgresql://"):
        try:
            import psycopg  # noqa: F401
        except ImportError:
            return "postgresql+psycopg2://" + url.removeprefix("postgresql://")
    return url


@lru_cache(maxsize=4)
def open_storage(url: str) -> optuna.storages.BaseStorage:
    """An RDB URL (PostgreSQL, MySQL, SQLite) or a journal file path (the one-machine default).
    An RDB storage fails the trials of a lost machine by our heartbeat rule (common.liveness):
    no beat for STALE_AFTER intervals."""
    if "://" in url:
        interval = int(liveness.INTERVAL_S)
        kwargs = {"heartbeat_interval": interval, "grace_period": liveness.STALE_AFTER * interval}
        return _rdb_storage(storage_url(url), kwargs)
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    Path(url).parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.JournalStorage(
        JournalFileBackend(url, lock_obj=JournalFileOpenLock(url))
    )


def _rdb_storage(url: str, kwargs: dict, attempts: int = 5) -> optuna.storages.RDBStorage:
    """Optuna's RDBStorage, which creates its tables on first use. Workers that start together
    on an empty database (a SLURM job array) race to create them, and the loser's CREATE fails
    on what the winner just made: it tries again once the tables are there."""
    import sqlalchemy.exc

    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(url, **kwargs)
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def redact(url: str) -> str:
    """The storage URL without its password, for tags and messages."""
    if "://" in url and "@" in url:
        scheme, _, rest = url.partition("://")
        creds, _, host = rest.rpartition("@")
        return f"{scheme}://{creds.split(':')[0]}:***@{host}" if ":" in creds else url
    return url


def trial_id(storage: optuna.storages.BaseStorage, study_name: str, number: int) -> int:
    """The storage's key of a study's trial `number` (Optuna's public handles carry numbers)."""
    study_id = storage.get_study_id_from_name(study_name)
    return storage.get_trial_id_from_study_id_trial_number(study_id, number)


def heartbeat_actions(
    storage: optuna.storages.BaseStorage, trial: int | None
) -> list[liveness.Action]:
    """What beats for a running trial (storage id `trial`) in an RDB storage, so that other
    machines can tell a lost one: Optuna's `record_heartbeat`, as a common.liveness action.
    None for a job of no trial, or a storage without heartbeats (a journal file).

    `storage` must be the RDBStorage we opened: a study wraps it in a cache that is not one.
    """
    if (
        trial is None
        or not isinstance(storage, optuna.storages.RDBStorage)
        or not storage.get_heartbeat_interval()
    ):
        return []
    return [lambda: storage.record_heartbeat(trial)]


@contextlib.contextmanager
def study_lock(url: str, study: str) -> Iterator[None]:
    """Held by one worker of any machine at a time, where the study lives in PostgreSQL: an
    advisory lock in the database all workers share, released by PostgreSQL if its holder dies
    (its connection closes). Elsewhere nothing: a journal file or SQLite serves one machine,
    where the sweeper's file lock serves. MySQL workers on many machines are not serialised."""
    if not storage_url(url).startswith("postgresql"):
        yield
        return
    import sqlalchemy

    key = lock_key(study)
    with _engine(storage_url(url)).connect() as conn:
        conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": key})
        try:
            yield
        finally:
            conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": key})


def serialised(url: str) -> bool:
    """Whether the sweeper's lock covers every worker of the study: a journal or SQLite file
    (one machine, its file lock) or PostgreSQL (`study_lock`); MySQL across machines is not."""
    url = storage_url(url)
    return "://" not in url or url.startswith(("postgresql", "sqlite"))


def lock_key(study: str) -> int:
    """The study's advisory lock: a signed 64-bit key, the same on every machine."""
    digest = hashlib.sha256(f"rl_harness.study:{study}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@lru_cache(maxsize=4)
def _engine(url: str) -> Any:
    """One connection per hold (no pool): a lock never outlives its `with` in a pooled one."""
    import sqlalchemy
    from sqlalchemy.pool import NullPool

    return sqlalchemy.create_engine(url, poolclass=NullPool)
