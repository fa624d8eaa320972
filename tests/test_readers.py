"""The readers of slides, spreadsheets, OpenDocument, e-books, e-mail, text markup and
scans, on Apache Tika's real test files and on copies of the seed article; the extraction
kept at ingest; and the flagship question asked of every copy."""

import email.message
import os
import shutil
import zipfile
from pathlib import Path

import pytest

from benchmarks.documents import write_copies
from qa.core.errors import SourceUnavailable
from qa.index.sqlite import LexicalIndex
from qa.ingest.chunking import chunk_document, location_at, make_chunker
from qa.ingest.corpus import SkippedFile, StoredTexts, load_corpus, source_extracted
from qa.ingest.formats import Extracted, UnreadableFile, extract
from qa.ingest.sandbox import Extraction
from qa.service import QAService
from qa.text.blocks import decode

from .conftest import ROOT, SEED

DOCUMENTS = ROOT.parent / "shared" / "data" / "documents"

# What Tika's own tests find in these files (its TestParsers and the files themselves)
KNOWN_TEXT = {
    "LibreOfficeWriter_odt_1.3.odt": "This is an example document",
    "LibreOfficeCalc_ods_1.3.ods": "This: 0; is: 1; an: 2",
    "testEPUB.epub": "This is the text for chapter One",
    "testEXCEL.xlsx": "Number: 4; Square: 16",
    "testCSV.csv": "Number: 4; Square: 16",
    "testMSG.msg": "MIME registry use cases",
    "testEmailWithPNGAtt.eml": "This email has a PNG attachment included in it",
    "testPPT.pptx": "Different words to test against",
    "testWORD_text_box.docx": "This text is inside of a text box in the body of the document.",
}
REASONS = {
    "testODTEncrypted.odt": "password-protected",
    "testODTnotaZipFile.odt": "not a readable OpenDocument file",
    "testWORD_protected_passtika.docx": "password-protected",
    "testWORD_truncated.docx": "not a readable Word file",
}
SCANS = {  # read by OCR
    "testOCR.png": "This file contains some words.",
    "testOCR_spacing.png": "The quick brown fox",
    "testRotated+10.png": "Afford relied warmth",
    "testOCR.pdf": "Happy New Year 2003",
    "testOCR.docx": "Happy New Year 2003",
    "testOCR.pptx": "Happy New Year 2003",
    "testTIFF_multipage.tif": "Page 2",
}


def shared(name: str) -> Path:
    path = DOCUMENTS / name
    if not path.is_file():
        pytest.skip(f"{path} is not on this machine")
    return path


@pytest.mark.parametrize("name", sorted(KNOWN_TEXT))
def test_tika_files_give_their_known_text(name: str) -> None:
    extracted = extract(shared(name))
    assert KNOWN_TEXT[name] in extracted.text
    for block in extracted.blocks:  # every block is located in the text
        assert extracted.text[block.start : block.end].strip()


@pytest.mark.parametrize("name", sorted(REASONS))
def test_broken_and_protected_files_give_one_line_reasons(name: str) -> None:
    with pytest.raises(UnreadableFile) as caught:
        extract(shared(name))
    assert REASONS[name] in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.slow
def test_every_shared_document_gives_text_or_a_reason() -> None:
    """The whole folder, through the sandbox as `qa ingest` reads it, OCR included."""
    with Extraction(120) as read:
        for path in sorted(DOCUMENTS.glob("test*")) + sorted(DOCUMENTS.glob("Libre*")):
            try:
                extracted = read(path, 50 * 2**20)
            except UnreadableFile as exc:
                assert path.name in REASONS, f"{path.name}: {exc}"
                continue
            assert extracted.text.strip(), path.name
            if path.name in SCANS:
                assert SCANS[path.name] in extracted.text, extracted.text


