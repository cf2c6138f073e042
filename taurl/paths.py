"""Paths a user names for taurl to write: checked before the work that fills them, written whole or not at
all, and any failure one line naming the path and its cause (a part of it is a file, read-only, full, a
symbolic link loop). Nothing partial stays behind: files are written under a temporary name and renamed
into place, a command's several files are written into a staging directory and moved in together."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

TEMP_MARK = ".taurl-"  # in the names of temporary files and directories taurl removes when it is done


class OutputPathError(ValueError):
    """A path taurl cannot write: names it and the cause."""


def describe_os_error(exc: OSError) -> str:
    """An OSError's cause in words, with a hint where the system's words alone mislead."""
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENOTDIR:
        return f"{reason} (a part of the path is a file)"
    if exc.errno == errno.ELOOP:
        return f"{reason} (a symbolic link loop)"
    if exc.errno == errno.EEXIST:
        return "a file is in the way (a directory is needed there)"
    return reason


def writable_directory(directory: Path, create: bool = True) -> Path:
    """Make sure a file can be created in ``directory``: create it (and its parents) first, or with
    ``create=False`` (a check before the work) only make sure it could be, leaving nothing behind."""
    directory = Path(directory)
    if problem := _directory_problem(directory, create):
        raise OutputPathError(f"cannot write into {directory}: {problem}")
    return directory


def writable_file(path: Path) -> Path:
    """Check, before any work and creating nothing, that ``path`` can be written: its directory exists or
    could be made and takes a new file, and ``path`` is not a directory or a symbolic link loop."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise OutputPathError(f"cannot write {path}: {blocked(path, exc)}") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise OutputPathError(f"cannot write {path}: it is a directory; name a file")
    if problem := _directory_problem(path.parent, create=False):
        raise OutputPathError(f"cannot write {path}: {problem}")
    return path


def _directory_problem(directory: Path, create: bool) -> str | None:
    """Why no file can be created in ``directory`` (made first if ``create``), or None. Without ``create``
    the nearest part of the path that exists must be a directory that takes a file."""
    try:
        if create:
            directory.mkdir(parents=True, exist_ok=True)
            existing = directory
        else:
            existing = next(part for part in (directory, *directory.parents) if os.path.lexists(part))
            if not stat.S_ISDIR(os.stat(existing).st_mode):
                return f"{existing} is a file, not a directory"
        handle, probe = tempfile.mkstemp(prefix=f"{TEMP_MARK}probe-", dir=existing)
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        return blocked(directory, exc)
    return None


def temporary_sibling(path: Path) -> Path:
    """A name beside ``path`` for writing it before it is renamed into place."""
    return path.with_name(f".{path.name}{TEMP_MARK}{os.getpid()}.tmp")


def write_atomically(path: Path, content: str | bytes) -> Path:
    """Write ``content`` to ``path`` so that it appears whole or not at all (an earlier file of that name
    stays until then)."""
    path = writable_file(path)
    writable_directory(path.parent)
    temp = temporary_sibling(path)
    data = content.encode("utf-8") if isinstance(content, str) else content
    try:
        with open(temp, "wb") as handle:
            handle.write(data)
        os.replace(temp, path)
    except OSError as exc:
        raise OutputPathError(f"cannot write {path}: {describe_os_error(exc)}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
    return path


@contextlib.contextmanager
def staged_directory(out: Path) -> Iterator[Path]:
    """A fresh directory inside ``out`` to write a command's files into: once the block ends they move
    into ``out`` together (replacing files of the same names); if it fails, none does and the staging
    directory is removed (and ``out`` too, if it was made for this and is empty). An OSError inside the
    block becomes one :class:`OutputPathError` line."""
    out = Path(out)
    made = not os.path.lexists(out)
    writable_directory(out)
    staging = None
    try:
        staging = Path(tempfile.mkdtemp(prefix=f"{TEMP_MARK}staging-", dir=out))
        yield staging
        for entry in sorted(staging.iterdir()):
            os.replace(entry, out / entry.name)
        made = False
    except OSError as exc:
        raise OutputPathError(f"cannot write into {out}: {describe_os_error(exc)}") from None
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        if made:
            with contextlib.suppress(OSError):
                out.rmdir()


def blocked(path: Path, exc: OSError) -> str:
    """Why ``path`` cannot be a directory to write into: the first part of it that is not a directory, and
    what it is, when the system's error does not say."""
    if exc.errno not in (errno.EEXIST, errno.ENOTDIR, errno.ELOOP):
        return describe_os_error(exc)
    for part in [*reversed(path.parents), path]:
        try:
            mode = os.stat(part).st_mode
        except FileNotFoundError:
            break
        except OSError as problem:
            if problem.errno == errno.ELOOP:
                return f"{part} is a symbolic link loop"
            return describe_os_error(problem)
        if not stat.S_ISDIR(mode):
            return f"{part} is a file, not a directory"
    return describe_os_error(exc)
