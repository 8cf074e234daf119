"""What the local stack needs to know about each service it can start."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

from insitu.config import Settings


class LocalService(ABC):
    """A service the local stack starts when no URL is configured for it."""

    #: Name of the pid file, the log and the service in ``insitu stack status``.
    name: str
    #: The key under ``[local]`` in config.toml that sets the port.
    port_setting: str
    #: The ``Settings`` attribute whose URL, when set, replaces this service.
    url_setting: str

    def __init__(self, settings: Settings, *, persist_state: bool = False) -> None:
        self.settings = settings
        self.persist_state = persist_state

    @property
    def host(self) -> str:
        return self.settings.local.host

    @property
    @abstractmethod
    def port(self) -> int:
        """The port this service listens on."""

    @property
    @abstractmethod
    def url(self) -> str:
        """The URL clients use to reach the local service."""

    @property
    def external_url(self) -> str | None:
        """The configured URL that replaces the local service, if any."""
        value = getattr(self.settings, self.url_setting)
        return value if isinstance(value, str) else None

    @property
    def data_dir(self) -> Path:
        return self.settings.state_dir / self.name

    @abstractmethod
    def command(self) -> list[str]:
        """The command line that starts the service in the foreground."""

    @abstractmethod
    def answers(self, url: str, timeout: float = 0.5) -> bool:
        """Whether a server of this kind answers at ``url``."""

    @abstractmethod
    def check_external(self, url: str) -> None:
        """Raise ``StackError`` with advice if the configured service at ``url`` is unreachable."""