def test_rows_keep_their_headers_and_say_where_they_stand(tmp_path: Path) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Sanctions"
    sheet.append(["EU sanctions by country"])
    sheet.append(["Country", "Entities", "Since"])
    sheet.append(["Belarus", 15, "2021-06-25"])
    sheet.append(["Russia", 1700, None])
    book.create_sheet("Notes").append(["Compiled from the news."])
    book.save(tmp_path / "t.xlsx")
    extracted = extract(tmp_path / "t.xlsx")
    rows = [extracted.text[b.start : b.end] for b in extracted.blocks if b.kind == "row"]
    assert rows == [
        "Country: Belarus; Entities: 15; Since: 2021-06-25",
        "Country: Russia; Entities: 1700",
        "Compiled from the news.",
    ]
    belarus = extracted.text.index("Country: Belarus")
    chunks = chunk_document(as_document(extracted), make_chunker(800, 120))
    chunk = chunks[0]

    def where(offset: int) -> str | None:
        holding = next(c for c in chunks if c.metadata["start"] <= offset < c.metadata["end"])
        return location_at(holding.metadata, offset)

    assert where(belarus) == "Sanctions, row 3"
    assert where(extracted.text.index("Russia")) == "Sanctions, row 4"
    assert where(extracted.text.index("Compiled")) == "Notes, row 1"
    units = decode(chunk.metadata["units"], chunk.metadata["start"])
    assert any(u.kind == "row" and u.start == belarus for u in units)  # a row is one unit

    (tmp_path / "t.tsv").write_text("Country\tEntities\nBelarus\t15\n", encoding="utf-8")
    assert "Country: Belarus; Entities: 15" in extract(tmp_path / "t.tsv").text
    (tmp_path / "s.csv").write_text("a;b\n1;2\n", encoding="utf-8")
    assert "a: 1; b: 2" in extract(tmp_path / "s.csv").text  # the delimiter is sniffed


def as_document(extracted: Extracted):
    from qa.ingest.corpus import as_document as make

    return make(extracted, "t.xlsx", Path("t.xlsx"), "0" * 64)


def test_text_markup_is_read_as_blocks(tmp_path: Path) -> None:
    rst = (
        "=====\nGuide\n=====\n\nInstall\n-------\n\nRun this::\n\n    make install\n\n"
        ".. note:: Not a sentence.\n\n- first item\n- second item\n"
    )
    org = (
        "#+TITLE: Guide\n* Install\nRun it.\n#+BEGIN_SRC sh\nmake install\n#+END_SRC\n"
        "** Options\n- one\n"
    )
    adoc = (
        "= Guide\n:toc:\n\n== Install\n\nRun it.\n\n----\nmake install\n----\n\n"
        "|===\n|Name |Value\n\n|size |10\n|===\n"
    )
    found = {}
    for suffix, text in ((".rst", rst), (".org", org), (".adoc", adoc)):
        path = tmp_path / f"guide{suffix}"
        path.write_text(text, encoding="utf-8")
        extracted = extract(path)
        assert extracted.text == text  # stored as it is
        found[suffix] = [(b.kind, text[b.start : b.end], b.level) for b in extracted.blocks]
    assert ("heading", "Install", 2) in found[".rst"]
    assert ("code", "make install", 0) in found[".rst"]
    assert ("furniture", ".. note:: Not a sentence.", 0) in found[".rst"]
    assert ("item", "- first item", 0) in found[".rst"]
    assert found[".org"][0][:2] == ("title", "Guide")
    assert ("heading", "Options", 2) in found[".org"]
    assert ("code", "make install", 0) in found[".org"]
    assert found[".adoc"][0][:2] == ("title", "Guide")
    assert ("heading", "Install", 1) in found[".adoc"]
    assert ("code", "make install", 0) in found[".adoc"]
    assert ("table_header", "|Name |Value", 0) in found[".adoc"]
    assert ("furniture", ":toc:", 0) in found[".adoc"]


def test_legacy_and_oversized_office_files_say_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "old.doc").write_bytes(b"\xd0\xcf\x11\xe0 not really")
    with pytest.raises(UnreadableFile, match=r"save it as \.docx"):
        extract(tmp_path / "old.doc")
    bomb = tmp_path / "bomb.ods"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("content.xml", " " * (3 * 2**20))
    with pytest.raises(UnreadableFile, match="unpacks to 3 MB, over the 1 MB limit"):
        extract(bomb, max_bytes=2**20)


def test_an_attachment_is_a_document_that_names_its_message(tmp_path: Path) -> None:
    corpus = tmp_path / "mail"
    corpus.mkdir()
    message = email.message.EmailMessage()
    message["Subject"] = "Harbour minutes"
    message["From"] = "clerk@example.org"
    message.set_content("The minutes are attached.")
    message.add_attachment("The harbour opens at dawn.", subtype="plain", filename="minutes.txt")
    message.add_attachment(b"\x00\x01", maintype="application", subtype="x-bin", filename="a.bin")
    (corpus / "minutes.eml").write_bytes(bytes(message))
    texts, skipped = StoredTexts(LexicalIndex(tmp_path / "index" / "lexical.sqlite3")), []
    documents = list(load_corpus(corpus, skipped, texts=texts))
    assert [d.metadata["source"] for d in documents] == [
        "minutes.eml",
        "minutes.eml#minutes.txt",
    ]
    attached = documents[1]
    assert attached.page_content.strip() == "The harbour opens at dawn."
    assert attached.metadata["attached_to"] == "minutes.eml"
    assert "attached to Harbour minutes" in attached.metadata["title"]
    assert "From: clerk@example.org" in documents[0].page_content
    assert skipped == []  # the .bin attachment is not a document, not a failure
    # its text is the stored one, and the message changing says so
    meta = chunk_document(attached, make_chunker(800, 120))[0].metadata
    stored = source_extracted(corpus, meta["source"], None, texts, meta)
    assert stored.text == attached.page_content
    (corpus / "minutes.eml").write_bytes(bytes(message).replace(b"dawn", b"dusk"))
    with pytest.raises(SourceUnavailable, match="changed since it was indexed"):
        source_extracted(corpus, meta["source"], None, texts, meta)


