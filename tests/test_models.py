"""Models of the user's choice, all verified, all offline, against real servers and real tiny models.

- The generator over HTTP (assistant/generate.py EndpointGenerator, through the openai client):
  against a scripted OpenAI-compatible server (http.server in a thread) whose answers are known, so
  that verification keeping the supported sentences and dropping the rest is checked exactly, with a
  server that is down, hangs, refuses the key, or is cancelled mid-answer; and against a real
  `transformers serve` serving tiny causal LMs the tests build and save themselves.
- The web app as an API: /ask and /search through gradio_client against app.py (a follow-up with
  history, the password), and a non-loopback address without a password refused.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from assistant import Assistant, Settings
from assistant.embed import HashingEmbedder
from assistant.errors import ConfigError
from assistant.types import Answer

from .appserver import app_server, free_port
from .conftest import DOCS

KEY = "sk-test-7f3a9c"  # what the scripted server accepts
BAKERY = "The bakery on Rue Lépine opens at six o’clock every morning except Sunday."


# ---------------------------------------------------------------------------------------------------
# A scripted OpenAI-compatible server


class Scripted(ThreadingHTTPServer):
    """POST /v1/chat/completions: checks the bearer key, records the request, then does what `reply`
    (request body -> list of text pieces) and `mode` say: "answer" streams the pieces as server-sent
    events; "hang" sends nothing; "hang-after-first" sends one piece, then nothing."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict] = []
        self.reply = lambda body: ["The documents don't say."]
        self.mode = "answer"
        self.delay = 0.0  # between pieces
        self.release = threading.Event()  # ends a hang
        self.sent: list[int] = []  # pieces written per request, until the client went away

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _Handler(BaseHTTPRequestHandler):
    server: Scripted

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        srv = self.server
        srv.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        if self.headers.get("Authorization") != f"Bearer {KEY}":
            given = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
            # like some real servers, the error echoes the key it was given: it must not reach the user
            return self._json(401, {"error": {"message": f"Incorrect API key provided: {given}",
                                              "type": "invalid_request_error"}})
        if self.path != "/v1/chat/completions":
            return self._json(404, {"error": {"message": "not found"}})
        if srv.mode == "hang":
            srv.release.wait(60)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        sent = 0
        try:
            for piece in srv.reply(body):
                chunk = {"id": "1", "object": "chat.completion.chunk", "created": 0, "model": body["model"],
                         "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
                sent += 1
                if srv.mode == "hang-after-first":
                    srv.release.wait(60)
                    return
                time.sleep(srv.delay)
            self.wfile.write(b"data: [DONE]\n\n")
        except OSError:  # the client closed the connection
            pass
        finally:
            srv.sent.append(sent)

    def _json(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def scripted():
    srv = Scripted()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.release.set()
    srv.shutdown()
    srv.server_close()


def _endpoint_assistant(tmp_seeds, tmp_index, url: str, **settings) -> Assistant:
    values = {"generator_model": "scripted", "generator_key": KEY, "generator_timeout": 2.0, **settings}
    return Assistant(seeds=tmp_seeds, index=tmp_index, embedder=HashingEmbedder(), generator=url, **values)


def _user_message(body: dict) -> str:
    return next(m["content"] for m in body["messages"] if m["role"] == "user")


def _passage_number(body: dict, words: str) -> int:
    """The [n] under which the prompt numbered the passage holding `words`."""
    for line in _user_message(body).splitlines():
        m = re.match(r"\[(\d+)\] (.*)", line)
        if m and words in m.group(2):
            return int(m.group(1))
    raise AssertionError(f"no passage with {words!r} in the prompt")


def _check_offsets(answer: Answer, seeds: Path) -> None:
    for c in answer.citations:
        assert (seeds / c.doc).read_text(encoding="utf-8")[c.start : c.end] == c.text


# ---------------------------------------------------------------------------------------------------
# Verification, exactly, on a known answer


def test_supported_sentences_are_kept_and_the_rest_dropped(tmp_seeds, tmp_index, scripted):
    def reply(body):
        n = _passage_number(body, "six o’clock")
        prices = _passage_number(body, "croissant costs")
        return [f"{BAKERY[:30]}", f"{BAKERY[30:]} [{n}] ",  # supported, split across two chunks
                "The bakery sells spaceships to the Moon. ", f"[{n}] ",  # cites a real passage that doesn't say it
                f"A croissant costs €1.40 and a baguette costs €1.10. [{prices}] ",  # supported
                "Bread is free on Sundays. [9]",  # a marker that points at nothing
                " Everyone loves it."]  # no marker at all
    scripted.reply = reply
    a = _endpoint_assistant(tmp_seeds, tmp_index, scripted.url)
    parts = list(a.ask_stream("When does the bakery open and what does a croissant cost?"))
    final = parts[-1]
    assert isinstance(final, Answer)
    streamed = "".join(p for p in parts[:-1] if isinstance(p, str))
    assert streamed == "".join(reply(scripted.requests[0]["body"])), "the endpoint's text streams as it comes"
    assert final.answered and final.answerer == f"generative: scripted at {scripted.url}"
    assert final.text == f"{BAKERY} [1] A croissant costs €1.40 and a baguette costs €1.10. [2]"
    assert [c.doc for c in final.citations] == ["bakery.md", "bakery.md"]
    # each citation is the exact sentence that supports its claim, inside the passage the marker named
    assert [c.text for c in final.citations] == [BAKERY, "A croissant costs €1.40 and a baguette costs €1.10."]
    assert all(c.context_start <= c.start < c.end <= c.context_end for c in final.citations)
    assert final.note == "3 statements the model wrote were left out: not supported by the passage cited"
    _check_offsets(final, tmp_seeds)
    # what was sent: the model name, streaming, the key, a bounded context of numbered passages
    request = scripted.requests[0]
    assert request["auth"] == f"Bearer {KEY}" and request["body"]["model"] == "scripted"
    assert request["body"]["stream"] is True and request["body"]["max_tokens"] == 400
    user = _user_message(request["body"])
    assert user.startswith("Passages:\n[1] ") and user.endswith(
        "Question: When does the bakery open and what does a croissant cost?")


def test_a_paraphrase_is_checked_against_the_sentence_that_supports_it(tmp_seeds, tmp_index, scripted):
    paraphrase = "The Rue Lépine bakery opens every morning at six o’clock, except on Sunday."
    scripted.reply = lambda body: [f"{paraphrase} [{_passage_number(body, 'six o’clock')}]"]
    final = _endpoint_assistant(tmp_seeds, tmp_index, scripted.url).ask("When does the bakery open?")
    assert final.answerer.startswith("generative") and final.citations[0].text == BAKERY
    assert final.text == f"{paraphrase} [1]"


def test_a_follow_up_sends_the_question_it_stands_for(tmp_seeds, tmp_index, scripted):
    scripted.reply = lambda body: [f"{BAKERY} [{_passage_number(body, 'six o’clock')}]"]
    a = _endpoint_assistant(tmp_seeds, tmp_index, scripted.url)
    first = a.ask("When does the bakery open?")
    history = [{"role": "user", "content": "When does the bakery open?"},
               {"role": "assistant", "content": first.text, "query": first.query}]
    final = a.ask("And on Sundays?", history)
    assert final.query != "And on Sundays?" and "bakery" in final.query
    user = _user_message(scripted.requests[-1]["body"])
    assert user.endswith(f"Question: And on Sundays?\n(This follow-up question is about: {final.query})")
    assert final.answerer.startswith("generative") and final.text == f"{BAKERY} [1]"


def test_the_context_is_bounded(tmp_seeds, tmp_index, scripted):
    a = _endpoint_assistant(tmp_seeds, tmp_index, scripted.url, generator_context_chars=200)
    a.ask("When does the bakery open?")
    passages = re.findall(r"^\[\d+\] .*$", _user_message(scripted.requests[0]["body"]), re.MULTILINE)
    assert 1 <= len(passages) < len(a.retrieve("When does the bakery open?", k=6))
    assert sum(len(p) for p in passages[1:]) <= 200


def test_markers_that_point_at_nothing_give_the_extractive_answer(tmp_seeds, tmp_index, scripted):
    scripted.reply = lambda body: [f"{BAKERY} [12] ", "It is a bakery. [0]"]
    a = _endpoint_assistant(tmp_seeds, tmp_index, scripted.url)
    final = a.ask("When does the bakery open?")
    assert final.answered and final.answerer == "extractive" and "six o’clock" in final.text
    assert final.note.startswith(f"nothing the model at {scripted.url} wrote was supported by the passages it "
                                 "cited; the answer below is quoted from the documents instead")
    assert all(1 <= int(n) <= len(final.citations) for n in re.findall(r"\[(\d+)\]", final.text))
    _check_offsets(final, tmp_seeds)


# ---------------------------------------------------------------------------------------------------
# Failures: each one gives the extractive answer, with the reason in a user's words


def test_a_server_that_is_down(tmp_seeds, tmp_index):
    url = f"http://127.0.0.1:{free_port()}/v1"
    final = _endpoint_assistant(tmp_seeds, tmp_index, url).ask("When does the bakery open?")
    assert final.answered and final.answerer == "extractive" and "six o’clock" in final.text
    assert re.match(rf"the model at {re.escape(url)} could not be reached \(.*connect.*\): is the server "
                    "running\\?; the answer below is quoted from the documents instead", final.note), final.note


@pytest.mark.parametrize("mode", ["hang", "hang-after-first"])
def test_a_server_that_hangs_times_out(tmp_seeds, tmp_index, scripted, mode):
    scripted.mode = mode
    scripted.reply = lambda body: ["The bakery", " opens early. [1]"]
    a = _endpoint_assistant(tmp_seeds, tmp_index, scripted.url, generator_timeout=1.0)
    parts = list(a.ask_stream("When does the bakery open?"))
    final = parts[-1]
    assert final.answered and final.answerer == "extractive" and "six o’clock" in final.text
    assert final.note.startswith(f"the model at {scripted.url} did not answer in 1 s; the answer below is quoted")
    assert [p for p in parts[:-1]] == (["The bakery"] if mode == "hang-after-first" else [])


def test_a_bad_key_is_reported_and_never_shown(tmp_seeds, tmp_index, scripted, caplog, monkeypatch):
    secret = "sk-wrong-4242"
    monkeypatch.setenv("ASSISTANT_GENERATOR", scripted.url)
    monkeypatch.setenv("ASSISTANT_GENERATOR_MODEL", "scripted")
    monkeypatch.setenv("ASSISTANT_GENERATOR_KEY", secret)
    caplog.set_level(logging.DEBUG)
    a = Assistant(seeds=tmp_seeds, index=tmp_index, embedder=HashingEmbedder())
    final = a.ask("When does the bakery open?")
    assert scripted.requests[0]["auth"] == f"Bearer {secret}", "the key from ASSISTANT_GENERATOR_KEY is sent"
    assert final.answered and final.answerer == "extractive"
    assert final.note.startswith(f"the model at {scripted.url} refused the key (HTTP 401) (Incorrect API key "
                                 "provided: ***): check ASSISTANT_GENERATOR_KEY; the answer below is quoted")
    from assistant.web import render_answer

    shown = [final.note, final.text, repr(a.settings), repr(a._generator), caplog.text, render_answer(final)]
    assert not any(secret in text for text in shown)


def test_a_new_question_cancels_the_answer_being_written(tmp_seeds, tmp_index, scripted):
    scripted.reply = lambda body: [f"word{i} " for i in range(200)]
    scripted.delay = 0.05
    a = _endpoint_assistant(tmp_seeds, tmp_index, scripted.url)
    cancel = threading.Event()
    parts = []
    for part in a.ask_stream("When does the bakery open?", cancel=cancel):
        parts.append(part)
        if len(parts) == 3:
            cancel.set()  # what the web app does when the same browser session asks again
    final = parts[-1]
    assert len(parts) == 4 and final.answerer == "extractive" and final.answered
    assert final.note.startswith("the question was replaced by a new one before the model finished")
    assert _pieces_sent(scripted) < 200, "the connection is closed, the server stops writing"


def _pieces_sent(scripted: Scripted) -> int:
    """How many pieces the scripted server wrote before the client went away (it notices on a write)."""
    deadline = time.monotonic() + 10  # a guard, not a timing assertion
    while not scripted.sent and time.monotonic() < deadline:
        time.sleep(0.05)
    assert scripted.sent, "the server never noticed the connection was closed"
    return scripted.sent[0]


def test_generator_settings(monkeypatch):
    with pytest.raises(ConfigError, match="ASSISTANT_GENERATOR_MODEL"):
        Settings(generator="http://localhost:11434/v1")
    with pytest.raises(ConfigError, match="not a URL"):
        Settings(generator="http://", generator_model="x")
    monkeypatch.setenv("ASSISTANT_GENERATOR", "http://localhost:11434/v1")
    monkeypatch.setenv("ASSISTANT_GENERATOR_MODEL", "llama3.2")
    monkeypatch.setenv("ASSISTANT_GENERATOR_KEY", "sk-hidden")
    monkeypatch.setenv("ASSISTANT_GENERATOR_TIMEOUT", "12.5")
    s = Settings.from_env()
    assert (s.generator, s.generator_model, s.generator_key, s.generator_timeout) == (
        "http://localhost:11434/v1", "llama3.2", "sk-hidden", 12.5)
    assert "sk-hidden" not in repr(s)


# ---------------------------------------------------------------------------------------------------
# The web app as an API (app.py in a subprocess, the real packaged model, a scripted generator)


def _first_sentence_of_passage_1(body: dict) -> list[str]:
    """A supported answer whatever the documents: passage [1]'s first sentence, copied, cited."""
    first = next(line for line in _user_message(body).splitlines() if line.startswith("[1] "))[4:]
    sentence = re.split(r"(?<=[.!?”])\s+", first)[0]
    return [sentence, " [1]"]


@pytest.mark.slow
def test_the_api_answers_follow_ups_and_searches_behind_the_password(tmp_path, scripted):
    from gradio_client import Client

    scripted.reply = _first_sentence_of_passage_1
    env = {"ASSISTANT_GENERATOR": scripted.url, "ASSISTANT_GENERATOR_MODEL": "scripted",
           "ASSISTANT_GENERATOR_KEY": KEY, "ASSISTANT_GENERATOR_TIMEOUT": "3", "ASSISTANT_PASSWORD": "correct horse"}
    with app_server(tmp_path, env=env) as server:
        seeds = server["seeds"]
        with pytest.raises(Exception, match="login|credentials"):
            Client(server["url"] + "/", verbose=False)
        client = Client(server["url"] + "/", auth=("anyone", "correct horse"), verbose=False)
        assert set(client.view_api(print_info=False, return_format="dict")["named_endpoints"]) == {"/ask", "/search"}

        first = client.predict("How did Zelenskyy describe the proposals?", [], api_name="/ask")
        assert first["answered"] and first["answerer"] == f"generative: scripted at {scripted.url}"
        assert first["text"] == "".join(_first_sentence_of_passage_1(scripted.requests[-1]["body"]))
        assert first["query"] == "How did Zelenskyy describe the proposals?" and len(first["citations"]) == 1
        for c in first["citations"]:
            assert (seeds / c["doc"]).read_text(encoding="utf-8")[c["start"] : c["end"]] == c["text"]
        json.dumps(first)  # JSON-able as it is

        history = [{"role": "user", "content": "How did Zelenskyy describe the proposals?"},
                   {"role": "assistant", "content": first["text"], "query": first["query"]}]
        scripted.mode = "hang"  # the follow-up's generator times out: the extractive answer, and why
        follow = client.predict("What about Trump?", history, api_name="/ask")
        assert follow["query"] == "How did Trump describe the proposals?"
        assert follow["answerer"] == "extractive" and follow["answered"]
        assert follow["note"].startswith(f"the model at {scripted.url} did not answer in 3 s")
        assert "Trump" in " ".join(c["text"] for c in follow["citations"])
        assert _user_message(scripted.requests[-1]["body"]).endswith(
            "Question: What about Trump?\n(This follow-up question is about: How did Trump describe the proposals?)")
        scripted.release.set()

        hits = client.predict("Who hosted the talks?", 3, api_name="/search")
        assert len(hits) == 3 and any("hosted the talks" in h["text"] for h in hits)
        for h in hits:
            assert (seeds / h["doc"]).read_text(encoding="utf-8")[h["start"] : h["end"]] == h["text"]


def test_another_address_without_a_password_is_refused(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env.update(ASSISTANT_SEEDS=str(tmp_path / "seeds"), ASSISTANT_INDEX=str(tmp_path / "index"))
    app = Path(__file__).resolve().parent.parent / "app.py"
    done = subprocess.run([sys.executable, str(app), "--host", "0.0.0.0", "--port", str(free_port())],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 2
    assert "error: Refusing to serve on 0.0.0.0 without a password" in done.stderr and "--no-auth" in done.stderr


# ---------------------------------------------------------------------------------------------------
# A real OpenAI-compatible server: `transformers serve`, serving tiny causal LMs built here

PARROT_ANSWER = f"{BAKERY} [7]"  # a supported sentence whose marker points at nothing
MERZ_ANSWER = "German Chancellor Friedrich Merz hosted the talks. [1]"  # a paraphrase of the seed article
TEMPLATE = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
            "{% if add_generation_prompt %}assistant:{% endif %}")


def _tokenizer(folder: Path, extra: list[str]):
    """A word-level tokenizer trained on the test documents (and `extra`), with a chat template."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    corpus = [t.decode() if isinstance(t, bytes) else t for t in DOCS.values()] + extra
    tok.train_from_iterator(corpus, trainers.WordLevelTrainer(special_tokens=["[UNK]", "[PAD]", "<eos>"]))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", eos_token="<eos>")
    fast.chat_template = TEMPLATE
    fast.save_pretrained(folder)
    return fast


def build_random_lm(folder: Path) -> Path:
    """A randomly initialised GPT-2 of one small layer: it writes fluent nonsense."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    fast = _tokenizer(folder, ["system: user: assistant:"])
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(fast), n_positions=4096, n_embd=32, n_layer=1, n_head=2,
                        bos_token_id=fast.eos_token_id, eos_token_id=fast.eos_token_id,
                        pad_token_id=fast.pad_token_id)
    GPT2LMHeadModel(config).save_pretrained(folder)
    return folder


def build_parrot_lm(folder: Path, answer: str) -> Path:
    """A GPT-2 whose greedy continuation of any chat prompt is `answer` (its words must not repeat):
    one-hot embeddings, the block's outputs zeroed, and an output layer that maps each word of the
    answer to the next one ("assistant:" -> the first word, the last word -> end of text)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    words = answer.split()
    assert len(set(words)) == len(words)
    fast = _tokenizer(folder, ["system: user: assistant:", answer])
    size = len(fast)
    config = GPT2Config(vocab_size=size, n_positions=4096, n_embd=size, n_layer=1, n_head=1,
                        bos_token_id=fast.eos_token_id, eos_token_id=fast.eos_token_id,
                        pad_token_id=fast.pad_token_id, tie_word_embeddings=False)
    model = GPT2LMHeadModel(config)
    ids = [fast.convert_tokens_to_ids(w) for w in ["assistant:", *words]] + [fast.eos_token_id]
    with torch.no_grad():
        model.transformer.wte.weight.copy_(torch.eye(size))
        model.transformer.wpe.weight.zero_()
        for block in model.transformer.h:
            for layer in (block.attn.c_proj, block.mlp.c_proj):
                layer.weight.zero_()
                layer.bias.zero_()
        model.lm_head.weight.zero_()
        for current, following in itertools.pairwise(ids):
            model.lm_head.weight[following, current] = 10.0
    model.save_pretrained(folder)
    return folder


class Served:
    """`transformers serve` on a free loopback port, models loaded on demand by folder path."""

    def __init__(self, root: Path) -> None:
        import urllib.request

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.log = root / "serve.log"
        serve = Path(sys.executable).with_name("transformers")
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen([str(serve), "serve", "--host", "127.0.0.1", "--port", str(self.port),
                                          "--device", "cpu", "--log-level", "info"], stdout=log,
                                         stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        deadline = time.monotonic() + 180  # a guard against a hang, not a timing assertion
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"transformers serve exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("transformers serve did not start in time")
                time.sleep(0.3)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    random_lm = build_random_lm(root / "random-lm")
    parrot_lm = build_parrot_lm(root / "parrot-lm", PARROT_ANSWER)
    supported_lm = build_parrot_lm(root / "supported-lm", f"{BAKERY} [1]")
    merz_lm = build_parrot_lm(root / "merz-lm", MERZ_ANSWER)  # for the seed article
    server = Served(root)
    yield {"server": server, "random": str(random_lm), "parrot": str(parrot_lm), "supported": str(supported_lm),
           "merz": str(merz_lm)}
    server.stop()


def _served_assistant(tmp_seeds, tmp_index, served, model: str, **settings) -> Assistant:
    values = {"generator_model": served[model], "generator_timeout": 60.0, "generator_max_tokens": 24, **settings}
    return Assistant(seeds=tmp_seeds, index=tmp_index, embedder=HashingEmbedder(), generator=served["server"].url,
                     **values)


@pytest.mark.slow
def test_transformers_serve_streams_nonsense_that_verification_rejects(tmp_seeds, tmp_index, served):
    a = _served_assistant(tmp_seeds, tmp_index, served, "random")
    parts = list(a.ask_stream("When does the bakery open?"))
    final = parts[-1]
    streamed = [p for p in parts[:-1] if isinstance(p, str)]
    assert len(streamed) > 1, "the tokens arrive one by one (server-sent events)"
    assert final.answered and final.answerer == "extractive" and "six o’clock" in final.text
    assert final.note.startswith(f"nothing the model at {served['server'].url} wrote was supported")
    _check_offsets(final, tmp_seeds)


@pytest.mark.slow
def test_transformers_serve_an_answer_whose_marker_points_at_nothing(tmp_seeds, tmp_index, served):
    a = _served_assistant(tmp_seeds, tmp_index, served, "parrot")
    parts = list(a.ask_stream("When does the bakery open?"))
    final = parts[-1]
    assert "".join(p for p in parts[:-1] if isinstance(p, str)).split() == PARROT_ANSWER.split()
    assert len(a.retrieve("When does the bakery open?", k=6)) < 7  # so [7] points at nothing
    assert final.answerer == "extractive" and final.answered
    assert final.note.startswith(f"nothing the model at {served['server'].url} wrote was supported")


@pytest.mark.slow
def test_transformers_serve_a_supported_answer_is_kept(tmp_seeds, tmp_index, served):
    a = _served_assistant(tmp_seeds, tmp_index, served, "supported")
    final = a.ask("When does the bakery open?")
    assert final.answerer == f"generative: {served['supported']} at {served['server'].url}"
    assert final.text == f"{BAKERY} [1]" and final.note == ""
    assert final.citations[0].doc == "bakery.md" and final.citations[0].text == BAKERY
    _check_offsets(final, tmp_seeds)


@pytest.mark.slow
def test_the_web_chat_answers_through_transformers_serve(tmp_path, served):
    """What `ASSISTANT_GENERATOR=http://127.0.0.1:PORT/v1 ASSISTANT_GENERATOR_MODEL=NAME make run` does: app.py
    on the seed article, the chat's own events as the page calls them, the answer written by the served model,
    its claim verified against the exact sentence it cites."""
    from gradio_client import Client

    env = {"ASSISTANT_GENERATOR": served["server"].url, "ASSISTANT_GENERATOR_MODEL": served["merz"]}
    with app_server(tmp_path, env=env) as server:
        client = Client(server["url"] + "/", verbose=False)
        client.predict("Who hosted the talks?", api_name="/add_question")
        chat, _ = client.predict(api_name="/respond")
        html = str(chat[-1]["content"])
    assert "German Chancellor Friedrich Merz hosted the talks. <a class=\"cite\"" in html
    assert f"Answered by {served['merz']} at {served['server'].url}, each sentence checked against its source" in html
    assert "<mark>German Chancellor Friedrich Merz, who hosted the talks, welcomed" in html


@pytest.mark.slow
def test_transformers_serve_gone_down(tmp_seeds, tmp_index, served):
    served["server"].stop()
    final = _served_assistant(tmp_seeds, tmp_index, served, "random").ask("When does the bakery open?")
    assert final.answerer == "extractive" and final.answered
    assert re.match(rf"the model at {re.escape(served['server'].url)} could not be reached", final.note)


# ---------------------------------------------------------------------------------------------------
# The embedder of the user's choice, and the reranker (tiny models built by bench/tiny.py)


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    from bench.tiny import build_cross_encoder, build_sentence_transformer

    root = tmp_path_factory.mktemp("tiny-models")
    return {"st-a": build_sentence_transformer(root / "st-a", seed=1),
            "st-b": build_sentence_transformer(root / "st-b", seed=2, dim=16),
            "ce": build_cross_encoder(root / "ce", seed=3)}


def test_any_sentence_transformers_folder_is_the_embedder_and_a_change_rebuilds(tmp_seeds, tmp_index, tiny_models):
    from assistant import index as indexer
    from assistant import store

    def build(**settings):
        a = Assistant(seeds=tmp_seeds, index=tmp_index, embed_backend="torch", **settings)
        return a, a.build()

    a, first = build(model=str(tiny_models["st-a"]))
    assert a.embedder.dim == 24 and a.embedder.max_tokens == 128, "read from the model (Dense out_features)"
    digest, parts = indexer.fingerprint(a.settings, a.embedder)
    assert parts["embedder"].startswith("sentence-transformers:st-a:") and parts["dim"] == 24
    assert store.read_manifest(tmp_index)["fingerprint"] == digest
    assert first.full_rebuild and first.passages_embedded > 0
    hits = a.retrieve("When does the bakery open?", k=3)
    assert len(hits) == 3
    for h in hits:
        assert (tmp_seeds / h.doc).read_text(encoding="utf-8")[h.start : h.end] == h.text
    _, same = build(model=str(tiny_models["st-a"]))
    assert not same.full_rebuild and same.passages_embedded == 0, "the same model: nothing embedded again"
    b, other = build(model=str(tiny_models["st-b"]))
    assert other.full_rebuild and other.passages_embedded == first.passages_embedded and b.embedder.dim == 16
    _, prefixed = build(model=str(tiny_models["st-b"]), query_prefix="query: ", passage_prefix="passage: ")
    assert prefixed.full_rebuild, "the prefixes change the vectors: they are in the fingerprint"
    _, again = build(model=str(tiny_models["st-b"]), query_prefix="query: ", passage_prefix="passage: ")
    assert not again.full_rebuild and again.passages_embedded == 0


def test_prefixes_reach_the_model(tiny_models):
    from assistant.embed import Prefixed, shared_embedder

    plain = shared_embedder(str(tiny_models["st-a"]), 1, 8, "torch")
    e = shared_embedder(str(tiny_models["st-a"]), 1, 8, "torch", "", "query: ", "passage: ")
    assert isinstance(e, Prefixed) and e.name != plain.name
    assert (e.encode(["bakery"]) == plain.encode(["query: bakery"])).all()
    text = "The bakery opens at six. It closes at noon."
    vectors, spans = e.encode_passages([text], [[(0, 24), (25, len(text))]])
    expected, expected_spans = plain.encode_passages(["passage: " + text], [[(9, 33), (34, 9 + len(text))]])
    assert (vectors == expected).all() and (spans == expected_spans).all()
    assert e.count_tokens(text) == plain.count_tokens("passage: " + text)


def test_a_model_name_is_found_offline_or_the_error_says_what_was_tried(tmp_path, tiny_models, monkeypatch):
    import shutil

    import huggingface_hub.constants

    from assistant.embed import model_path, shared_embedder
    from assistant.errors import ModelError

    cache = tmp_path / "hub"
    commit = "0" * 40
    for repo in ("models--acme--tiny-st", "models--sentence-transformers--tiny-mini"):
        shutil.copytree(tiny_models["st-a"], cache / repo / "snapshots" / commit)
        (cache / repo / "refs").mkdir()
        (cache / repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    assert model_path("acme/tiny-st") == (cache / "models--acme--tiny-st" / "snapshots" / commit, "acme/tiny-st")
    assert model_path("tiny-mini")[1] == "sentence-transformers/tiny-mini"
    assert shared_embedder("acme/tiny-st", 1, 8, "torch").name.startswith("sentence-transformers:acme/tiny-st:")
    with pytest.raises(ModelError) as caught:
        model_path("BAAI/bge-small-en-v1.5")
    message = str(caught.value)
    assert "'BAAI/bge-small-en-v1.5' is not on disk" in message and "BAAI/bge-small-en-v1.5 in the Hugging Face cache" in message
    assert "HF_HUB_OFFLINE" in message and "ASSISTANT_MODEL at a folder" in message
    with pytest.raises(ModelError, match="reranker 'nothing-here' is not on disk.*sentence-transformers/nothing-here"
                                         ".*ASSISTANT_RERANKER"):
        model_path("nothing-here", what="reranker", setting="ASSISTANT_RERANKER")


def test_the_reranker_reorders_the_candidates(tmp_seeds, tmp_index, tiny_models):
    from sentence_transformers import CrossEncoder

    question = "What does a croissant cost?"
    plain = Assistant(seeds=tmp_seeds, index=tmp_index, embedder=HashingEmbedder())
    retrieved = plain.retrieve(question, k=20)
    reranked = Assistant(seeds=tmp_seeds, index=tmp_index, embedder=HashingEmbedder(),
                         reranker=str(tiny_models["ce"]))
    hits = reranked.retrieve(question, k=3)
    scores = CrossEncoder(str(tiny_models["ce"]), device="cpu").predict([(question, h.text) for h in retrieved])
    expected = [retrieved[i] for i in sorted(range(len(retrieved)), key=lambda i: (-float(scores[i]), i))[:3]]
    assert [(h.doc, h.start, h.end) for h in hits] == [(h.doc, h.start, h.end) for h in expected]
    assert [h.rank for h in hits] == [1, 2, 3]
    assert [(h.doc, h.start) for h in hits] != [(h.doc, h.start) for h in retrieved[:3]], "it changed the order"
    final = reranked.ask(question)  # the answerer works from the reordered passages, verified as always
    assert final.answered
    _check_offsets(final, tmp_seeds)


# ---------------------------------------------------------------------------------------------------
# The web chat with a generator: who answered, why a fallback, and a new question stopping the old one


def _web_app(assistant: Assistant):
    from assistant.web import WebApp

    app = WebApp(assistant)
    app.ready.set()  # no background warm-up: the handlers are driven directly
    return app


def _respond(app, question: str, session: str) -> str:
    conv = {"messages": [], "history": []}
    _, pending, conv, _ = app.add_question(question, conv, session)
    *_, (messages, _, _) = app.respond(pending, conv, session)
    return messages[-1]["content"]


def test_the_web_chat_says_which_model_answered_and_why_it_fell_back(tmp_seeds, tmp_index, scripted):
    scripted.reply = lambda body: [f"{BAKERY} [{_passage_number(body, 'six o’clock')}]", " Cake is free. [1]"]
    app = _web_app(_endpoint_assistant(tmp_seeds, tmp_index, scripted.url, generator_timeout=1.0))
    html = _respond(app, "When does the bakery open?", "s1")
    assert f"Answered by scripted at {scripted.url}, each sentence checked against its source" in html
    assert "1 statement the model wrote was left out: not supported by the passage cited." in html
    assert 'class="cite"' in html and "Cake is free" not in html
    scripted.mode = "hang"
    html = _respond(app, "When does the bakery open?", "s1")
    assert "Answered by sentences quoted from the documents (extractive)" in html
    assert (f"The model at {scripted.url} did not answer in 1 s; the answer below is quoted from the documents "
            "instead.") in html


def test_a_new_question_in_the_same_tab_stops_the_answer_being_written(tmp_seeds, tmp_index, scripted):
    scripted.reply = lambda body: [f"word{i} " for i in range(400)]
    scripted.delay = 0.05
    app = _web_app(_endpoint_assistant(tmp_seeds, tmp_index, scripted.url))
    conv = {"messages": [], "history": []}
    _, pending, conv, _ = app.add_question("When does the bakery open?", conv, "tab")
    first = app.respond(pending, conv, "tab")
    shown = [next(first) for _ in range(3)]  # waiting, searching, then the model's text streaming in
    assert "word0" in shown[-1][0][-1]["content"]
    app.add_question("What does a croissant cost?", conv, "other-tab")  # another tab: nothing stops
    app.add_question("What does a croissant cost?", conv, "tab")  # the same tab asks again
    *_, (messages, _, _) = first
    html = messages[-1]["content"]
    assert "The question was replaced by a new one before the model finished" in html
    assert "six o’clock" in html and _pieces_sent(scripted) < 400
