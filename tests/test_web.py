"""Web pages into the corpus (`qa add`, `qa ingest --refresh-web`), fetched from a real
HTTP server on 127.0.0.1, and the address rule that keeps private addresses out."""

import re
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from qa.core.errors import InputError
from qa.ingest import fetch as fetching
from qa.interfaces.cli import SKIPPED_FILES_EXIT, main

BOILERPLATE = """<nav><ul><li><a href="/">Home</a></li><li><a href="/about">About the
harbour office</a></li><li><a href="/contact">Contact</a></li></ul></nav>
<header><p class="site">Harbour News</p></header>"""
FOOTER = """<footer><p>Copyright 2026 Harbour News. All rights reserved.</p>
<p>Privacy policy · Cookie settings · Subscribe to the newsletter</p></footer>"""
FERRY = (
    "The night ferry to Lindholm island leaves the harbour at 22:40 every weekday, the harbour "
    "master announced on Monday. It was moved from 23:15 because of the new tide schedule."
)
BIKES = (
    "Passengers should arrive ten minutes before departure. Bicycles are carried free of "
    "charge on every crossing, and dogs travel free on a lead."
)
CARS = "Since March the night ferry also carries cars: a car ticket costs 19 euros each way."


def article(*paragraphs: str) -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Harbour News: night ferries'
        f"</title></head><body>{BOILERPLATE}<main><article><h1>Night ferry times &amp; fares</h1>"
        f"{body}<h2>Departures</h2><ul><li>Weekdays: 22:40</li><li>Saturdays: 23:55</li></ul>"
        f"</article></main>{FOOTER}</body></html>"
    )


