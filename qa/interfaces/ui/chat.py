"""The Chat tab's handlers: ask with streaming, stop, retry, undo, votes, conversations."""

import html
from collections.abc import Iterator

import gradio as gr

from qa.core.errors import InputError, QAError
from qa.core.schema import Answer
from qa.engines import offered_engines
from qa.evaluation import feedback
from qa.interfaces.ui import conversations as convs
from qa.interfaces.ui.render import render_answer, render_stream, verbatim
from qa.service import QAService

MAX_VARIANTS = 8  # settings combinations kept open; each shares the process's models
EXAMPLES = 4


class ChatHandlers:
    """Event handlers over one service; engine, passages and scope apply to the next question."""

    def __init__(self, service: QAService) -> None:
        self.service = service
        self.variants: dict[tuple[str, int], QAService] = {}

    def service_for(self, engine: str, top_k: int) -> QAService:
        key = (engine, int(top_k))
        if key == (self.service.settings.engine, self.service.settings.top_k):
            return self.service
        if key not in self.variants:
            if len(self.variants) >= MAX_VARIANTS:
                self.variants.pop(next(iter(self.variants)))
            self.variants[key] = self.service.variant(engine=engine, top_k=int(top_k))
        return self.variants[key]

    def reopen(self) -> None:
        """After the corpus changed: every service reads the new index on its next question."""
        self.variants.clear()

    # asking

    def respond(
        self, message: str, state: dict | None, engine: str, top_k: int, scope: list[str] | None
    ) -> Iterator[tuple]:
        """Outputs: chat, question box, input status, conversations, Stop. A rejected
        question stays in the box and never enters the conversation."""
        state = convs.ensure(state)
        try:
            question = self.service.validate(message)
        except InputError as exc:
            yield gr.skip(), gr.skip(), f"⚠️ {html.escape(str(exc))}", gr.skip(), gr.skip()
            return
        conversation = convs.current(state)
        earlier = convs.history(conversation)
        turn = convs.add_turn(state, question)
        yield view(conversation), "", "", state, gr.Button(interactive=True)
        service = None
        try:
            service = self.service_for(engine, top_k)
            line = settings_line(engine, top_k, scope)
            answer, streamed = None, ""
            for event in service.stream(question, earlier, scope or None):
                if isinstance(event, Answer):
                    answer = event
                    turn["reply"] = render_answer(event, service.settings.corpus_dir, line, True)
                else:
                    streamed += event
                    turn["reply"] = render_stream(streamed)
                yield view(conversation), gr.skip(), gr.skip(), state, gr.skip()
            assert answer is not None  # a stream always ends with its Answer
            turn["reply"] = render_answer(
                answer, service.settings.corpus_dir, line + timing(answer)
            )
            turn["answer"] = answer.to_dict()
        except QAError as exc:
            turn["reply"] = f"⚠️ {verbatim(str(exc))}"
        except Exception as exc:  # a failing backend must not take the conversation down
            turn["reply"] = f"⚠️ the answer failed: {verbatim(f'{type(exc).__name__}: {exc}')}"
        yield (
            view(conversation),
            gr.skip(),
            gr.skip(),
            state,
            gr.Button(interactive=False),
        )

    def ask_example(self, sample: list, state, engine, top_k, scope) -> Iterator[tuple]:
        yield from self.respond(sample[0], state, engine, top_k, scope)

    def retry(self, state: dict | None, engine, top_k, scope) -> Iterator[tuple]:
        """Ask the last question again (with the current settings)."""
        state = convs.ensure(state)
        turns = convs.current(state)["turns"]
        if not turns:
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        question = turns.pop()["question"]
        yield from self.respond(question, state, engine, top_k, scope)

    def undo(self, state: dict | None) -> tuple:
        """Take the last turn back; its question returns to the box."""
        state = convs.ensure(state)
        turns = convs.current(state)["turns"]
        question = turns.pop()["question"] if turns else ""
        return view(convs.current(state)), question, state

    def clear(self, state: dict | None) -> tuple:
        """The chat's clear icon empties the current conversation."""
        state = convs.ensure(state)
        convs.current(state).update(turns=[], title="")
        return [], state

    def stop(self, state: dict | None) -> tuple:
        state = convs.stop_pending(convs.ensure(state))
        return view(convs.current(state)), state

    def count(self, message: str) -> tuple:
        """The character counter, and Ask enabled only for a question that can be sent."""
        limit = self.service.settings.max_question_chars
        length = len(message or "")
        text = f"{length} / {limit}"
        text += f" — too long: shorten it to {limit} characters" if length > limit else ""
        ready = bool((message or "").strip()) and length <= limit
        return text, gr.Button(interactive=ready)

    # votes

    def vote(self, state: dict | None, data: gr.LikeData) -> tuple:
        """A 👍/👎 goes to the feedback file at once; a 👎 also opens the correction box, and
        clicking the same thumb again takes the vote back.
        Outputs: correction row, correction box, the turn voted on, status, conversations."""
        state = convs.ensure(state)
        turns = convs.current(state)["turns"]
        number = voted_turn(turns, data)
        if number is None or turns[number].get("answer") is None:
            return gr.Row(visible=False), "", None, "Only answers can be voted on.", state
        turn = turns[number]
        if data.liked in ("", None):  # the thumb was clicked again: no vote
            turn.pop("vote_kind", None)
            if turn.get("vote"):
                feedback.retract_vote(self.service.settings.feedback_file, turn.pop("vote"))
            return gr.Row(visible=False), "", None, "Vote taken back.", state
        liked = data.liked is True or data.liked == "Like"
        turn["vote"] = self.record(turns, number, liked, "")
        turn["vote_kind"] = "Like" if liked else "Dislike"
        if liked:
            return gr.Row(visible=False), "", None, "👍 saved. Thank you.", state
        note = "👎 saved. If you know the right answer, type it below; it becomes a test."
        return gr.Row(visible=True), "", number, note, state

    def correct(self, correction: str, number: int | None, state: dict | None) -> tuple:
        state = convs.ensure(state)
        turns = convs.current(state)["turns"]
        if number is None or number >= len(turns) or not turns[number].get("vote"):
            return gr.Row(visible=False), "", "Vote 👎 on an answer first.", state
        if not correction.strip():
            return gr.Row(visible=True), correction, "Type the right answer first.", state
        self.record(turns, number, False, correction)
        where = self.service.settings.feedback_file
        note = f"Correction saved to {where}; `qa eval {where}` now checks it."
        return gr.Row(visible=False), "", html.escape(note), state

    def record(self, turns: list[dict], number: int, liked: bool, correction: str) -> str:
        turn = turns[number]
        earlier = convs.history({"turns": turns[:number]})
        return feedback.record_vote(
            self.service.settings.feedback_file,
            turn["question"],
            earlier,
            turn["answer"],
            liked,
            correction,
            vote_id=turn.get("vote"),
        )

    # conversations

    def show(self, state: dict | None) -> tuple:
        """Chat and conversation list for the state the browser holds."""
        state = convs.ensure(state)
        current = convs.current(state)
        return (
            view(current),
            gr.Dropdown(choices=convs.choices(state), value=current["id"]),
            state,
        )

    def switch(self, chosen: str, state: dict | None) -> tuple:
        state = convs.ensure(state)
        if chosen == state["current"] or not any(c["id"] == chosen for c in state["items"]):
            return gr.skip(), gr.skip(), gr.skip()  # nothing to change: never overwrite state
        state["current"] = chosen
        return self.show(state)

    def new(self, state: dict | None) -> tuple:
        return self.show(convs.start(convs.ensure(state)))

    def delete(self, state: dict | None) -> tuple:
        return self.show(convs.delete(convs.ensure(state)))

    def rename(self, title: str, state: dict | None) -> tuple:
        state = convs.ensure(state)
        if title.strip():
            convs.current(state)["title"] = convs.title_of(title)
        return (*self.show(state), "")

    # first load

    def welcome(self, documents: list[dict]) -> tuple:
        """What is indexed and how to start, and example questions from the documents."""
        if documents:
            chunks = sum(d["chunks"] for d in documents)
            text = (
                f"**{len(documents)} document(s), {chunks} passage(s) indexed.** Ask a question "
                "below: every answer quotes the sentence it comes from. Add or remove "
                "documents in the Documents tab."
            )
        else:
            text = (
                "**Nothing is indexed yet.** Add documents in the Documents tab, or put them "
                "in the corpus folder and run `qa ingest`."
            )
        questions = self.service.library.example_questions(documents[:EXAMPLES])
        examples = [(question, label_of(question)) for question in questions]
        return text, gr.Dataset(
            samples=[[question] for question, _ in examples],
            sample_labels=[label for _, label in examples],
            visible=bool(examples),
        )


