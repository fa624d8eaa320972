"""The block model: every reader gives blocks with kinds and offsets; wrapped lines are one
sentence; headings, titles and questions are context, never answers."""

from pathlib import Path

import pytest
from langchain_core.documents import Document

from qa.answering.sentences import candidates
from qa.ingest.chunking import chunk_document, make_chunker
from qa.ingest.corpus import load_file
from qa.ingest.formats import extract
from qa.text.blocks import ANSWER_KINDS, decode, display, encode
from qa.text.sentences import split_block, wrap_width

from .test_answer import assert_quotes_reproduce
from .test_formats import write_pdf
from .test_safety import DOCUMENTS

WRAPPED_FAQ = """\
Copyright (C) 2019 The Ferry Company. All rights reserved.

                Frequently Asked Questions about the ferry

TIMETABLE
=========

1. Does the ferry run on Sundays?

    Yes.  The Sunday service leaves the north pier at ten and returns at
    four, except in January, when the harbour master closes the pier for
    repairs to the landing stage.

2. Where are bicycles kept?

    Bicycles are kept on the lower deck, beside the life rafts, and must be
    chained to the rail marked with a blue wheel; the crew may move badly
    parked bicycles to the car deck without notice.

3 Fares

The fare for a return crossing is twelve pounds for adults and six for
children under twelve; a season ticket costs two hundred pounds and is well-
suited to commuters who cross daily.
"""


def kinds(path: Path) -> list[tuple[str, int, str]]:
    extracted = extract(path)
    return [(b.kind, b.level, display(extracted.text[b.start : b.end])) for b in extracted.blocks]


def test_plain_text_gets_paragraphs_headings_questions_and_a_title(tmp_path: Path) -> None:
    path = tmp_path / "ferry.txt"
    path.write_text(WRAPPED_FAQ, encoding="utf-8")
    extracted = extract(path)
    assert extracted.title == "Frequently Asked Questions about the ferry"  # not the copyright
    found = kinds(path)
    assert ("heading", 1, "TIMETABLE =========") in found
    assert ("question", 1, "1. Does the ferry run on Sundays?") in found
    assert ("heading", 1, "3 Fares") in found
    answer = next(text for kind, _, text in found if text.startswith("Yes."))
    assert answer.endswith("repairs to the landing stage.")
    assert ("answer", 0, answer) in found
    for block in extracted.blocks:  # offsets hold, white space trimmed
        piece = extracted.text[block.start : block.end]
        assert piece.strip() == piece


def test_a_wrapped_sentence_is_one_sentence_and_a_line_end_hyphen_joins(tmp_path: Path) -> None:
    text = WRAPPED_FAQ
    wrap = wrap_width(text)
    assert 60 <= wrap <= 80
    start = text.index("Bicycles are kept")
    end = text.index("notice.") + len("notice.")
    assert split_block(text, start, end, wrap) == [(start, end)]
    fares = text.index("The fare for")
    sentences = [display(text[a:b]) for a, b in split_block(text, fares, len(text) - 1, wrap)]
    assert sentences == [
        "The fare for a return crossing is twelve pounds for adults and six for children under"
        " twelve; a season ticket costs two hundred pounds and is well-suited to commuters who"
        " cross daily."
    ]
    # unwrapped text (one paragraph a line) keeps every line break as a sentence end
    lines = "A headline without a full stop\n" + "A long line of prose that runs on. " * 5 + "\n"
    assert wrap_width(lines * 3) == 0
    assert len(split_block(lines, 0, len(lines) - 1, 0)) == 6  # the headline and five


def test_short_sentences_are_read_with_the_next() -> None:
    text = "Yes. It runs daily. No."
    assert [text[a:b] for a, b in split_block(text, 0, len(text))] == ["Yes. It runs daily. No."]


