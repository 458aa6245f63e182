"""Finding the documents of a folder: every file of a supported type, what is left out and why, and how to open
exactly the file that was listed again."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import CitechatError
from .files import UnsafeFile, kind_of, open_inside
from .formats import SUFFIXES


@dataclass(frozen=True)
class Listed:
    """A file found in the documents folder, and how to open exactly that file again."""

    source: str  # its name in the folder, forward slashes (a link inside the folder keeps its own name)
    real: str  # its path relative to the folder with every link resolved: what `files.open_inside` opens
    info: os.stat_result  # the file's status when listed (for a link, its target's)

    @property
    def name(self) -> str:
        """Its file name (a link's own name)."""
        return self.source.rsplit("/", 1)[-1]

    @property
    def identity(self) -> tuple[int, int]:
        return self.info.st_dev, self.info.st_ino

    @property
    def size(self) -> int:
        return self.info.st_size

    def open(self, root: Path):
        """The file, opened as `files.open_inside` does: UnsafeFile if another file, a link or a special
        file has taken its place since it was listed."""
        return open_inside(root, self.real, self.identity)


@dataclass
class Skipped:
    source: str
    reason: str


class FolderNotFound(CitechatError, FileNotFoundError):
    pass


def folder_not_found(docs_dir: Path) -> FolderNotFound:
    """The error for a documents folder that is missing, or is a file."""
    if docs_dir.exists():
        return FolderNotFound(f"{docs_dir} is a file, not a folder: pass --docs with the folder that holds "
                              "your documents.")
    return FolderNotFound(f"Documents folder not found: {docs_dir}. Create it or pass --docs DIR.")


# ---------------------------------------------------------------- finding files


def find_file(docs_dir: Path, source: str) -> Listed:
    """The one file named `source` (forward slashes, as `find_files` lists it), to open with `Listed.open`;
    UnsafeFile for a name that is not a plain path inside docs_dir or leads outside it through a link, and
    OSError as usual for one that does not exist."""
    parts = source.split("/")
    if source.startswith("/") or "\\" in source or any(part in ("", ".", "..") for part in parts):
        raise UnsafeFile(f"not a plain path inside the folder: {source!r}")
    root = docs_dir.resolve()
    path = root.joinpath(*parts)
    target = path.resolve(strict=True)
    if not target.is_relative_to(root) or target == root:
        raise UnsafeFile(f"{source!r} leads outside the documents folder")
    return Listed(source, target.relative_to(root).as_posix(), target.stat())


def find_files(docs_dir: Path) -> tuple[list[Listed], list[Skipped]]:
    """List indexable files under docs_dir, by relative name; report what is left out and why.

    Hidden files and folders are ignored. Symbolic links are followed only when they resolve inside
    docs_dir, so nothing outside the folder is ever read and link loops end. Open a listed file with
    `Listed.open(docs_dir.resolve())`: it is refused if anything was swapped in since.
    """
    root = docs_dir.resolve()
    found: list[Listed] = []
    skipped: list[Skipped] = []
    seen_dirs: set[Path] = set()

    def inside(p: Path) -> bool:
        return p == root or root in p.parents

    def walk(folder: Path, prefix: str, real_prefix: str) -> None:
        real = folder.resolve()
        if real in seen_dirs:
            return
        seen_dirs.add(real)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            skipped.append(Skipped(prefix.rstrip("/") or ".", f"cannot list folder: {exc.strerror}"))
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            rel = prefix + entry.name  # built as text: Path objects for thousands of files cost more than the listing
            if not _valid_name(rel):  # the index stores names as UTF-8 text; such a name cannot be stored
                skipped.append(Skipped(_printable(rel), "file name is not valid UTF-8; rename it"))
                continue
            real = real_prefix + entry.name
            if entry.is_symlink():
                try:
                    target = Path(entry.path).resolve(strict=True)
                except (OSError, RuntimeError):
                    skipped.append(Skipped(rel, "broken or looping symbolic link"))
                    continue
                if not inside(target):
                    skipped.append(Skipped(rel, "symbolic link points outside the documents folder"))
                    continue
                real = target.relative_to(root).as_posix()
            if entry.is_dir():
                walk(Path(entry.path), rel + "/", real + "/")
            elif entry.is_file():
                suffix = os.path.splitext(entry.name)[1]
                suffix = suffix if len(suffix) > 1 else ""  # "notes." has no type, as for pathlib
                if suffix.lower() in SUFFIXES:
                    found.append(Listed(rel, real, entry.stat()))
                else:
                    skipped.append(Skipped(rel, f"unsupported file type '{suffix or '(none)'}'"))
            else:
                skipped.append(Skipped(rel, f"not a regular file ({_kind(entry)})"))

    if not docs_dir.is_dir():
        raise folder_not_found(docs_dir)
    walk(docs_dir, "", "")
    return found, skipped


def _kind(entry: os.DirEntry) -> str:
    try:
        return kind_of(entry.stat().st_mode)
    except OSError:
        return "cannot be read"


def _valid_name(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes of the name, kept by Python as lone surrogates
        return False
    return True


def _printable(name: str) -> str:
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
