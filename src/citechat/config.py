"""Settings: defaults, overridable by environment variables and then by arguments.

`Settings.from_env()` is the one reader of the CITECHAT_* variables that choose folders, the model, the file
size limit and the LLM (the LLM server's address and key, the embedder's precision and the server's sign-in
are still read where they are used). Which index and which documents folder a command works on is decided in
`index/which.py`, which reads what the index records.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

from .errors import SettingsError

# A source checkout keeps seeds/, index/ and prompts/ beside src/; an installed copy falls back to the
# current directory.
_CHECKOUT = Path(__file__).resolve().parents[2]
PROJECT_DIR = _CHECKOUT if (_CHECKOUT / "pyproject.toml").exists() else Path.cwd()

DEFAULT_MODEL = "all-MiniLM-L6-v2"
DEFAULT_DOCS = PROJECT_DIR / "seeds"
DEFAULT_INDEX = PROJECT_DIR / "index"

# Variable -> Settings field, for everything Settings holds.
ENVIRONMENT = {
    "CITECHAT_DOCS": "docs_dir",
    "CITECHAT_INDEX": "index_dir",
    "CITECHAT_PROMPTS": "prompts_dir",
    "CITECHAT_MODEL": "model",
    "CITECHAT_MAX_FILE_MB": "max_file_mb",
    "CITECHAT_LLM": "llm",
    "CITECHAT_CACHE": "cache_dir",
    "CITECHAT_STORE": "store",
    "CITECHAT_COLLECTION": "collection",
}


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name) or default)


def _env_flag(name: str, default: bool) -> bool:
    value = (os.environ.get(name) or "").strip().lower()
    return default if not value else value not in ("0", "false", "no", "off")


def _env_names(name: str) -> tuple[str, ...]:
    """A list of names or addresses from a variable, separated by commas or spaces."""
    return tuple(part for part in (os.environ.get(name) or "").replace(",", " ").split() if part)


@dataclass(frozen=True)
class Settings:
    docs_dir: Path = DEFAULT_DOCS
    index_dir: Path = DEFAULT_INDEX
    prompts_dir: Path = PROJECT_DIR / "prompts"
    model: str = DEFAULT_MODEL
    # all-MiniLM-L6-v2 reads at most 256 word pieces; ~1000 characters of English prose stays under that.
    chunk_chars: int = 1000
    overlap_chars: int = 150
    max_file_mb: float = 50.0
    llm: str | None = None
    cache_dir: Path = Path.home() / ".cache" / "citechat"
    # What reading one file may cost (ingest/limits.py, ingest/process.py): a file over a limit is skipped with the
    # reason, so a hostile file (a decompression bomb, a PDF built to be slow) costs seconds, not the server.
    max_file_chars: int = field(default_factory=lambda: int(_env_float("CITECHAT_MAX_FILE_CHARS", 10_000_000)))
    max_unpacked_mb: float = field(default_factory=lambda: _env_float("CITECHAT_MAX_UNPACKED_MB", 64))
    parse_seconds: float = field(default_factory=lambda: _env_float("CITECHAT_PARSE_SECONDS", 30))
    # The local store searches vectors exactly below this many chunks, and approximately (an IVF index, its
    # candidates scored again exactly) above: bench/scale.py measures both.
    exact_search_below: int = field(default_factory=lambda: int(_env_float("CITECHAT_EXACT_SEARCH_BELOW", 200_000)))
    # Scanned PDF pages and images are read by OCR (seconds a page: bench/README.md); "0" turns it off.
    ocr: bool = field(default_factory=lambda: _env_flag("CITECHAT_OCR", True))
    ocr_page_seconds: float = field(default_factory=lambda: _env_float("CITECHAT_OCR_PAGE_SECONDS", 30))
    # The server (web/): host names it answers to besides the loopback ones, and the addresses of reverse
    # proxies whose X-Forwarded-For header names the client.
    allowed_hosts: tuple[str, ...] = field(default_factory=lambda: _env_names("CITECHAT_ALLOWED_HOSTS"))
    trusted_proxies: tuple[str, ...] = field(default_factory=lambda: _env_names("CITECHAT_TRUSTED_PROXIES"))
    # Where the index lives: "local" (SQLite + FAISS in index_dir), "milvus:PATH.db" or "milvus:http://HOST:19530"
    # (see stores/); on Milvus, the collection is named after index_dir unless this names it.
    store: str = field(default_factory=lambda: os.environ.get("CITECHAT_STORE") or "local")
    collection: str | None = field(default_factory=lambda: os.environ.get("CITECHAT_COLLECTION") or None)
    # Where docs_dir came from, as `index.which.settings_for_index` decides it: "given" (an argument,
    # CITECHAT_DOCS, or these settings made directly), "index" (recorded by the index) or "default" (seeds/,
    # which only the project's own index/ is known to hold).
    docs_origin: str = "given"

    @property
    def docs_known(self) -> bool:
        """Is docs_dir known to be the index's folder (rather than a default nobody chose)?"""
        return self.docs_origin != "default" or self.index_dir == DEFAULT_INDEX

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """The defaults with every CITECHAT_* variable that is set applied; raises SettingsError for a value
        that cannot be used."""
        return cls().with_overrides(**chosen_in(os.environ if environ is None else environ))

    def with_overrides(self, **values) -> "Settings":
        """Return a copy with every non-None value applied (paths given as str are converted)."""
        return replace(self, **cleaned(values))


def cleaned(values: dict) -> dict:
    clean = {k: v for k, v in values.items() if v is not None}
    for key in ("docs_dir", "index_dir", "prompts_dir", "cache_dir"):
        if key in clean:
            clean[key] = Path(clean[key]).expanduser().absolute()
    if "model" in clean:
        clean["model"] = model_id(clean["model"])
    if "max_file_mb" in clean:
        clean["max_file_mb"] = _megabytes(clean["max_file_mb"])
    return clean


def chosen_in(environ: Mapping[str, str]) -> dict:
    """The Settings fields that the environment sets (empty variables count as unset)."""
    return {name: environ[variable] for variable, name in ENVIRONMENT.items() if environ.get(variable)}


def _megabytes(value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not (math.isfinite(number) and number > 0):
        raise SettingsError(f"CITECHAT_MAX_FILE_MB must be a number of megabytes above 0, such as 50 (it is "
                            f"{str(value)!r}). Files larger than this are skipped.")
    return number


def model_id(name: str) -> str:
    """How a model is named in settings and in an index: a local model folder by its absolute path, so that
    the index can be opened from anywhere without setting CITECHAT_MODEL again."""
    path = Path(str(name)).expanduser()
    return str(path.resolve()) if path.is_dir() else str(name)


def settings(**overrides) -> Settings:
    """The settings from the environment, with the given values applied."""
    return Settings.from_env().with_overrides(**overrides)