def test_markdown_blocks_come_from_the_parser(tmp_path: Path) -> None:
    path = tmp_path / "guide.md"
    path.write_text(
        "Ferry guide\n===========\n\nIntro text that is wrapped\nover two lines.\n\n"
        "Boarding\n--------\n\n- Show your ticket at the gate.\n- Keep dogs on a lead.\n\n"
        "```\nferry --book 2\n```\n\n| Route | Minutes |\n| --- | --- |\n| North | 40 |\n\n"
        "## Is there a cafe?\n\nYes, on the upper deck.\n",
        encoding="utf-8",
    )
    extracted = extract(path)
    assert extracted.title == "Ferry guide"
    found = kinds(path)
    assert found[0] == ("title", 1, "Ferry guide ===========")
    assert ("paragraph", 0, "Intro text that is wrapped over two lines.") in found
    assert ("heading", 2, "Boarding --------") in found
    assert ("item", 0, "Show your ticket at the gate.") in found
    assert ("code", 0, "``` ferry --book 2 ```") in found
    assert ("table_header", 0, "| Route | Minutes |") in found
    assert ("row", 0, "| North | 40 |") in found
    assert ("question", 2, "## Is there a cafe?") in found
    assert ("answer", 0, "Yes, on the upper deck.") in found


def test_html_keeps_inline_elements_inline(tmp_path: Path) -> None:
    path = tmp_path / "manual.html"
    path.write_text(
        "<html><body><h1>Widget manual</h1><p>The warranty lasts\n<code>24 months</code> from"
        " the <b>date</b> of purchase.</p><dl><dt>reset</dt><dd><p>Hold the <tt>RESET</tt>"
        " button for five seconds.</p></dd></dl><table><tr><th>Part</th><th>Price</th></tr>"
        "<tr><td>Hinge</td><td>4 euros</td></tr></table><ul><li>Keep it dry.</li></ul>"
        "</body></html>",
        encoding="utf-8",
    )
    extracted = extract(path)
    assert extracted.title == "Widget manual"  # no <title>: the first <h1>
    found = kinds(path)
    assert ("paragraph", 0, "The warranty lasts 24 months from the date of purchase.") in found
    # a term is read with its definition
    assert ("paragraph", 0, "reset \N{EM DASH} Hold the RESET button for five seconds.") in found
    assert ("table_header", 0, "Part | Price") in found and (
        "row",
        0,
        "Part: Hinge; Price: 4 euros",
    ) in found
    assert ("item", 0, "Keep it dry.") in found


