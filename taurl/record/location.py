"""Where a recording lives: a local directory or an object-store URI pyarrow's filesystem layer accepts.

Object-store URIs may carry non-secret options in their query (``?endpoint_override=127.0.0.1:9000&scheme=http``);
credentials come from the environment (``AWS_ACCESS_KEY_ID`` ...), never from the URI, so that no
secret is ever written into a recording's run config.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pyarrow.fs as pafs

SECRET_QUERY_KEYS = ("access_key", "secret_key", "session_token")


class RecordingLocationError(ValueError):
    pass


@dataclass(frozen=True)
class Location:
    fs: pafs.FileSystem
    root: str  # path inside fs, no trailing slash
    display: str  # safe to print and record

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    def path(self, name: str) -> str:
        return f"{self.root}/{name}"

    def list_files(self) -> list[str]:
        """File names directly under the root (missing root: none)."""
        info = self.fs.get_file_info(pafs.FileSelector(self.root, allow_not_found=True, recursive=False))
        return sorted(i.base_name for i in info if i.type == pafs.FileType.File)


def resolve(location: str | Path) -> Location:
    text = str(location)
    if "://" not in text:
        try:
            path = Path(text).expanduser().resolve()
        except (RuntimeError, OSError) as exc:  # Python < 3.13 raises RuntimeError for a symbolic link loop
            raise RecordingLocationError(f"cannot use the recording {text}: its path is a symbolic link loop") from exc
        return Location(pafs.LocalFileSystem(), path.as_posix(), str(path))
    parts = urlsplit(text)
    if any(key in parts.query for key in SECRET_QUERY_KEYS):
        raise RecordingLocationError(
            f"put object-store credentials in the environment (AWS_ACCESS_KEY_ID, ...), not in the URI {parts.scheme}://{parts.netloc}{parts.path}"
        )
    try:
        fs, root = pafs.FileSystem.from_uri(text)
    except Exception as exc:  # pyarrow raises ArrowInvalid / OSError with its own message
        raise RecordingLocationError(f"cannot open recording location {text}: {exc}") from exc
    return Location(fs, root.rstrip("/"), urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")))
