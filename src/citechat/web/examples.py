"""Example questions offered under the chat, about the indexed documents only: those written for a known
document (the seed article), else questions a person would ask of each document's sections: an FAQ heading as
it is ("Which VPN do we use?"), another heading as "What about the warehouse move?" (no list numbers, no
quotes), a short title as "What is the leave policy about?" when a document has no heading. Fewer, or none, rather than awkward ones."""

from __future__ import annotations

import re

from ..bot import Bot
from ..ingest.formats import place_heading
from ..ingest.text import SECTION_SEPARATOR

# Questions written for the seed article shipped in seeds/, offered only when that very file is indexed.
SEED_EXAMPLES = {
    "aba1ce9db421ea4c15cd35575f64d3b65e45a936aa50ec5bfef7062407990843": [
        "What did Altman say?",
        "What did Khosla Ventures do?",
        "What happened in Minneapolis?",
        "Who first reported Altman's message?",
    ],
}
MAX_WORDS = 8  # a longer heading or title is a sentence, not a topic to ask about
_NUMBERING = re.compile(r"^\s*(?:\(?[0-9]{1,3}(?:\.[0-9]{1,3})*[.):]?|[A-Za-z][.)]|[IVXivx]{1,4}[.)])\s+")
_SITE_SUFFIX = re.compile(r"\s+[-|–—·:]\s+[^-|–—·:]{1,40}$")  # "Leave policy - Larkspur intranet"


def example_questions(bot: Bot, n: int = 4) -> list[str]:
    """At most n example questions about the indexed documents, one per document first."""
    documents = bot.documents
    questions = [q for d in documents for q in SEED_EXAMPLES.get(d.hash, [])]
    headings: dict[str, list[str]] = {}
    for chunk in bot.snapshot.all_chunks():
        names = [name for name in chunk.section.split(SECTION_SEPARATOR)
                 if name and name != chunk.title and not place_heading(name)]  # not "Slide 4", "Page 3 (scanned)"
        if names and names[-1] not in headings.setdefault(chunk.source, []):
            headings[chunk.source].append(names[-1])
    for d in documents:
        question = next(filter(None, map(as_question, headings.get(d.source, []))), None)
        questions.append(question or about_title(d.title))
    return [q for q in dict.fromkeys(questions) if q][:n]


def as_question(heading: str) -> str | None:
    """A heading as a person would ask about it; None for one too long or too odd to ask about."""
    text = _NUMBERING.sub("", heading).strip().rstrip(":").strip()
    words = text.split()
    if not words or len(words) > MAX_WORDS + 4 or not re.search(r"[A-Za-z]{3}", text):
        return None
    if text.endswith("?"):
        return text
    if words[0].lower() in _QUESTION_WORDS:  # "How to import tunnels" is asked as it is
        return f"{text[0].upper()}{text[1:]}?"
    if len(words) > MAX_WORDS or text.endswith((".", "!")):
        return None
    return f"What about {_topic(text)}?"


def about_title(title: str) -> str | None:
    """A question about a document known only by its title: "What is the leave policy about?"."""
    text = _SITE_SUFFIX.sub("", title.strip())
    words = text.split()
    if not words or len(words) > MAX_WORDS or text.endswith((".", "?", "!")) or not re.search(r"[A-Za-z]{3}", text):
        return None
    return f"What is {_topic(text)} about?"


_DETERMINERS = {"the", "a", "an", "our", "your", "my", "their", "its", "this", "these", "those"}
_QUESTION_WORDS = {"how", "why", "what", "when", "where", "who", "which"}


def _topic(text: str) -> str:
    """A heading in the middle of a sentence, as a noun phrase: "the" before it, its first word in lower case when
    the rest is lower case too ("Warehouse move" → "the warehouse move"; "Project Atlas" stays as it is)."""
    first, _, rest = text.partition(" ")
    if first[:1].isupper() and first[1:].islower() and rest == rest.lower():
        text = f"{first.lower()} {rest}".strip()
    return text if text.split()[0].lower() in _DETERMINERS else f"the {text}"
