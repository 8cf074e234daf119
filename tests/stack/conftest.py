"""Fixtures for the local-stack tests: each test gets its own home and free ports."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from insitu.config import LocalStackSettings, Settings
from insitu.stack import LocalStack
from insitu.stack.ports import free_port


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings in a fresh home under ``tmp_path`` with free ports; keywords override fields."""
    counter = iter(range(1000))

    def make(**overrides: object) -> Settings:
        local = LocalStackSettings(anvil_port=free_port(), redis_port=free_port())
        home = tmp_path / f"home{next(counter)}"
        return Settings(home=home, local=local).with_overrides(**overrides)

    return make


@pytest.fixture
def stacks() -> Iterator[Callable[..., LocalStack]]:
    """Builds LocalStacks and stops, at teardown, every daemon their pid files still record."""
    made: list[LocalStack] = []

    def make(settings: Settings, **kwargs: object) -> LocalStack:
        stack = LocalStack(settings, **kwargs)  # type: ignore[arg-type]
        made.append(stack)
        return stack

    yield make
    for stack in made:
        stack.down()


@pytest.fixture
def stack(make_settings: Callable[..., Settings], stacks: Callable[..., LocalStack]) -> LocalStack:
    return stacks(make_settings())