def test_a_file_is_extracted_once_and_its_text_kept(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    write_copies(SEED[0].read_text(encoding="utf-8"), corpus, ["article.odt"])
    texts = StoredTexts(LexicalIndex(tmp_path / "index" / "lexical.sqlite3"))
    calls: list[Path] = []

    def read(path: Path, max_bytes: int | None = None) -> Extracted:
        calls.append(path)
        return extract(path, max_bytes)

    from qa.ingest.corpus import load_file

    first = load_file(corpus / "article.odt", corpus, None, read, texts)
    again = load_file(corpus / "article.odt", corpus, None, read, texts)
    assert len(calls) == 1 and again.page_content == first.page_content
    assert again.metadata["blocks"] == first.metadata["blocks"]
    meta = chunk_document(first, make_chunker(800, 120))[0].metadata
    assert source_extracted(corpus, "article.odt", None, texts, meta).text == first.page_content
    with zipfile.ZipFile(corpus / "article.odt", "a") as package:  # any change to the file
        package.writestr("extra.xml", "<x/>")
    with pytest.raises(SourceUnavailable, match="changed since it was indexed"):
        source_extracted(corpus, "article.odt", None, texts, meta)


@pytest.mark.slow
def test_a_scan_reports_each_page_and_keeps_word_boxes(tmp_path: Path) -> None:
    pages: list[tuple[int, int]] = []
    with Extraction(60, on_page=lambda path, done, total: pages.append((done, total))) as read:
        extracted = read(shared("testTIFF_multipage.tif"), None)
    assert pages[-1] == (2, 2) and len(extracted.page_starts) == 2
    for scan in extracted.scans:
        for start, end, x0, y0, x1, y1 in scan["words"]:
            assert extracted.text[start:end].strip() and 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1


FLAGSHIP = "When did EU sectoral sanctions start?"
PLACES = {
    "scanned.pdf": "page 1",
    "slides.pptx": "slide 10",
    "message.eml": None,
    "book.epub": "chapter 2",
    "article.odt": None,
    "sheet.xlsx": "Sentences, row 16",
}


def test_the_flagship_question_is_answered_from_every_copy(
    service: QAService, data_dirs: Path, tmp_path: Path
) -> None:
    """Each copy of the seed article alone in the corpus: the 25 June sentence is quoted, with
    its page, slide, chapter or row, and the quote is the stored text at its offsets."""
    copies = write_copies(SEED[0].read_text(encoding="utf-8"), tmp_path / "copies")
    for copy in copies:
        for old in data_dirs.iterdir():
            old.unlink()
        shutil.copy(copy, data_dirs / copy.name)
        service.library.ingest(progress=False)
        answer = service.ask(FLAGSHIP)
        assert not answer.refused, copy.name
        citation = answer.citations[0]
        assert "25 June" in citation.quote, (copy.name, citation.quote)
        where = citation.where or (f"page {citation.page}" if citation.page else None)
        assert where == PLACES[copy.name], (copy.name, where)
        _, text = service.library.document_text(copy.name)
        assert text[citation.start : citation.end] == citation.quote


def test_opendocument_slides_are_cited_by_slide(tmp_path: Path) -> None:
    ns = (
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
        'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
        'xmlns:presentation="urn:oasis:names:tc:opendocument:xmlns:presentation:1.0"'
    )

    def slide(name: str, title: str, body: str, notes: str) -> str:
        return (
            f'<draw:page draw:name="{name}"><draw:frame><draw:text-box><text:h>{title}</text:h>'
            f"</draw:text-box></draw:frame><draw:frame><draw:text-box><text:list><text:list-item>"
            f"<text:p>{body}</text:p></text:list-item></text:list></draw:text-box></draw:frame>"
            f"<presentation:notes><draw:frame><draw:text-box><text:p>{notes}</text:p>"
            "</draw:text-box></draw:frame></presentation:notes></draw:page>"
        )

    content = (
        f'<?xml version="1.0"?><office:document-content {ns}><office:body><office:presentation>'
        + slide("one", "Harbour", "Boats moor here.", "Say hello.")
        + slide("two", "Tides", "The tide turns at noon.", "Mention the moon.")
        + "</office:presentation></office:body></office:document-content>"
    )
    with zipfile.ZipFile(tmp_path / "deck.odp", "w") as package:
        package.writestr("mimetype", "application/vnd.oasis.opendocument.presentation")
        package.writestr("content.xml", content)
    extracted = extract(tmp_path / "deck.odp")
    kinds = [(b.kind, extracted.text[b.start : b.end]) for b in extracted.blocks]
    assert ("item", "The tide turns at noon.") in kinds and ("heading", "Speaker notes") in kinds
    noon = extracted.text.index("The tide")
    assert [label for at, label in extracted.locations if at <= noon][-1] == "slide 2"
    assert extracted.locations[0] == (0, "slide 1")


def test_forwarded_unnamed_many_and_failed_attachments_are_all_accounted_for(
    tmp_path: Path,
) -> None:
    """A forwarded message is read with its own attachment; a part without a name is named;
    attachments over the limit, and one that cannot be read, are named on every ingest."""
    from qa.ingest.mail import MOST_ATTACHMENTS

    corpus = tmp_path / "mail"
    corpus.mkdir()
    forwarded = email.message.EmailMessage()
    forwarded["Subject"] = "Vault"
    forwarded["From"] = "keeper@example.org"
    forwarded.set_content("The vault code is 4417.")
    forwarded.add_attachment("The spare key hangs by the door.", filename="key.txt")
    outer = email.message.EmailMessage()
    outer["Subject"] = "Fwd: Vault"
    outer["From"] = "clerk@example.org"
    outer.set_content("See below.")
    outer.add_attachment(forwarded)
    outer.add_attachment(b"The tide turns at noon.", maintype="text", subtype="plain")
    outer.add_attachment("First copy.", filename="same.txt")
    outer.add_attachment("Second copy.", filename="same.txt")
    outer.add_attachment(b"PK broken", maintype="application", subtype="zip", filename="b.docx")
    for n in range(MOST_ATTACHMENTS):
        outer.add_attachment(f"Note {n}.", filename=f"n{n}.txt")
    (corpus / "fwd.eml").write_bytes(bytes(outer))
    texts = StoredTexts(LexicalIndex(tmp_path / "index" / "lexical.sqlite3"))
    for run in (1, 2):  # the second ingest takes the message from the stored texts
        skipped: list[SkippedFile] = []
        found = {d.metadata["source"]: d for d in load_corpus(corpus, skipped, texts=texts)}
        assert "The vault code is 4417." in found["fwd.eml#Vault.eml"].page_content, run
        key = found["fwd.eml#Vault.eml#key.txt"]
        assert key.page_content.startswith("The spare key") and key.metadata["attached_to"] == (
            "fwd.eml"
        )
        assert found["fwd.eml#attachment 2.txt"].page_content.startswith("The tide"), run
        assert found["fwd.eml#same.txt"].page_content.startswith("First")
        assert found["fwd.eml#same (2).txt"].page_content.startswith("Second")
        reasons = {s.path: s.reason for s in skipped}
        assert "not a readable Word file" in reasons["fwd.eml#b.docx"], run
        assert reasons["fwd.eml"].startswith("its last 5 attachment(s) are not read"), run


def test_a_windows_csv_and_a_long_cell_are_read(tmp_path: Path) -> None:
    (tmp_path / "w.csv").write_bytes("Café,Price\nCrème,2 €\n".encode("cp1252"))
    assert "Café: Crème; Price: 2 €" in extract(tmp_path / "w.csv").text
    (tmp_path / "long.csv").write_text("a,b\n1," + "x" * 300_000 + "\n", encoding="utf-8")
    assert len(extract(tmp_path / "long.csv").text) > 300_000


def test_a_pipe_in_the_corpus_is_named_not_read(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.txt")
    with pytest.raises(UnreadableFile, match="not a regular file"):
        extract(tmp_path / "pipe.txt")
    os.mkfifo(tmp_path / "pipe.pdf")  # hashed before it is read: never opened
    skipped: list[SkippedFile] = []
    assert list(load_corpus(tmp_path, skipped)) == []
    assert {s.reason for s in skipped} == {"it is not a regular file (a pipe, socket or device)"}
