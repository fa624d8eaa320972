"""Local servers run as subprocesses on loopback (Chroma, llama.cpp), stopped by PID."""

import socket
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_delay, wait_fixed


class NotYet(Exception):
    """A server is still starting."""


def wait_until(
    ready: Callable[[], bool], server: subprocess.Popen, seconds: float, what: str
) -> None:
    """Ask `ready()` every 0.2 s until it is true; a server that exits, or is not ready within
    `seconds`, is a RuntimeError naming `what`."""

    def check() -> None:
        if ready():
            return
        if server.poll() is not None:
            raise RuntimeError(f"{what} did not start (exit code {server.poll()})")
        raise NotYet

    retrying = Retrying(
        retry=retry_if_exception_type(NotYet), stop=stop_after_delay(seconds), wait=wait_fixed(0.2)
    )
    try:
        for attempt in retrying:
            with attempt:
                check()
    except RetryError:
        raise RuntimeError(f"{what} did not start within {seconds:g} s") from None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def local_server(
    command: list[str], ready_url: str, env: dict | None = None
) -> Iterator[subprocess.Popen]:
    """Run a server until `ready_url` answers 200, yield its process, and stop it by PID."""
    import httpx

    server = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )

    def answers() -> bool:
        try:
            return httpx.get(ready_url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(answers, server, 120, command[0])
        yield server
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:  # it ignored the request: stop it for sure
            server.kill()
            server.wait(timeout=30)


def postgres_bin(name: str) -> str:
    """A PostgreSQL server program (initdb, postgres) from Debian's packages, newest first."""
    import glob
    import shutil

    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    path = found[0] if found else shutil.which(name)
    if not path:
        raise RuntimeError(f"{name} not found: install Debian's postgresql package")
    return path


@contextmanager
def postgres_server(port: int | None = None) -> Iterator[str]:
    """A throwaway PostgreSQL cluster on 127.0.0.1 (initdb in a temporary folder), yielding
    its URL; stopped by PID and removed. As root it runs as the `postgres` user, since
    PostgreSQL refuses to run as root."""
    import os
    import shutil
    import tempfile

    user = "postgres" if os.geteuid() == 0 else None
    folder = tempfile.mkdtemp(prefix="qa-postgres-")  # not under pytest's root-only folders
    if user:
        shutil.chown(folder, user)
    data, port = os.path.join(folder, "data"), port or free_port()
    try:
        subprocess.run(
            [postgres_bin("initdb"), "-D", data, "-U", "qa", "--auth=trust", "-E", "UTF8"],
            user=user,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        server = subprocess.Popen(
            # fsync off: a throwaway cluster; crash safety of qa is tested, not of PostgreSQL
            [postgres_bin("postgres"), "-D", data, "-h", "127.0.0.1", "-p", str(port),
             "-k", "", "-c", "fsync=off", "-c", "synchronous_commit=off"],
            user=user,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip

        def listens() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return True
            except OSError:
                return False

        try:
            wait_until(listens, server, 60, "postgres")
            url = f"postgresql://qa@127.0.0.1:{port}/postgres"
            _wait_for_postgres(url)
            yield url
        finally:
            server.terminate()  # SIGTERM: PostgreSQL's smart shutdown
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=30)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _wait_for_postgres(url: str) -> None:
    """Until the server accepts a query (it listens a moment before it is ready)."""
    import psycopg

    retrying = Retrying(
        retry=retry_if_exception_type(psycopg.OperationalError),
        stop=stop_after_delay(60),
        wait=wait_fixed(0.2),
        reraise=True,
    )
    for attempt in retrying:
        with attempt, psycopg.connect(url, connect_timeout=2) as db:
            db.execute("SELECT 1")


def ui_event(url: str, elem_id: str, data: list, trigger: str = "click") -> dict:
    """Call a served qa's UI event (the one component `elem_id` triggers) as a raw HTTP client
    would: join Gradio's queue, read the event's stream; the completed message."""
    import json
    import uuid

    import httpx

    config = httpx.get(f"{url}/config").json()
    component = next(c for c in config["components"] if c["props"].get("elem_id") == elem_id)
    target = [component["id"], trigger]
    dependency = next(d for d in config["dependencies"] if target in d["targets"])
    session = uuid.uuid4().hex[:12]
    body = {
        "data": data,
        "fn_index": dependency["id"],
        "session_hash": session,
        "trigger_id": component["id"],
        "event_data": None,
    }
    httpx.post(f"{url}/gradio_api/queue/join", json=body).raise_for_status()
    with httpx.stream(
        "GET", f"{url}/gradio_api/queue/data", params={"session_hash": session}, timeout=300
    ) as stream:
        for line in stream.iter_lines():
            message = json.loads(line[5:]) if line.startswith("data:") else {}
            if message.get("msg") == "process_completed":
                return message
    raise RuntimeError(f"the {elem_id} event never completed")


def call_ask(url: str, data: object) -> tuple[int, str]:
    """Gradio's /ask as a raw client calls it (a call, then its result stream): the status
    and text of the stream, or of the refused call."""
    import httpx

    started = httpx.post(f"{url}/gradio_api/call/ask", json={"data": data}, timeout=60)
    if started.status_code != 200:
        return started.status_code, started.text
    event_id = started.json()["event_id"]
    result = httpx.get(f"{url}/gradio_api/call/ask/{event_id}", timeout=120)
    return result.status_code, result.text


def rss_mb(pid: int) -> float:
    """A process's resident memory, in MB."""
    import re
    from pathlib import Path

    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"VmRSS:\s+(\d+)", status)
    assert found is not None, f"no VmRSS for process {pid}"
    return int(found.group(1)) / 1024


def cpu_seconds(pid: int) -> float:
    """CPU time a process has used (user and system)."""
    import os
    from pathlib import Path

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
