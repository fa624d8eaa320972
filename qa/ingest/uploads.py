"""Adding files to the corpus: uploads are checked, placed atomically, and what they replace
or what is deleted is kept in the trash (nothing a user adds is lost)."""

import time
from dataclasses import dataclass
from pathlib import Path

from qa.ingest.corpus import SkippedFile, StoredTexts, _reason, load_file
from qa.ingest.formats import SUPPORTED_SUFFIXES, OcrOptions, UnreadableFile
from qa.ingest.sandbox import Extraction


@dataclass(frozen=True)
class Upload:
    """A file placed in the corpus: "added", "replaced" (the old one kept in the trash) or
    "unchanged" (the corpus already held these bytes)."""

    path: Path
    status: str


def add_to_corpus(
    paths: list[Path],
    corpus_dir: Path,
    trash_dir: Path,
    max_bytes: int | None = None,
    seconds_per_file: float = 60,
    texts: StoredTexts | None = None,
    ocr: OcrOptions | None = None,
) -> tuple[list[Upload], list[SkippedFile]]:
    """Place readable files in the corpus under their own names; a changed file replaces the
    old version, which is kept in `trash_dir`. Nothing unreadable or hidden enters the corpus,
    nothing is written through a symbolic link, and each file appears whole or not at all.
    Each file is read to check it, and its extraction kept in `texts` for the ingest that
    follows (a scan is read by OCR once). The caller holds the index's ingest lock, so that
    no ingest sees half a change."""
    corpus_dir.mkdir(parents=True, exist_ok=True)
    uploads, rejected = [], []
    with Extraction(seconds_per_file, ocr) as read:
        problems = [
            _upload_problem(path, corpus_dir / path.name, max_bytes, read, texts) for path in paths
        ]
    for path, problem in zip(paths, problems, strict=True):
        target = corpus_dir / path.name
        if problem:
            rejected.append(SkippedFile(path.name, problem))
        elif target.is_file() and target.read_bytes() == path.read_bytes():
            uploads.append(Upload(target, "unchanged"))
        else:
            replaced = target.exists()
            try:
                if replaced:
                    keep_in_trash(target, trash_dir)
                _place(path, target)
            except OSError as exc:  # a full disk, a name too long for the trash
                rejected.append(SkippedFile(path.name, f"it could not be placed ({_reason(exc)})"))
                continue
            uploads.append(Upload(target, "replaced" if replaced else "added"))
    return uploads, rejected


def _place(path: Path, target: Path) -> None:
    """Copy `path` to `target` through a hidden temporary file in the same folder, renamed
    into place: readers see the old file or the new one, never half of it."""
    import os
    import shutil
    import uuid

    partial = target.with_name(f".qa-upload-{uuid.uuid4().hex[:12]}.partial")
    try:
        shutil.copyfile(path, partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def trash_name(name: str) -> str:
    """A name in the trash that no other version takes: the time it left, a random tag, and
    the file's name (its stem shortened if the whole would pass 255 bytes)."""
    import uuid

    prefix = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}-"
    stem, suffix = Path(name).stem, Path(name).suffix
    room = 255 - len(prefix) - len(suffix.encode())
    stem = stem.encode()[:room].decode(errors="ignore")
    return f"{prefix}{stem}{suffix}"


def keep_in_trash(path: Path, trash_dir: Path) -> Path:
    """Copy a corpus file into the trash under a name of its own (before it is replaced)."""
    import shutil

    trash_dir.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy2(path, trash_dir / trash_name(path.name)))


def move_to_trash(path: Path, trash_dir: Path) -> Path:
    """Move a corpus file out of the corpus, under a name of its own; nothing is deleted."""
    import shutil

    trash_dir.mkdir(parents=True, exist_ok=True)
    return Path(shutil.move(path, trash_dir / trash_name(path.name)))


def _upload_problem(
    path: Path,
    target: Path,
    max_bytes: int | None,
    read: Extraction,
    texts: StoredTexts | None = None,
) -> str | None:
    """Why an uploaded file cannot go into the corpus as `target`; None if it can."""
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        return (
            f"unsupported file type {path.suffix or '(no extension)'} (qa reads text, Markdown,"
            " PDF, HTML, Office, OpenDocument, e-mail, e-book and image files)"
        )
    if path.name.startswith("."):
        return "its name starts with '.', and hidden files are not indexed; rename it"
    if target.is_symlink():
        return f"{target} is a symbolic link; qa does not write through links"
    if target.exists() and not target.is_file():
        return f"{target} is a folder"
    try:
        load_file(path, path.parent, max_bytes, read, texts)
    except UnreadableFile as exc:
        return str(exc)
    except OSError as exc:
        return (exc.strerror or str(exc)).lower()
    except Exception as exc:  # a parser's own failure
        return f"it could not be read ({type(exc).__name__})"
    return None
