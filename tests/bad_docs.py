"""A documents folder full of bad files among good ones, for the reliability tests and bench/.

`write_bad_collection(folder, outside)` writes it and returns a `BadCollection` that says what each file should
become: the good files (with a question only that file answers and a phrase the answer must quote) and the bad
ones (with a word their skip reason must contain). `outside` is a folder beside the documents that symbolic
links point into; nothing in it may ever be read.
"""

from __future__ import annotations

import io
import os
import random
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from conftest import write_pdf

# A name that is not valid UTF-8 (Linux allows any bytes but "/" and NUL in a file name).
BAD_NAME = os.fsdecode(b"bad-\xff\xfe-name.txt")
N_TINY = 5000
TINY_COLOURS = ["teal", "amber", "crimson", "ivory", "olive", "violet", "saffron", "cobalt", "maroon", "jade"]


@dataclass
class Good:
    source: str
    question: str
    phrase: str  # the answer quotes this


@dataclass
class Bad:
    source: str  # as reported (a name that is not UTF-8 is shown with replacement characters)
    reason: str  # a word the reported reason contains


@dataclass
class BadCollection:
    good: list[Good] = field(default_factory=list)
    bad: list[Bad] = field(default_factory=list)
    tiny: list[str] = field(default_factory=list)  # names of the tiny files
    long_line: str = ""  # name of the 2 MB single-line file
    long_line_marker: str = ""  # a word that occurs once in it
    outside: list[Path] = field(default_factory=list)  # files that must never be opened
    never_opened: list[Path] = field(default_factory=list)  # inside the folder, but must not be read either
    bytes_read_and_refused: int = 0  # total size of the bad files that are read and then refused


def tiny_name(i: int) -> str:
    return f"tiny/{i // 1000}/note-{i:04d}.txt"


def tiny_question(i: int) -> tuple[str, str]:
    colour = TINY_COLOURS[i % len(TINY_COLOURS)]
    return f"What colour is the door of cabin {i:04d}?", f"cabin {i:04d} is painted {colour}"


