"""Atomic file output: write to a temporary file beside the target, then rename.

Nothing bayescale writes (fits, reports, figures, tables) is ever left half-finished: an error
or Ctrl-C while writing removes the temporary file and leaves any previous file untouched.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text"]


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it is renamed to ``path``.

    The temporary file sits in the target's folder (so the rename is atomic) and keeps the
    target's suffix (so writers that infer the format from it, like ``savefig``, work).  It gets
    the permissions of an ordinary new file (``tempfile.mkstemp`` would make it private).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from bayescale.files import atomic_path
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text()
    'done'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f"{path.suffix}.part"
                                if not path.suffix else f".part{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write text to ``path`` atomically.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from bayescale.files import atomic_write_text
    >>> p = atomic_write_text(pathlib.Path(tempfile.mkdtemp()) / "a.md", "# hi")
    >>> p.read_text()
    '# hi'
    """
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding=encoding)
    return Path(path)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write bytes to ``path`` atomically.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from bayescale.files import atomic_write_bytes
    >>> atomic_write_bytes(pathlib.Path(tempfile.mkdtemp()) / "a.bin", b"x").read_bytes()
    b'x'
    """
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)
