"""Regenerate the settings table in README.md from src/tipline/config.py.

Run: `uv run python scripts/readme_settings.py`.
"""

from __future__ import annotations

import re
from pathlib import Path

from tipline.cli import _config_markdown

README = Path(__file__).resolve().parents[1] / "README.md"
text = README.read_text()
table = _config_markdown()
text = re.sub(
    r"<!-- settings:start -->.*?<!-- settings:end -->",
    lambda _: f"<!-- settings:start -->\n{table}\n<!-- settings:end -->",
    text,
    flags=re.S,
)
README.write_text(text)
