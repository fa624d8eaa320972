"""Conversations as plain data kept in the browser (Gradio's BrowserState): a list of
conversations, each a list of turns holding the question as typed and the reply shown. A
conversation is listed by its title and the time it was started, with its random id.

>>> state = ensure(None)
>>> add_turn(state, "When does the night ferry leave?")["question"]
'When does the night ferry leave?'
>>> choices(state)  # doctest: +ELLIPSIS
[('When does the night ferry leave? · ...', '...')]
>>> choices(state)[0][1] == state["current"]
True
"""

import time
import uuid

from qa.interfaces.ui.render import PENDING, render_question

TITLE_CHARS = 60
STOPPED = "_Stopped._"


def new_conversation() -> dict:
    return {"id": uuid.uuid4().hex[:12], "title": "", "created": time.time(), "turns": []}


def ensure(state: dict | None) -> dict:
    """A usable state from whatever the browser held (nothing, or an older shape)."""
    if not isinstance(state, dict) or not isinstance(state.get("items"), list):
        state = {"items": []}
    state["items"] = [c for c in state["items"] if isinstance(c, dict) and "turns" in c]
    if not state["items"]:
        state["items"].append(new_conversation())
    if current_index(state) is None:
        state["current"] = state["items"][0]["id"]
    return state


def current_index(state: dict) -> int | None:
    return next((i for i, c in enumerate(state["items"]) if c["id"] == state.get("current")), None)


def current(state: dict) -> dict:
    return state["items"][current_index(state)]


def add_turn(state: dict, question: str) -> dict:
    """A new turn of the current conversation, its reply pending."""
    conversation = current(state)
    if not conversation["title"]:
        conversation["title"] = title_of(question)
    turn = {"question": question, "reply": PENDING, "answer": None}
    conversation["turns"].append(turn)
    return turn


def title_of(question: str) -> str:
    line = " ".join(question.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1] + "…"


def history(conversation: dict) -> list[str]:
    """The earlier questions that were answered (not the failed or stopped ones)."""
    return [t["question"] for t in conversation["turns"] if t.get("answer") is not None]


def messages(conversation: dict) -> list[dict]:
    """The chat's messages: each question as typed, each reply as rendered."""
    shown = []
    for turn in conversation["turns"]:
        shown.append({"role": "user", "content": render_question(turn["question"])})
        shown.append({"role": "assistant", "content": turn["reply"]})
    return shown


def choices(state: dict) -> list[tuple[str, str]]:
    """(title, id) of each conversation, newest first."""
    ordered = sorted(state["items"], key=lambda c: c.get("created", 0), reverse=True)
    return [(f"{c['title'] or 'New conversation'} · {started(c)}", c["id"]) for c in ordered]


def started(conversation: dict) -> str:
    return time.strftime("%d %b %H:%M", time.localtime(conversation.get("created", 0)))


def start(state: dict) -> dict:
    """Make an empty conversation current (reusing the current one if it is empty)."""
    if current(state)["turns"]:
        state["items"].append(new_conversation())
        state["current"] = state["items"][-1]["id"]
    return state


def delete(state: dict) -> dict:
    """Drop the current conversation; the newest left becomes current."""
    state["items"].pop(current_index(state))
    state.pop("current", None)
    state = ensure(state)
    state["current"] = choices(state)[0][1]
    return state


def stop_pending(state: dict) -> dict:
    """Mark replies that were still being written as stopped."""
    for turn in current(state)["turns"]:
        if turn["answer"] is None and PENDING in turn["reply"]:
            turn["reply"] = STOPPED
    return state