def write_bad_collection(
    folder: Path,
    outside: Path,
    huge_mb: float = 50,
    binary_files: int = 8,
    binary_mb: int = 16,
    n_tiny: int = N_TINY,
) -> BadCollection:
    folder.mkdir(parents=True, exist_ok=True)
    outside.mkdir(parents=True, exist_ok=True)
    c = BadCollection()
    rng = random.Random(42)

    def good(name: str, data: bytes | str, question: str, phrase: str) -> None:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
        c.good.append(Good(name, question, phrase))

    def bad(name: str, data: bytes | None, reason: str) -> None:
        if data is not None:
            (folder / name).write_bytes(data)
        c.bad.append(Bad(name, reason))

    # ------------------------------------------------------------ good files with awkward names and text
    good("field notes with spaces.txt",
         "Field notes\n\nThe kestrels of Wexmoor nest in the ruined mill tower every April.\n",
         "Where do the Wexmoor kestrels nest?", "ruined mill tower")
    good("naïve café — résumé 日本.md",
         "# Café notes\n\nThe Brellin café roasts its coffee beans over beech wood every Thursday.\n",
         "What wood does the Brellin café roast its beans over?", "over beech wood")
    good("-rf.txt", "Dash notes\n\nThe Corvan ferry carries exactly forty bicycles on each crossing.\n",
         "How many bicycles does the Corvan ferry carry?", "forty bicycles")
    good("--help.md", "# Help\n\nThe Ostrel beacon was relit in 1911 after a storm put it out.\n",
         "When was the Ostrel beacon relit?", "relit in 1911")
    good("rtl and emoji.txt",
         "שלום עולם — مرحبا بالعالم 🌍\n\n"
         "The Hebrew word שלום is painted above the door of the Tamsin library 📚 in gold letters.\n"
         "مكتبة تامسين مفتوحة كل يوم.\n"
         "The 🚀 rocket club meets in the Quillon observatory every Tuesday at seven 🌙✨.\n",
         "What word is painted above the door of the Tamsin library?", "שלום")
    good("mixed encodings.txt",
         "Mixed encodings\n\n".encode("utf-8")
         + "The Varnholt choir sings in the crypt of Saint-Étienne every Sunday.\n".encode("utf-8")
         + "Its conductor, Renée Müller, founded it in 1987 — with twelve singers.\n".encode("cp1252"),
         "Who founded the Varnholt choir?", "Renée Müller")
    good("invalid utf8.txt",
         b"Invalid bytes\n\nThe Pellow orchard grows nine kinds of pear. \xff\xfe\xc3\x28 stray bytes.\n"
         b"Its cider press dates from 1820.\n",
         "How old is the cider press of the Pellow orchard?", "1820")
    depth = 3000
    html = (
        "<!DOCTYPE html><html><head><title>Deep page</title>"
        "<style>body { color: STYLEMARKER; }</style>"
        "<script>var s = '</div><p>SCRIPTMARKER</p>'; document.write('<p>SCRIPTMARKER</p>');</script></head><body>"
        + "<div><section><span>" * depth
        + "The Harrowgate tunnel is eleven kilometres long and opened in 1894."
        + "</span></section></div>" * depth
        + "<script>alert('SCRIPTMARKER')</script><noscript>NOSCRIPTMARKER</noscript>"
        + "<p>Unclosed markup follows.</p>" + "<a " * 20000 + "<!--" * 5000
    )
    good("deep markup.html", html, "How long is the Harrowgate tunnel?", "eleven kilometres")

    # A single 2 MB line with no punctuation: long "words" of letters only, with one findable marker.
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(150)) for _ in range(50)]
    line = " ".join(rng.choice(words) for _ in range(2_000_000 // 151))
    c.long_line_marker = "zebrafinchmarker"
    middle = len(line) // 2
    line = line[:middle] + f" {c.long_line_marker} " + line[middle:]
    c.long_line = "one line.txt"
    (folder / c.long_line).write_text(line, encoding="utf-8")

    # 5,000 tiny files in a few folders.
    for i in range(n_tiny):
        name = tiny_name(i)
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(f"Note {i:04d}. The door of cabin {i:04d} is painted "
                                   f"{TINY_COLOURS[i % len(TINY_COLOURS)]}.\n", encoding="utf-8")
        c.tiny.append(name)

    # ------------------------------------------------------------ bad files
    bad("empty.txt", b"", "empty")
    bad("blank.md", b" \n\n\t\n", "empty")
    bad("binary.txt", bytes(range(256)) * 64, "binary")
    for i in range(binary_files):  # large binary files read (and refused) one after another
        data = os.urandom(1 << 20) * binary_mb
        bad(f"blob-{i}.txt", data, "binary")
        c.bytes_read_and_refused += len(data)
    # A text file just over the size limit: skipped without being read.
    huge = folder / "huge.txt"
    sentence = b"The huge file repeats this sentence about granite quarries over and over again. "
    with open(huge, "wb") as f:
        block = sentence * (1_000_000 // len(sentence))
        while f.tell() <= huge_mb * 1024 * 1024:
            f.write(block)
    c.bad.append(Bad("huge.txt", "MB limit"))
    c.never_opened.append(huge)

    pdf = write_pdf(outside / "plain.pdf", ["The Tarrow lighthouse keeper logs every passing ship."])
    data = pdf.read_bytes()
    bad("truncated.pdf", data[: len(data) // 2], "corrupt")
    from pypdf import PdfWriter

    writer = PdfWriter(clone_from=str(pdf))
    writer.encrypt("a password", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    bad("encrypted.pdf", buffer.getvalue(), "encrypted")
    from fpdf import FPDF

    scan = FPDF()
    scan.add_page()
    scan.rect(20, 20, 80, 120)  # a drawing only, like a scanned page without a text layer
    bad("scanned.pdf", bytes(scan.output()), "no text")
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as z:
        z.writestr("junk.bin", os.urandom(4096))
        z.writestr("word/document.xml", b"<w:document><not closed")
    bad("zip of junk.docx", zipped.getvalue(), "corrupt")
    (folder / BAD_NAME).write_text("A file whose name is not UTF-8.\n", encoding="utf-8")
    c.bad.append(Bad(os.fsencode(BAD_NAME).decode("utf-8", "replace"), "UTF-8"))

    # ------------------------------------------------------------ symbolic links
    secret = outside / "secret.txt"
    secret.write_text("The vault code outside the documents folder is 7-4-1-9.\n", encoding="utf-8")
    (outside / "dir").mkdir(exist_ok=True)
    (outside / "dir" / "also-secret.txt").write_text("Another secret outside the folder.\n", encoding="utf-8")
    c.outside += [secret, outside / "dir" / "also-secret.txt", outside / "plain.pdf"]
    os.symlink(secret, folder / "link to outside.txt")
    c.bad.append(Bad("link to outside.txt", "outside"))
    os.symlink(outside / "dir", folder / "linked folder")
    c.bad.append(Bad("linked folder", "outside"))
    os.symlink("loop-b.txt", folder / "loop-a.txt")  # a loop: a -> b -> a
    os.symlink("loop-a.txt", folder / "loop-b.txt")
    c.bad.append(Bad("loop-a.txt", "loop"))
    c.bad.append(Bad("loop-b.txt", "loop"))
    os.symlink("..", folder / "tiny" / "up")  # a folder loop back to the top: not followed twice
    return c
