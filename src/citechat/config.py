"""Settings: defaults, overridable by environment variables and then by arguments."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

# A source checkout keeps seeds/, index/ and prompts/ beside src/; an installed copy falls back to the
# current directory.
_CHECKOUT = Path(__file__).resolve().parents[2]
PROJECT_DIR = _CHECKOUT if (_CHECKOUT / "pyproject.toml").exists() else Path.cwd()

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx")


def _default_model() -> str:
    return os.environ.get("CITECHAT_MODEL") or "all-MiniLM-L6-v2"


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name) or default)


def _env_names(name: str) -> tuple[str, ...]:
    """A list of names or addresses from a variable, separated by commas or spaces."""
    return tuple(part for part in (os.environ.get(name) or "").replace(",", " ").split() if part)


@dataclass(frozen=True)
class Settings:
    docs_dir: Path = field(default_factory=lambda: Path(os.environ.get("CITECHAT_DOCS") or PROJECT_DIR / "seeds"))
    index_dir: Path = field(default_factory=lambda: Path(os.environ.get("CITECHAT_INDEX") or PROJECT_DIR / "index"))
    prompts_dir: Path = field(
        default_factory=lambda: Path(os.environ.get("CITECHAT_PROMPTS") or PROJECT_DIR / "prompts")
    )
    model: str = field(default_factory=_default_model)
    # all-MiniLM-L6-v2 reads at most 256 word pieces; ~1000 characters of English prose stays under that.
    chunk_chars: int = 1000
    overlap_chars: int = 150
    max_file_mb: float = field(default_factory=lambda: float(os.environ.get("CITECHAT_MAX_FILE_MB") or 50))
    llm: str | None = field(default_factory=lambda: os.environ.get("CITECHAT_LLM") or None)
    # What reading one file may cost (readers.py, reader_process.py): a file over a limit is skipped with the
    # reason, so a hostile file (a decompression bomb, a PDF built to be slow) costs seconds, not the server.
    max_file_chars: int = field(default_factory=lambda: int(_env_float("CITECHAT_MAX_FILE_CHARS", 10_000_000)))
    max_unpacked_mb: float = field(default_factory=lambda: _env_float("CITECHAT_MAX_UNPACKED_MB", 64))
    parse_seconds: float = field(default_factory=lambda: _env_float("CITECHAT_PARSE_SECONDS", 30))
    cache_dir: Path = field(
        default_factory=lambda: Path(os.environ.get("CITECHAT_CACHE") or Path.home() / ".cache" / "citechat")
    )
    # The server (web/): host names it answers to besides the loopback ones, and the addresses of reverse
    # proxies whose X-Forwarded-For header names the client.
    allowed_hosts: tuple[str, ...] = field(default_factory=lambda: _env_names("CITECHAT_ALLOWED_HOSTS"))
    trusted_proxies: tuple[str, ...] = field(default_factory=lambda: _env_names("CITECHAT_TRUSTED_PROXIES"))
    # Where the index lives: "local" (SQLite + FAISS in index_dir), "milvus:PATH.db" or "milvus:http://HOST:19530"
    # (see stores/); on Milvus, the collection is named after index_dir unless this names it.
    store: str = field(default_factory=lambda: os.environ.get("CITECHAT_STORE") or "local")
    collection: str | None = field(default_factory=lambda: os.environ.get("CITECHAT_COLLECTION") or None)

    def with_overrides(self, **values) -> "Settings":
        """Return a copy with every non-None value applied (paths given as str are converted)."""
        clean = {k: v for k, v in values.items() if v is not None}
        for key in ("docs_dir", "index_dir", "prompts_dir", "cache_dir"):
            if key in clean:
                clean[key] = Path(clean[key])
        return replace(self, **clean)


def settings(**overrides) -> Settings:
    return Settings().with_overrides(**overrides)


def settings_for_index(index_dir=None, docs_dir=None, **overrides) -> Settings:
    """Settings for working on an existing index: unless a documents folder is given (argument or
    $CITECHAT_DOCS), use the one the index was built from."""
    from .stores import recorded_meta

    base = settings(index_dir=index_dir, docs_dir=docs_dir, **overrides)
    if docs_dir is None and not os.environ.get("CITECHAT_DOCS"):
        recorded = recorded_meta(base).get("docs_dir")
        if recorded:
            return base.with_overrides(docs_dir=recorded)
    return base


SECRET_VARIABLES = ("CITECHAT_LLM_API_KEY", "OPENAI_API_KEY", "CITECHAT_AUTH", "CITECHAT_API_KEY", "CITECHAT_MILVUS_TOKEN")


def redact(text: str) -> str:
    """The text with every configured secret (LLM keys, the app's password and API key) replaced by ***: an error from an
    LLM server may quote the key it was sent, and such messages are shown and logged."""
    for name in SECRET_VARIABLES:
        value = os.environ.get(name) or ""
        for secret in {value, value.partition(":")[2]} if name == "CITECHAT_AUTH" else {value}:
            if len(secret) >= 4:
                text = text.replace(secret, "***")
    return text
