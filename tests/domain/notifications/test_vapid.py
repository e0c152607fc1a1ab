"""`tipline dev` keeps generated VAPID keys in DATA_DIR; production reads them from settings."""

from __future__ import annotations

import stat
from pathlib import Path

from py_vapid import Vapid02

from tests.conftest import make_settings
from tipline.domain.notifications.push import dev_vapid_settings, generate_vapid_keys, push_enabled


def test_dev_generates_keys_once_and_keeps_them(tmp_path: Path) -> None:
    settings = make_settings(data_dir=tmp_path)
    assert not push_enabled(settings)
    first = dev_vapid_settings(settings)
    assert push_enabled(first)
    path = tmp_path / "vapid.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = dev_vapid_settings(make_settings(data_dir=tmp_path))
    assert again.vapid_public_key == first.vapid_public_key
    assert first.vapid_private_key is not None
    key = Vapid02.from_raw(first.vapid_private_key.get_secret_value().encode())
    assert key.public_key is not None


def test_configured_keys_win(tmp_path: Path) -> None:
    private, public = generate_vapid_keys()
    settings = make_settings(data_dir=tmp_path, vapid_private_key=private, vapid_public_key=public)
    assert dev_vapid_settings(settings).vapid_public_key == public
    assert not (tmp_path / "vapid.json").exists()
