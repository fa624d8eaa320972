"""Votes on answers, kept as a question set in the format of eval/questions.jsonl.

A 👍 records the answer given as the gold answer (a refusal as "unanswerable"), so the set
checks that a right answer stays right; a 👎 with a correction records the correction, so the
set checks that the answer becomes right. A 👎 without a correction is kept but not scored.
"""

import json
import os
import time
import uuid
from pathlib import Path

from qa.core.errors import InputError
from qa.evaluation.datasets import json_line, json_lines


def record_vote(
    path: Path,
    question: str,
    turns: list[str],
    answer: dict,
    liked: bool,
    correction: str = "",
    vote_id: str | None = None,
) -> str:
    """Write one vote to `path` and return its id; the same id replaces an earlier vote."""
    correction = correction.strip()
    if liked:
        gold = [] if answer.get("refused") else [_given(answer)]
    else:
        gold = [correction] if correction else []
    vote_id = vote_id or f"vote-{uuid.uuid4().hex[:12]}"
    entry = {
        "id": vote_id,
        "question": question,
        "answers": gold,
        **({"unanswerable": True} if liked and answer.get("refused") else {}),
        "turns": turns,
        "feedback": "up" if liked else "down",
        "answer_given": {
            key: answer.get(key) for key in ("answer", "short_answer", "refused", "citations")
        },
        "voted_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    _rewrite(path, vote_id, entry)
    return vote_id


def retract_vote(path: Path, vote_id: str) -> None:
    """Remove a vote (its 👍/👎 was clicked again)."""
    _rewrite(path, vote_id, None)


def _rewrite(path: Path, vote_id: str, entry: dict | None) -> None:
    """Replace the line with `vote_id` by `entry` (None: drop it), atomically."""
    from filelock import FileLock

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(f"{path}.lock", timeout=10):
            lines = json_lines(path.read_text(encoding="utf-8")) if path.is_file() else []
            kept = [line for line in lines if line.strip() and _id(line) != vote_id]
            if entry is not None:
                kept.append(json_line(entry))
            temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            temporary.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")
            temporary.replace(path)  # readers see the old file or the new one, never half
    except OSError as exc:
        raise InputError(f"cannot write feedback to {path}: {exc.strerror or exc}") from None


def _given(answer: dict) -> str:
    if answer.get("short_answer"):
        return answer["short_answer"]
    citations = answer.get("citations") or []
    return citations[0]["quote"] if citations else answer.get("answer", "")


def _id(line: str) -> str | None:
    try:
        return json.loads(line).get("id")
    except (json.JSONDecodeError, AttributeError, RecursionError):
        return None
