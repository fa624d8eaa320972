"""Readers for e-mail: .eml (the standard library's email package) and Outlook .msg (olefile,
BSD: the message's properties are streams of an OLE file; extract-msg, which wraps the same,
is GPL). Subject, sender, recipients and date come first, then the body; readable
attachments travel out as files of their own, indexed as documents naming their message."""

import datetime
import email
import email.policy
import mimetypes
import re
import struct
from collections.abc import Sequence
from email.message import EmailMessage, Message
from pathlib import Path

from qa.ingest.extracted import Extracted, UnreadableFile
from qa.ingest.structure import answers_after_questions, plain_blocks
from qa.ingest.writer import BlockText, html_soup
from qa.text.sentences import wrap_width

MOST_ATTACHMENTS = 50


def _write_header(out: BlockText, subject: str, fields: list[tuple[str, str]]) -> None:
    if subject.strip():
        out.add("title", subject, 1)
    for name, value in fields:
        if value and value.strip():
            out.add("paragraph", f"{name}: {value}")


def _write_plain(out: BlockText, body: str) -> None:
    body = body.replace("\r\n", "\n")
    for block in plain_blocks(body, wrap_width(body)):
        out.add(block.kind, body[block.start : block.end], block.level)


def _write_html(out: BlockText, raw: bytes | str) -> None:
    soup = html_soup(raw.encode() if isinstance(raw, str) else raw)
    for tag in soup(["script", "style", "head"]):
        tag.decompose()
    out.walk(soup.body or soup)
    out.flush("paragraph")
    out.flush_term()


def extract_eml(path: Path, max_bytes: int | None = None) -> Extracted:
    """A MIME message: its headers, its text (plain preferred to HTML) and its attachments."""
    with open(path, "rb") as handle:
        message = email.message_from_binary_file(handle, policy=email.policy.default)
    if not isinstance(message, EmailMessage) or not (message["From"] or message["Subject"]):
        raise UnreadableFile("it is not an e-mail message (no sender or subject)")
    subject = str(message["Subject"] or "")
    out = BlockText()
    _write_header(
        out,
        subject,
        [(n, str(message[n] or "")) for n in ("From", "To", "Cc", "Date")],
    )
    body = message.get_body(preferencelist=("plain", "html"))
    if body is not None:
        try:
            content = body.get_content()
        except (LookupError, ValueError):  # an unknown charset
            payload = body.get_payload(decode=True)
            content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
        if body.get_content_subtype() == "html":
            _write_html(out, content)
        else:
            _write_plain(out, content)
    found = [named(part, n) for n, part in enumerate(message.iter_attachments(), start=1)]
    return _message(out, subject, found)


def _message(out: BlockText, subject: str, found: Sequence[tuple[str, bytes]]) -> Extracted:
    """A message read: its text and blocks, the subject as title, its attachments."""
    return Extracted(
        out.text(),
        subject or None,
        blocks=answers_after_questions(out.blocks),
        attachments=kept(found),
        meta=attachment_meta(subject, found),
    )


def named(part: EmailMessage, n: int) -> tuple[str, bytes]:
    """An attachment's file name and content: a forwarded message (message/rfc822) as an
    .eml named by its subject; a part without a name by its number and type."""
    if part.get_content_type() == "message/rfc822":
        inner = part.get_payload(0) if part.is_multipart() else None
        forwarded = inner if isinstance(inner, Message) else None
        data = forwarded.as_bytes() if forwarded is not None else b""
        title = (forwarded["Subject"] if forwarded is not None else None) or "forwarded message"
        name = part.get_filename() or f"{_safe(str(title))}.eml"
        return Path(name).name, data
    payload = part.get_payload(decode=True)
    extension = mimetypes.guess_extension(part.get_content_type()) or ""
    name = part.get_filename() or f"attachment {n}{extension}"
    return Path(name).name, payload if isinstance(payload, bytes) else b""


def _safe(title: str) -> str:
    return re.sub(r"[\\/:*?\"<>|\x00-\x1f]+", " ", title).strip()[:80] or "message"


def kept(found: Sequence[tuple[str, bytes]]) -> list[tuple[str, bytes | str]]:
    """The first MOST_ATTACHMENTS attachments with content."""
    chosen: list[tuple[str, bytes | str]] = [(name, data) for name, data in found if data]
    return chosen[:MOST_ATTACHMENTS]


def attachment_meta(subject: str, found: Sequence[tuple[str, bytes]]) -> dict[str, str]:
    meta = {"message": subject} if subject else {}
    left = sum(1 for _, data in found if data) - MOST_ATTACHMENTS
    if left > 0:
        meta["attachments_left"] = str(left)
    return meta


def extract_msg(path: Path, max_bytes: int | None = None) -> Extracted:
    """An Outlook message: subject, sender, recipients, date, body (plain, else HTML) and
    attachments, read from its OLE streams."""
    import olefile

    if not olefile.isOleFile(str(path)):
        raise UnreadableFile("it is not a readable Outlook message (not an OLE file)")
    try:
        ole = olefile.OleFileIO(str(path))
    except OSError:
        raise UnreadableFile("it is not a readable Outlook message (damaged)") from None
    with ole:

        def text(prop: str, storage: str = "") -> str:
            prefix = f"{storage}/" if storage else ""
            for kind, encoding in (("001F", "utf-16-le"), ("001E", "cp1252")):
                name = f"{prefix}__substg1.0_{prop}{kind}"
                if ole.exists(name):
                    return ole.openstream(name).read().decode(encoding, "replace").rstrip("\x00")
            return ""

        subject = text("0037")
        sender = text("0C1A")
        address = text("5D01") or text("0C1F")
        if address and address not in sender:
            sender = f"{sender} <{address}>" if sender else address
        headers = text("007D")
        date = (
            match.group(1).strip()
            if (match := re.search(r"^Date:(.*)$", headers, re.M))
            else _submit_time(ole)
        )
        out = BlockText()
        _write_header(
            out, subject, [("From", sender), ("To", text("0E04")), ("Cc", text("0E03")),
                           ("Date", date)]
        )  # fmt: skip
        body = text("1000")
        if body.strip():
            _write_plain(out, body)
        elif ole.exists("__substg1.0_10130102"):
            _write_html(out, ole.openstream("__substg1.0_10130102").read())
        found: list[tuple[str, bytes]] = []
        storages = {entry[0] for entry in ole.listdir() if entry[0].startswith("__attach_")}
        for n, storage in enumerate(sorted(storages), start=1):
            name = text("3707", storage) or text("3704", storage) or f"attachment {n}"
            data = f"{storage}/__substg1.0_37010102"
            if ole.exists(data):
                found.append((Path(name).name, ole.openstream(data).read()))
    return _message(out, subject, found)


def _submit_time(ole) -> str:
    """PR_CLIENT_SUBMIT_TIME from the message's fixed-size properties (a FILETIME)."""
    if not ole.exists("__properties_version1.0"):
        return ""
    data = ole.openstream("__properties_version1.0").read()
    for at in range(32, len(data) - 15, 16):
        kind, prop = struct.unpack_from("<HH", data, at)
        if prop == 0x0039 and kind == 0x0040:
            (ticks,) = struct.unpack_from("<Q", data, at + 8)
            moment = datetime.datetime(1601, 1, 1) + datetime.timedelta(microseconds=ticks // 10)
            return moment.strftime("%Y-%m-%d %H:%M UTC")
    return ""
