"""The worker config loader: defaults, path resolution, and errors that say what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from insitu.config import LocalStackSettings, Settings
from insitu.worker import WorkerConfigError, load_worker_config

EXAMPLE = Path(__file__).resolve().parents[2] / "workers" / "provider.example.toml"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    local = LocalStackSettings(anvil_port=1111, redis_port=2222)
    return Settings(home=tmp_path / "home", local=local)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "provider.toml"
    path.write_text(text)
    return path


def test_minimal_config_defaults_to_the_local_stack(tmp_path: Path, settings: Settings) -> None:
    config = load_worker_config(_write(tmp_path, 'organisation = "acme"\napp = "m"\n'), settings)
    assert config.rpc_url == "http://127.0.0.1:1111"
    assert config.redis_url == "redis://127.0.0.1:2222/0"
    assert config.queue == "insitu.acme"
    assert config.confirmations == 0 and config.concurrency == 2 and config.pool == "prefork"
    assert config.state_dir == settings.home / "workers" / "acme"


def test_a_task_only_worker_runs_no_listener(tmp_path: Path, settings: Settings) -> None:
    from insitu.worker import WorkerUnit

    listening = load_worker_config(_write(tmp_path, 'organisation = "a"\napp = "m"\n'), settings)
    assert listening.listen and WorkerUnit(listening).pieces == ("celery", "listener")
    text = 'organisation = "a"\napp = "m"\nlisten = false\n'
    tasks_only = load_worker_config(_write(tmp_path, text), settings)
    assert not tasks_only.listen and WorkerUnit(tasks_only).pieces == ("celery",)


def test_assets_and_keystore_resolve_relative_to_the_file(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "rows.csv").write_text("a,b\n1,2\n")
    (tmp_path / "key.json").write_text("{}")
    text = (
        'organisation = "acme"\napp = "m"\nconfirmations = 3\n'
        '[keystore]\npath = "key.json"\npassword_env = "ACME_PW"\n'
        '[assets."0xabc"]\ndata = "data/rows.csv"\nalgorithms = ["0x01"]\n'
    )
    config = load_worker_config(_write(tmp_path, text), settings)
    asset = config.asset("0xabc")
    assert asset.data == tmp_path / "data" / "rows.csv"
    assert asset.options == {"algorithms": ["0x01"]}
    assert config.keystore is not None and config.keystore.path == tmp_path / "key.json"
    monkeypatch.delenv("ACME_PW", raising=False)
    with pytest.raises(WorkerConfigError, match="ACME_PW"):
        config.keystore.password()
    monkeypatch.setenv("ACME_PW", "s3cret")
    assert config.keystore.password() == "s3cret"
    with pytest.raises(WorkerConfigError, match=r"0xdef is not served by acme"):
        config.asset("0xdef")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('app = "m"\n', "missing required key 'organisation'"),
        ('organisation = "acme"\napp = "m"\nconfirmatio = 1\n', r"unknown keys \['confirmatio'\]"),
        ('organisation = "a b"\napp = "m"\n', "organisation 'a b'"),
        ('organisation = "acme"\napp = "m"\nconcurrency = 0\n', "concurrency = 0 is out of range"),
        ('organisation = "acme"\napp = "m"\npool = "gevent"\n', "pool must be one of"),
        ('organisation = "acme"\napp = "m"\npoll_interval = true\n', "must be a number"),
        ('organisation = "acme"\napp = "m"\nlisten = "no"\n', "listen must be a bool"),
        ('organisation = "acme"\napp = "m"\n[contracts]\nX = "0x12"\n', "not a 0x-prefixed"),
        ('organisation = "acme"\napp = "m"\n[assets."0xabc"]\ndata = "gone.csv"\n',
         r"private data of asset 0xabc is missing: .*gone.csv does not exist"),
        ('organisation = "acme"\napp = "m"\n[keystore]\npath = "k.json"\npassword_env = "P"\n',
         r"keystore file .*k.json does not exist"),
        ('organisation = "acme"\napp = \n', "not valid TOML"),
    ],
)  # fmt: skip
def test_bad_configs_say_what_to_fix(
    tmp_path: Path, settings: Settings, text: str, message: str
) -> None:
    with pytest.raises(WorkerConfigError, match=message):
        load_worker_config(_write(tmp_path, text), settings)


def test_missing_file_points_at_the_example(tmp_path: Path, settings: Settings) -> None:
    with pytest.raises(WorkerConfigError, match=r"provider.example.toml"):
        load_worker_config(tmp_path / "nope.toml", settings)


def test_example_config_is_valid(settings: Settings, tmp_path: Path) -> None:
    # The example's asset and keystore paths are placeholders; check everything else parses.
    text = EXAMPLE.read_text()
    body = text.split("[keystore]")[0]
    config = load_worker_config(_write(tmp_path, body), settings)
    assert config.organisation == "acme-labs"


def test_dealer_example_config_is_valid(settings: Settings, tmp_path: Path) -> None:
    text = (EXAMPLE.parent / "dealer.example.toml").read_text()
    config = load_worker_config(_write(tmp_path, text.split("[keystore]")[0]), settings)
    assert config.app == "insitu.inference.dealer_app" and not config.listen
    assert config.queue == "insitu.fair-dealer"
