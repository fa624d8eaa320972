"""A shared index: qa processes with their own QA_INDEX_DIR over one `chroma run` server and
one PostgreSQL server (a throwaway cluster from Debian's postgresql), both on 127.0.0.1 and
stopped by PID."""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from langchain_core.documents import Document

from benchmarks.servers import postgres_server
from qa.core.errors import BackendError
from qa.core.settings import Settings
from qa.index import lexical, postgres
from qa.index.postgres import IngestLock, PostgresIndex
from qa.index.store import open_store, record_manager

from .conftest import SEED, free_port, local_server, seed_chunks
from .test_crash import wait_for_progress, write_corpus

pytestmark = pytest.mark.slow
QUESTION = "When did EU sectoral sanctions start?"
PENGUINS = "# Penguins\n\nEmperor penguins breed during the Antarctic winter on sea ice.\n"


@pytest.fixture(scope="module")
def servers(tmp_path_factory) -> dict:
    """One Chroma server and one PostgreSQL server for the module's tests."""
    chroma = Path(sys.executable).parent / "chroma"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    folder = tmp_path_factory.mktemp("chroma")
    command = [str(chroma), "run", "--path", str(folder), "--host", "127.0.0.1"]
    with (
        postgres_server() as database,
        local_server([*command, "--port", str(port)], f"{url}/api/v2/heartbeat"),
    ):
        yield {"QA_CHROMA_URL": url, "QA_DATABASE_URL": database}


def machine(root: Path, name: str, servers: dict, collection: str) -> dict:
    """The environment of one qa machine: its own index folder, the shared corpus and servers."""
    return {
        **os.environ,
        **servers,
        "QA_CORPUS_DIR": str(root / "corpus"),
        "QA_INDEX_DIR": str(root / name),
        "QA_COLLECTION": collection,
        "QA_ENGINE": "sentence",
    }


def qa(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "qa", *args], env=env, capture_output=True, text=True
    )


def cited(env: dict, question: str) -> list[dict]:
    done = qa(env, "ask", "--json", question)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    return [{k: c[k] for k in ("source", "start", "end", "quote")} for c in answer["citations"]]


def shared_state(servers: dict, collection: str) -> tuple[list, list, list]:
    """Chunk ids of the vectors, the lexical rows and the records, sorted, repeats kept."""
    settings = Settings(
        chroma_url=servers["QA_CHROMA_URL"],
        database_url=servers["QA_DATABASE_URL"],
        collection=collection,
    )
    from qa.index.store import chroma_client

    dense = chroma_client(settings).get_collection(collection).get(include=[])["ids"]
    with psycopg.connect(servers["QA_DATABASE_URL"]) as db:
        lexical = [
            row[0]
            for row in db.execute("SELECT id FROM qa_chunks WHERE collection = %s", (collection,))
        ]
    records = record_manager(settings).list_keys()
    return sorted(dense), sorted(lexical), sorted(records)


def test_two_machines_share_one_index_at_once(tmp_path: Path, servers: dict) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir(exist_ok=True)
    shutil.copy(SEED[0], corpus)
    (corpus / "penguins.md").write_text(PENGUINS, encoding="utf-8")
    a = machine(tmp_path, "a", servers, "two-machines")
    b = machine(tmp_path, "b", servers, "two-machines")

    ingested = qa(a, "ingest")
    assert ingested.returncode == 0, ingested.stderr
    assert f"{seed_chunks() + 1} added" in ingested.stdout  # the seed and one for penguins
    # nothing of the index on the machine: no SQLite, no records, no vectors
    assert not (tmp_path / "a").exists() or not any((tmp_path / "a").iterdir())
    assert cited(b, QUESTION) == cited(a, QUESTION)
    assert "25 June" in cited(b, QUESTION)[0]["quote"]
    assert cited(b, "When do emperor penguins breed?")[0]["source"].endswith("penguins.md")

    (corpus / "penguins.md").unlink()
    again = qa(b, "ingest")
    unchanged = f"0 added, {seed_chunks()} unchanged, 1 removed"
    assert again.returncode == 0 and unchanged in again.stdout
    sources = [c["source"] for c in cited(a, "When do emperor penguins breed?")]
    assert not any(s.endswith("penguins.md") for s in sources)
    dense, lexical, records = shared_state(servers, "two-machines")
    assert dense == lexical == records and len(records) == seed_chunks()


