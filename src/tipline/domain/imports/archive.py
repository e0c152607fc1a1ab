"""Reading export files safely: ZIP archives checked before anything is extracted, JSON decoded
with the file and line in every error, and paths kept inside their directory."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from tipline.domain.imports.schemas import FileSkipped, ImportFormatError, Limits


def unsafe_path(name: str) -> bool:
    """A member or attachment path that could leave its folder (or is not a plain relative path)."""
    if not name or "\x00" in name or "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return True
    return any(part == ".." for part in PurePosixPath(name).parts)


class SafeZip:
    """A ZIP archive whose table of contents was checked against ``Limits`` when opened: every
    entry's path, size and compression ratio, and their total, before a single byte is inflated.
    Reads are capped at the declared size (zipfile stops there and checks the CRC)."""

    def __init__(self, path: Path, limits: Limits) -> None:
        self.path = path
        self.limits = limits
        try:
            self.zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise ImportFormatError(f"not a readable ZIP archive ({exc})", file=str(path)) from exc
        infos = self.zf.infolist()
        if len(infos) > limits.max_entries:
            raise ImportFormatError(f"the archive has {len(infos)} entries, more than {limits.max_entries}")
        total = 0
        self.entries: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            name = info.filename
            if unsafe_path(name):
                raise ImportFormatError(f"unsafe path in the archive: {name!r} (refused, nothing was imported)")
            if info.flag_bits & 0x1:
                raise ImportFormatError(f"encrypted entry in the archive: {name!r}")
            if info.file_size > limits.max_entry_bytes:
                raise ImportFormatError(
                    f"entry {name!r} inflates to {info.file_size} bytes, more than {limits.max_entry_bytes}"
                )
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > limits.ratio_floor_bytes and ratio > limits.max_ratio:
                raise ImportFormatError(
                    f"entry {name!r} inflates {ratio:.0f} times (limit {limits.max_ratio}): refused as a zip bomb"
                )
            total += info.file_size
            if total > limits.max_total_bytes:
                raise ImportFormatError(
                    f"the archive inflates to more than {limits.max_total_bytes} bytes: refused as a zip bomb"
                )
            if not info.is_dir():
                self.entries[name] = info

    def read(self, name: str, *, limit: int) -> bytes:
        info = self.entries[name]
        if info.file_size > limit:
            raise FileSkipped(f"{name} has {info.file_size} bytes, more than {limit}")
        with self.zf.open(info) as fh:
            data = fh.read(limit + 1)
        if len(data) > limit:
            raise FileSkipped(f"{name} is larger than {limit} bytes")
        return data

    def json(self, name: str) -> Any:
        try:
            data = self.read(name, limit=self.limits.max_json_bytes)
        except FileSkipped as exc:
            raise ImportFormatError(str(exc), file=name) from exc
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise ImportFormatError(f"damaged archive entry ({exc})", file=name) from exc
        return loads(data, file=name)

    def close(self) -> None:
        self.zf.close()


def loads(data: bytes, *, file: str, line: int | None = None) -> Any:
    """JSON from bytes. Invalid UTF-8 becomes U+FFFD rather than failing the import; lone
    surrogates are kept here and replaced where text is stored (actions.clean_text)."""
    text = data.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        at = exc.lineno if line is None else line
        raise ImportFormatError(f"malformed JSON: {exc.msg}, column {exc.colno}", file=file, line=at) from exc
    except RecursionError as exc:
        raise ImportFormatError("JSON nested too deeply", file=file, line=line) from exc


def inside(root: Path, relative: str) -> Path:
    """``root/relative`` if it stays inside ``root`` once links are resolved; FileSkipped otherwise."""
    if unsafe_path(relative):
        raise FileSkipped(f"path {relative!r} leaves the attachments directory")
    base = root.resolve()
    target = (base / relative).resolve()
    if not target.is_relative_to(base):
        raise FileSkipped(f"path {relative!r} leaves the attachments directory")
    return target