def view(conversation: dict) -> gr.Chatbot:
    """The chat for a conversation, each answer's 👍/👎 shown as it was given."""
    votes = [turn.get("vote_kind") for turn in conversation["turns"]]
    return gr.Chatbot(value=convs.messages(conversation), feedback_value=votes)  # type: ignore[arg-type]


def voted_turn(turns: list[dict], data: gr.LikeData) -> int | None:
    """The turn a 👍/👎 is about: the reply at the event's message index, checked against
    the text the browser sent, else the reply holding that text."""
    index = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
    shown = data.value if isinstance(data.value, list) else [data.value]
    shown = [v.get("text", v.get("content")) if isinstance(v, dict) else v for v in shown]
    shown = [v for v in shown if isinstance(v, str)]
    number = int(index) // 2 if isinstance(index, int) and index % 2 == 1 else None
    if number is not None and number < len(turns):
        if not shown or turns[number]["reply"] in shown:
            return number
    matches = [n for n, turn in enumerate(turns) if turn["reply"] in shown]
    return matches[-1] if len(matches) == 1 else None


def label_of(question: str) -> str:
    """An example question as its button shows it: a long one cut at a word."""
    return question if len(question) <= 80 else question[:80].rsplit(" ", 1)[0] + "…"


def settings_line(engine: str, top_k: int, scope: list[str] | None) -> str:
    line = f"{engine} engine · top {int(top_k)} passages"
    return line + (f" · in {len(scope)} document(s)" if scope else "")


def timing(answer: Answer) -> str:
    total = sum(v for k, v in answer.timings_ms.items() if k != "model_load")
    return f" · {total / 1000:.2f} s"


def engine_choices(service: QAService) -> list[tuple[str, str]]:
    return [(f"{name}: {help_}", name) for name, help_ in offered_engines(service.settings)]