def test_docx_tables_lists_and_styles(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_paragraph("Harbour rules", style="Title")
    document.add_paragraph("Moor at the east wall.", style="List Bullet")
    table = document.add_table(rows=2, cols=2)
    for row, cells in zip(table.rows, [("Berth", "Fee"), ("East wall", "9 pounds")], strict=True):
        for cell, text in zip(row.cells, cells, strict=True):
            cell.text = text
    document.add_paragraph("Figure 1: the east wall", style="Caption")
    document.save(tmp_path / "rules.docx")
    assert extract(tmp_path / "rules.docx").title == "Harbour rules"
    assert kinds(tmp_path / "rules.docx") == [
        ("title", 1, "Harbour rules"),
        ("item", 0, "Moor at the east wall."),
        ("table_header", 0, "Berth | Fee"),
        ("row", 0, "Berth: East wall; Fee: 9 pounds"),
        ("caption", 0, "Figure 1: the east wall"),
    ]


def test_pdf_running_headers_are_furniture(tmp_path: Path) -> None:
    pages = [f"Harbour Gazette page {n}" for n in range(1, 5)]
    path = write_pdf(tmp_path / "gazette.pdf", pages)
    extracted = extract(path)
    assert extracted.title == "Harbour report"  # the metadata's
    assert {b.kind for b in extracted.blocks} == {"furniture"}


def test_chunks_carry_heading_paths_and_candidates_skip_context(tmp_path: Path) -> None:
    path = tmp_path / "ferry.txt"
    path.write_text(WRAPPED_FAQ, encoding="utf-8")
    document = load_file(path, tmp_path)
    chunks = chunk_document(document, make_chunker(300, 60))
    for chunk in chunks:
        meta = chunk.metadata
        assert WRAPPED_FAQ[meta["start"] : meta["end"]] == chunk.page_content
        units = decode(meta["units"], meta["start"])
        assert encode(units, meta["start"]) == meta["units"]
    assert any(c.metadata["headings"] == "TIMETABLE" for c in chunks)
    found = candidates(chunks)
    assert found and all(c.kind in ANSWER_KINDS for c in found)
    texts = [c.text for c in found]
    assert not any(t.endswith("?") or t.startswith(("TIMETABLE", "Frequently")) for t in texts)
    sunday = next(c for c in found if c.text.startswith("Yes."))
    assert sunday.kind == "answer" and sunday.opens_block
    assert sunday.previous == "1. Does the ferry run on Sundays?"  # its question, for context


@pytest.mark.parametrize("text", ["", "\n\n", "x", "# only a heading\n", "?\n\n!"])
def test_odd_texts_chunk_without_error(text: str) -> None:
    document = Document(page_content=text, metadata={"source": "x.txt", "title": "x"})
    for chunk in chunk_document(document, make_chunker(50, 10)):
        assert text[chunk.metadata["start"] : chunk.metadata["end"]] == chunk.page_content


def test_faq_answers_wrapped_sentences_and_examples_end_to_end(service, data_dirs: Path) -> None:
    (data_dirs / "ferry.txt").write_text(WRAPPED_FAQ, encoding="utf-8")
    service.library.ingest(progress=False)
    sunday = service.ask("Does the ferry run on Sundays?")
    assert sunday.citations and sunday.citations[0].quote.startswith("Yes.")
    assert sunday.short_answer in (None, "Yes")  # "Yes" only when the sentence is sure
    assert_quotes_reproduce(sunday)
    bikes = service.ask("Where must bicycles be chained?")
    quote = bikes.citations[0].quote
    assert "blue wheel" in quote and "\n" in quote  # one sentence over three lines
    assert bikes.text == display(quote) + " [1]"  # shown with its white space normalised
    for question in ("TIMETABLE", "Does the ferry run on Sundays"):
        asked = service.ask(question)
        assert all(not c.quote.rstrip().endswith("?") for c in asked.citations)
    documents = service.library.documents()
    assert service.library.example_questions(documents) == ["Does the ferry run on Sundays?"]


def test_real_word_and_pdf_files_from_tika_read_as_blocks() -> None:
    word = extract(DOCUMENTS / "testWORD.docx")
    found = [(b.kind, word.text[b.start : b.end]) for b in word.blocks]
    assert found[0] == ("title", "Sample Word Document Title")  # the Title style
    assert word.title == "Sample Word Document"  # Word's title property comes first
    assert ("heading", "Heading Level 2") in found
    assert ("row", "This is a table") in found  # one column: no header row
    assert ("row", "The table has things in it") in found
    pdf = extract(DOCUMENTS / "testPDFVarious.pdf")
    items = [pdf.text[b.start : b.end] for b in pdf.blocks if b.kind == "item"]
    assert len(items) >= 3 and items[0].startswith("1)")


def test_faq_entries_and_introduced_lines(tmp_path: Path) -> None:
    path = tmp_path / "faq.txt"
    path.write_text(
        "1. Is the pier open at night?\n\n    No.  It closes at dusk.\n\n"
        "2. Can I fish from the pier?\n\n    Yes, with a permit.\n\n"
        "3. Does the cafe take cards?\n\n    Yes, all of them.\n\n"
        "4. I need a permit for my boat.\n\n    Ask the harbour master.\n\n"
        "To moor overnight, add this line to your booking:\n\n    Overnight berth\n\n"
        "The booking is then confirmed by e-mail.\n",
        encoding="utf-8",
    )
    found = kinds(path)
    assert ("question", 1, "4. I need a permit for my boat.") in found  # an entry, as its FAQ
    assert ("answer", 0, "Overnight berth") in found  # introduced by a colon: not a heading
