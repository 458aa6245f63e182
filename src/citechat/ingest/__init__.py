"""Files to structured text: finding the documents of a folder (`folder.py`), opening each safely
(`files.py`), reading it with the reader of its format (`formats/`, through `reading.py`) within the limits of
what one file may cost (`limits.py`, and the reader child process in `process.py`), reading its text's structure
(`text.py`: paragraphs, headings, sections, quotable sentences with exact offsets), and cutting it into chunks
(`chunking.py`).

Takes: a documents folder. Gives: `Listed` files, `Document`s and their `Chunk`s, and `Skipped` files with the
reason.
"""
