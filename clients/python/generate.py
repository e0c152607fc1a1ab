"""Regenerate ``src/tipline_client/models.py`` from the OpenAPI document the Tipline app serves.

    uv run python clients/python/generate.py

Run it (``cd web && npm run gen:api`` runs it too) after changing an HTTP route or schema;
``tests/client/test_generated_models.py`` fails while the committed models differ from what
this script writes. The generator and its options are fixed here and its version in uv.lock,
so the same document always gives the same file.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODELS = HERE / "src" / "tipline_client" / "models.py"

OPTIONS = [
    "--input-file-type",
    "openapi",
    "--output-model-type",
    "pydantic_v2.BaseModel",
    "--target-python-version",
    "3.11",
    "--formatters",
    "builtin",
    "--disable-timestamp",
    "--use-standard-collections",
    "--use-union-operator",
    "--field-constraints",
    "--use-schema-description",
    "--use-double-quotes",
    "--set-default-enum-member",
]


def openapi_document() -> str:
    """The document `GET /openapi.json` serves, built from the app without starting it."""
    from tipline.cli import _openapi_json
    from tipline.config import Settings

    return _openapi_json(Settings(_env_file=None))  # type: ignore[call-arg]


def generate(out: Path, document: str | None = None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "openapi.json"
        source.write_text(document if document is not None else openapi_document())
        command = [sys.executable, "-m", "datamodel_code_generator", "--input", str(source), "--output", str(out)]
        subprocess.run([*command, *OPTIONS], check=True, cwd=tmp)  # noqa: S603


if __name__ == "__main__":
    generate(MODELS)
    print(f"wrote {MODELS.relative_to(Path.cwd()) if MODELS.is_relative_to(Path.cwd()) else MODELS}")