def test_two_ingests_at_once_one_waits_and_nothing_is_lost(tmp_path: Path, servers: dict) -> None:
    write_corpus(tmp_path / "corpus", files=30)
    a = machine(tmp_path, "a", servers, "at-once")
    b = machine(tmp_path, "b", servers, "at-once")
    held = IngestLock(servers["QA_DATABASE_URL"], "at-once")  # an ingest elsewhere
    assert held.held
    refused = qa(b, "ingest")
    assert refused.returncode == 7, refused.stderr
    assert refused.stderr.count("\n") == 1 and "another `qa ingest` is writing" in refused.stderr
    port = free_port()  # a replica that starts meanwhile serves rather than exits
    serve = [sys.executable, "-m", "qa", "serve", "--port", str(port)]
    with local_server(serve, f"http://127.0.0.1:{port}/", env=b) as replica:
        assert replica.poll() is None
    held.release()

    both = [
        subprocess.Popen(
            [sys.executable, "-m", "qa", "ingest"], env=env, stdout=subprocess.PIPE, text=True
        )
        for env in (a, b)
    ]
    codes = sorted(process.wait(timeout=600) for process in both)
    assert codes in ([0, 0], [0, 7])  # one after the other, or one turned away
    dense, lexical, records = shared_state(servers, "at-once")
    assert dense == lexical == records and len(set(records)) == len(records) == 300
    rerun = qa(b, "ingest")
    assert rerun.returncode == 0 and " 0 added, 300 unchanged, 0 removed" in rerun.stdout