class Site:
    """A folder served over HTTP on 127.0.0.1, with a few paths that misbehave, and the
    paths it was asked for."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.requests = folder, []
        site = self

        class Handler(SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs) -> None:
                super().__init__(*args, directory=str(folder), **kwargs)

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                site.requests.append(self.path)
                if self.path.startswith("/go/"):  # /go/<n>/<target>: n redirects, then target
                    _, _, hops, target = self.path.split("/", 3)
                    rest = f"/go/{int(hops) - 1}/{target}" if int(hops) > 1 else f"/{target}"
                    self.send_response(302)
                    self.send_header("Location", rest)
                    self.end_headers()
                elif self.path.startswith("/away"):
                    self.send_response(301)
                    self.send_header("Location", f"http://127.0.0.2:{site.port}/article.html")
                    self.end_headers()
                elif self.path == "/endless":  # no Content-Length: read until the cap
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    self.end_headers()
                    try:
                        for _ in range(2000):
                            self.wfile.write(b"<p>" + b"words " * 10000 + b"</p>")
                    except OSError:  # the client stopped reading: what the test wants
                        pass
                    self.close_connection = True
                else:
                    super().do_GET()

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address) -> None:
                pass  # a client that stops reading (the size cap) is what some tests want

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    def put(self, name: str, text: str) -> str:
        (self.folder / name).write_text(text, encoding="utf-8")
        return self.url(name)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    folder = tmp_path / "site"
    folder.mkdir()
    served = Site(folder)
    served.put("article.html", article(FERRY, BIKES))
    yield served
    served.server.shutdown()
    served.server.server_close()


@pytest.fixture
def private_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_ALLOW_PRIVATE_URLS", "1")


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def one_error_line(result, code: int, fragment: str) -> str:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("qa: error:"), result.stderr
    assert fragment in lines[0] and "Traceback" not in result.output
    return lines[0]


def corpus_files(corpus: Path) -> list[Path]:
    return sorted(p for p in corpus.rglob("*") if p.is_file())


# the address rule, without connecting anywhere


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.1",
        "192.168.1.20",
        "172.16.0.5",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "224.0.0.251",
        "240.0.0.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "ff02::1",
    ],
)
def test_private_addresses_are_refused(address: str) -> None:
    with pytest.raises(InputError, match="resolves to a private address; set QA_ALLOW_PRIV"):
        fetching.check_addresses("example.test", [address])


@pytest.mark.parametrize("address", ["93.184.215.14", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_pass_the_check(address: str) -> None:
    fetching.check_addresses("example.test", [address])  # checked only; nothing connects


def test_a_name_is_refused_if_any_of_its_addresses_is_private() -> None:
    with pytest.raises(InputError, match=r"example.test \(10.0.0.7\) resolves to a private"):
        fetching.check_addresses("example.test", ["93.184.215.14", "10.0.0.7"])


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://localhost:9/page", "resolves to a private address"),  # refused before connecting
        ("http://[::1]:9/", "::1 resolves to a private address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 resolves to a private"),
        ("file:///etc/passwd", "not an http:// or https:// address"),
        ("ftp://example.org/notes.txt", "not an http:// or https:// address"),
        ("example.org/page", "not an http:// or https:// address"),
    ],
)
def test_bad_addresses_are_one_line_and_write_nothing(
    data_dirs: Path, url: str, fragment: str
) -> None:
    one_error_line(run("add", url), 2, fragment)
    assert corpus_files(data_dirs) == []


# a real server on 127.0.0.1


def test_the_local_server_is_refused_unless_allowed(site: Site, data_dirs: Path) -> None:
    url = site.url("article.html")
    line = one_error_line(run("add", url), 2, "127.0.0.1 resolves to a private address")
    assert line == (
        f"qa: error: {url}: 127.0.0.1 resolves to a private address; "
        "set QA_ALLOW_PRIVATE_URLS=1 to allow it"
    )
    assert site.requests == [] and corpus_files(data_dirs) == []


def test_a_redirect_to_a_private_address_is_refused(
    site: Site, data_dirs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the test server's own address stands in for a public one; every other stays private
    monkeypatch.setattr(fetching, "public", lambda address: address == "127.0.0.1")
    url = site.url("away")
    one_error_line(
        run("add", url),
        2,
        f"{url}: redirected to http://127.0.0.2:{site.port}/article.html: 127.0.0.2 resolves "
        "to a private address",
    )
    assert site.requests == ["/away"] and corpus_files(data_dirs) == []


@pytest.mark.usefixtures("private_allowed")
@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("notes.json", "it is application/json, not a web page"),
        ("missing.html", "the server answered 404"),
        ("go/6/article.html", "it redirects more than 5 times"),
    ],
)
def test_what_is_not_a_page_is_one_line(site: Site, data_dirs: Path, name: str, fragment: str):
    site.put("notes.json", '{"ferry": "22:40"}')
    one_error_line(run("add", site.url(name)), 2, fragment)
    assert corpus_files(data_dirs) == []


@pytest.mark.usefixtures("private_allowed")
@pytest.mark.parametrize("name", ["big.html", "endless"])
def test_an_oversized_page_is_refused_without_reading_it_all(
    site: Site, data_dirs: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv("QA_MAX_FILE_MB", "0.05")
    site.put("big.html", article(*[FERRY] * 400))  # about 80 KB, declared in Content-Length
    one_error_line(run("add", site.url(name)), 2, "larger than 0.05 MB (QA_MAX_FILE_MB)")
    assert corpus_files(data_dirs) == []


@pytest.mark.usefixtures("private_allowed")
def test_a_server_that_does_not_answer_in_time_is_one_line(
    data_dirs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    monkeypatch.setenv("QA_WEB_TIMEOUT", "0.5")
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        one_error_line(run("add", url), 5, "no answer within 0.5 s (QA_WEB_TIMEOUT)")
    assert corpus_files(data_dirs) == []


# added, indexed, answered, refreshed (the real models)


def test_an_added_page_is_saved_indexed_answered_and_refreshed(
    private_allowed: None, site: Site, data_dirs: Path, service
) -> None:
    from qa.interfaces.ui.chat import ChatHandlers
    from qa.interfaces.ui.documents import DocumentHandlers

    url = site.url("go/2/article.html")  # two redirects on the way
    added = run("add", url, "--no-progress")
    assert added.exit_code == 0, added.output
    saved = data_dirs / "web" / f"127.0.0.1_{site.port}" / "go-2-article.html"
    assert f"added: web/127.0.0.1_{site.port}/go-2-article.html" in added.stdout
    assert "“Night ferry times & fares”" in added.stdout and "indexed 1 file(s)" in added.stdout
    text = saved.read_text(encoding="utf-8")
    head = (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Night ferry times &amp; fares'
        f'</title><meta name="qa-url" content="{url}"><meta name="qa-fetched" content="'
    )
    assert text.startswith(head) and text.endswith("</body></html>")
    assert re.search(r'name="qa-fetched" content="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"', text)
    assert "22:40 every weekday" in text and "<li>Saturdays: 23:55</li>" in text
    assert "All rights reserved" not in text and "harbour office" not in text  # boilerplate

    answer = service.ask("When does the night ferry to Lindholm leave?")
    assert not answer.refused and "22:40" in answer.text
    cited = answer.citations[0]
    assert cited.source.endswith(f"web/127.0.0.1_{site.port}/go-2-article.html")
    assert cited.url == url  # citations show the page's address

    site.put("article.html", article(FERRY, CARS, BIKES))
    site.put("timetable.html", article(BIKES))
    assert run("add", site.url("timetable.html"), "--no-progress").exit_code == 0
    (site.folder / "timetable.html").unlink()  # gone from the server: its copy stays
    refreshed = run("ingest", "--refresh-web", "--no-progress")
    assert refreshed.exit_code == SKIPPED_FILES_EXIT, refreshed.output
    assert f"refreshed: web/127.0.0.1_{site.port}/go-2-article.html ({url})" in refreshed.stdout
    failed = [line for line in refreshed.stderr.splitlines() if "timetable" in line]
    assert len(failed) == 1 and "old copy is kept" in failed[0] and "404" in failed[0]
    assert (saved.parent / "timetable.html").is_file()
    answer = service.ask("How much does a car ticket cost on the night ferry?")
    assert not answer.refused and "19 euros" in answer.text
    assert answer.citations[0].url == url

    # the Documents tab's box: the same address again replaces its file, and says so
    chat = ChatHandlers(service)
    docs = DocumentHandlers(service, None, chat.welcome, chat.reopen)  # type: ignore[arg-type]
    status, *_, box = docs.add_web(url, None)
    assert f"Fetched {url} again" in status and "replaces its earlier copy" in status
    assert box == "" and len(list(saved.parent.glob("*.html"))) == 2
    status, *_ = docs.add_web(site.put("notes.json", "{}"), None)
    assert status.startswith("⚠️") and "not a web page" in status