@pytest.mark.parametrize("kill_at", [50, 90])
def test_killed_ingest_over_the_network_then_rerun_equals_a_clean_run(
    tmp_path: Path, servers: dict, kill_at: int
) -> None:
    write_corpus(tmp_path / "corpus", files=60)  # three batches of chunks
    clean = machine(tmp_path, "clean", servers, f"clean-{kill_at}")
    assert qa(clean, "ingest").returncode == 0
    killed = machine(tmp_path, "killed", servers, f"killed-{kill_at}")
    process = subprocess.Popen(
        [sys.executable, "-m", "qa", "ingest", "--progress"],
        env=killed,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    wait_for_progress(process, kill_at)
    process.send_signal(signal.SIGKILL)
    process.wait()
    rerun = qa(machine(tmp_path, "other", servers, f"killed-{kill_at}"), "ingest")
    assert rerun.returncode == 0, rerun.stderr
    assert shared_state(servers, f"killed-{kill_at}") == shared_state(servers, f"clean-{kill_at}")


def test_leftovers_of_an_interrupted_write_are_repaired(
    tmp_path: Path, servers: dict, embeddings
) -> None:
    """Chunks written to both stores but never recorded (a run killed between the two), of a
    file gone by the next run: the next ingest, on another machine, removes them."""
    shutil.copy(SEED[0], tmp_path / "corpus")
    env = machine(tmp_path, "a", servers, "leftovers")
    assert qa(env, "ingest").returncode == 0
    before = shared_state(servers, "leftovers")
    settings = Settings(
        chroma_url=servers["QA_CHROMA_URL"],
        database_url=servers["QA_DATABASE_URL"],
        collection="leftovers",
        index_dir=tmp_path / "b",
    )
    store = open_store(settings, embeddings)
    gone = Document(page_content="Emperor penguins breed in winter.", metadata={"source": "x.md"})
    store.add_documents([gone], ids=["never-recorded"])
    store.lexical.set_fact("ingest", "running")  # as the killed run left it
    assert "never-recorded" in shared_state(servers, "leftovers")[1]
    rerun = qa(machine(tmp_path, "b", servers, "leftovers"), "ingest")
    assert rerun.returncode == 0, rerun.stderr
    assert shared_state(servers, "leftovers") == before


def test_a_server_down_is_one_line_naming_it(tmp_path: Path, servers: dict) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir(exist_ok=True)
    shutil.copy(SEED[0], corpus)
    env = machine(tmp_path, "a", servers, "down")
    assert qa(env, "ingest").returncode == 0
    nowhere = f"postgresql://qa:secret@127.0.0.1:{free_port()}/postgres"
    for variables, named in [
        ({"QA_DATABASE_URL": nowhere}, "QA_DATABASE_URL"),
        ({"QA_CHROMA_URL": f"http://127.0.0.1:{free_port()}"}, "QA_CHROMA_URL"),
        ({"QA_CHROMA_URL": ""}, "QA_DATABASE_URL needs QA_CHROMA_URL"),
        ({"QA_DATABASE_URL": "mysql://127.0.0.1/qa"}, "not a PostgreSQL URL"),
    ]:
        for command in (["ask", QUESTION], ["ingest"]):
            done = qa({**env, **variables}, *command)
            assert done.returncode == 5, (variables, done.stderr)
            assert done.stderr.count("\n") == 1 and named in done.stderr, done.stderr
            assert "secret" not in done.stderr  # the password is never printed
    assert "25 June" in cited(env, QUESTION)[0]["quote"]  # nothing was lost


@pytest.mark.parametrize("extension", ["rum", "no-such-extension"])
def test_full_text_search_ranks_and_keeps_in_step(
    servers: dict, monkeypatch: pytest.MonkeyPatch, extension: str
) -> None:
    """Ranked by the RUM index, and by ts_rank_cd over GIN where RUM is missing."""
    url = servers["QA_DATABASE_URL"]
    with psycopg.connect(url, autocommit=True) as db:  # a database of its own: a new schema
        db.execute(f'CREATE DATABASE "search-{extension}"')
    monkeypatch.setattr(postgres, "RANKING_EXTENSION", extension)
    index = PostgresIndex(url.rsplit("/", 1)[0] + f"/search-{extension}", "docs")
    assert index.ranked == (extension == "rum")
    texts = {
        "a": "Harbour cranes unload copper at the river port.",
        "b": "The lighthouse keeper counts ships in winter; ships, ships and more ships.",
        "c": "Orchards are pruned in winter.",
    }
    docs = [Document(page_content=t, metadata={"source": f"{i}.txt"}) for i, t in texts.items()]
    index.upsert(list(texts), docs)
    index.upsert(["a"], docs[:1])  # replaced, not repeated
    assert index.count() == 3 and index.ids() == {"a", "b", "c"}
    assert [d.id for d in index.search("how many ships in winter?", 5)] == ["b", "c"]
    assert [d.id for d in index.search("winter", 5, sources=["c.txt"])] == ["c"]
    assert index.search("the of and", 5) == []
    idf = index.idf(["winter", "copper", "zebra"])
    assert idf["copper"] > idf["winter"] > 0 and idf["zebra"] == 0
    assert "lighthous" in index.vocabulary()
    assert [s["chunks"] for s in index.sources()] == [1, 1, 1]
    # the commonest terms (by PostgreSQL's statistics) rank, but match nothing on their own
    with psycopg.connect(index.url, autocommit=True) as db:
        db.execute("ANALYZE qa_chunks")
    assert sorted(d.id for d in index.search("winter copper", 5)) == ["a", "b", "c"]
    monkeypatch.setattr(lexical, "MATCH_BUDGET", 1)
    index._shares = None
    assert [d.id for d in index.search("winter copper", 5)] == ["a"]
    monkeypatch.undo()
    index.delete(["b", "zzz"])
    assert index.count() == 2 and [d.id for d in index.search("ships winter", 5)] == ["c"]
    with psycopg.connect(index.url, autocommit=True) as db:  # as a server restart would
        db.execute("SELECT pg_terminate_backend(%s)", (index._db.info.backend_pid,))
    with pytest.raises(BackendError, match="QA_DATABASE_URL"):
        index.count()
    assert index.count() == 2  # connected again
    index.close()


def servers_state(servers: dict) -> dict:
    """What the servers hold: each Chroma collection's chunk count, and PostgreSQL's rows by
    collection (lexical chunks, facts) and by record namespace."""
    from qa.index.store import chroma_client

    client = chroma_client(Settings(chroma_url=servers["QA_CHROMA_URL"]))
    state = {f"chroma {c.name}": c.count() for c in client.list_collections()}
    with psycopg.connect(servers["QA_DATABASE_URL"]) as db:
        for table, column in (
            ("qa_chunks", "collection"),
            ("qa_facts", "collection"),
            ("upsertion_record", "namespace"),
        ):
            for key, count in db.execute(f"SELECT {column}, count(*) FROM {table} GROUP BY 1"):
                state[f"{table} {key}"] = count
    return state


def test_evaluation_training_and_bench_never_touch_the_shared_index(
    tmp_path: Path, servers: dict, embeddings
) -> None:
    """Their throwaway indexes once wrote into the served collection, and `cleanup="full"`
    then deleted its chunks."""
    from benchmarks.bench import bench_backend
    from qa.training.data import CachedEmbeddings, collect

    corpus = tmp_path / "corpus"
    corpus.mkdir(exist_ok=True)
    shutil.copy(SEED[0], corpus)
    env = machine(tmp_path, "a", servers, "served")
    assert qa(env, "ingest").returncode == 0
    before = servers_state(servers)
    chunks = seed_chunks()
    assert before["chroma served"] == chunks and before["upsertion_record qa/served"] == chunks

    squad = tmp_path / "squad.json"
    squad.write_text(
        json.dumps(
            {
                "articles": [
                    {
                        "title": "Penguins",
                        "paragraphs": [
                            {
                                "context": PENGUINS,
                                "qas": [{"id": "p", "question": "When?", "answers": ["winter"]}],
                            }
                        ],
                    }
                ]
            }
        )
    )
    evaluated = qa(env, "eval", "--squad", str(squad), "--engine", "sentence",
                   "--results-dir", str(tmp_path / "results"))  # fmt: skip
    assert evaluated.returncode == 0, evaluated.stderr
    assert servers_state(servers) == before

    served = Settings(
        corpus_dir=corpus,
        chroma_url=servers["QA_CHROMA_URL"],
        database_url=servers["QA_DATABASE_URL"],
        collection="served",
    )
    articles = [
        {"title": t, "paragraphs": [{"context": PENGUINS, "qas": [
            {"question": "When do they breed?", "answers": [{"text": "winter"}]}]}]}
        for t in ("Penguins", "Birds")
    ]  # fmt: skip
    (tmp_path / "train").mkdir()
    collect(served, articles, CachedEmbeddings(embeddings), tmp_path / "train", progress=False)
    assert servers_state(servers) == before

    bench_backend(served, embeddings, tmp_path / "bench", [100], chunks=20)
    assert servers_state(servers) == before
    assert "25 June" in cited(env, QUESTION)[0]["quote"]


def test_replicas_sharing_the_servers_share_the_session_secret(
    tmp_path: Path, servers: dict
) -> None:
    from qa.service import build_service

    replicas = [
        Settings(
            index_dir=tmp_path / name,
            chroma_url=servers["QA_CHROMA_URL"],
            database_url=servers["QA_DATABASE_URL"],
            collection="secret-shared",
        )
        for name in ("a", "b")
    ]
    secrets = {build_service(settings).library.session_secret() for settings in replicas}
    assert len(secrets) == 1 and len(secrets.pop()) >= 32
