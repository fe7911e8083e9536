"""Security: where the server listens and who gets in, what uploads can do, that nothing in the load
path can execute data, and that everything shown in the UI is escaped.

(tests/test_web_render.py checks safe_name on fixed examples, launch() with a fake Gradio, and one
hostile document; tests/test_index.py checks checksum and manifest damage. Here: the real server
process, properties over any input, and an attacker who can also rewrite the checksums.)
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant import Assistant, Settings, store, web
from assistant import index as indexer
from assistant.embed import HashingEmbedder
from assistant.errors import DamagedIndexError
from assistant.types import Answer, Hit

from .appserver import app_server
from .conftest import DOCS, REPO, write_docs

PACKAGE = REPO / "assistant"

def listening_addresses(port: int) -> set[str]:
    """The local addresses of the LISTEN sockets on this port, from /proc/net/tcp{,6}."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                raw = bytes.fromhex(address)
                if width == 8:
                    found.add(socket.inet_ntop(socket.AF_INET, raw[::-1]))
                else:  # four little-endian 32-bit words
                    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                    found.add(socket.inet_ntop(socket.AF_INET6, words))
    return found


def own_non_loopback_address() -> str | None:
    """This machine's address on its default route (a UDP 'connect' sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed anywhere real
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address


@pytest.mark.slow
def test_the_server_listens_on_loopback_only_by_default(tmp_path):
    with app_server(tmp_path) as server:
        assert listening_addresses(server["port"]) == {"127.0.0.1"}
        log = server["log"].read_text()
        assert "warning" not in log.lower() and "http://127.0.0.1:" in log
        other = own_non_loopback_address()
        if other is not None:  # from this machine's other address it is not reachable at all
            with pytest.raises(OSError), socket.create_connection((other, server["port"]), timeout=3):
                pass


@pytest.mark.slow
def test_another_address_warns_and_the_password_keeps_everyone_else_out(tmp_path):
    from gradio_client import Client

    with app_server(tmp_path, "--host", "0.0.0.0", env={"ASSISTANT_PASSWORD": "correct horse"}) as server:
        assert listening_addresses(server["port"]) == {"0.0.0.0"}
        log = server["log"].read_text()
        assert "warning: serving on 0.0.0.0" in log and "password" in log
        url = server["url"]
        for path in ("/config", "/gradio_api/info"):  # the app's API is behind the login
            with pytest.raises(urllib.error.HTTPError) as caught:
                urllib.request.urlopen(url + path, timeout=10)
            assert caught.value.code == 401
        with pytest.raises(Exception, match="credentials were not provided|login"):
            Client(url + "/", verbose=False)
        with pytest.raises(Exception, match="login"):
            Client(url + "/", auth=("anyone", "wrong horse"), verbose=False)
        client = Client(url + "/", auth=("anyone", "correct horse"), verbose=False)
        status, _ = client.predict(api_name="/poll")
        assert "app-status" in status


def test_the_defaults_say_loopback():
    from assistant.cli import _parser

    assert _parser().parse_args(["serve"]).host == "127.0.0.1"
    out = subprocess.run([sys.executable, str(REPO / "app.py"), "--help"], capture_output=True, text=True,
                         check=True).stdout
    assert "default 127.0.0.1" in out


# ---------------------------------------------------------------------------------------------------
# Uploads


@settings(max_examples=300, deadline=None)
@given(name=st.one_of(
    st.text(max_size=120),
    st.lists(st.sampled_from(["..", "/", "\\", ".", "\x00", "~", "%2e", "%2f", "／", "．", "\u202e", " ", "C:",
                              "etc", "passwd", ".txt", ".md", ".html", ".pdf", ".exe", "é", "\n"]),
             max_size=20).map("".join),
))
def test_any_upload_name_becomes_a_plain_name_inside_seeds_or_is_refused(name):
    try:
        safe = web.safe_name(name)
    except web.UploadError as exc:
        assert str(exc)
        return
    assert safe and not safe.startswith(".") and "/" not in safe and "\\" not in safe
    assert not any(ord(ch) < 32 or ch == "\x7f" for ch in safe)
    assert os.path.splitext(safe)[1] in web.UPLOAD_SUFFIXES
    assert len(safe) <= web.MAX_NAME_CHARS + len(".html")
    seeds = Path("/srv/seeds")
    assert (seeds / safe).resolve().parent == seeds  # one plain component: it cannot leave seeds/


HOSTILE_UPLOADS = {
    "../../evil.txt": "evil.txt",
    "/etc/cron.d/evil.txt": "evil.txt",
    "..\\..\\windows\\evil.md": "evil.md",
    "seeds/../../../escape.txt": "escape.txt",
    "%2e%2e%2fencoded.txt": "2e_2e_2fencoded.txt",
    "．．／fullwidth.txt": None,  # NFC keeps fullwidth forms: any plain name inside seeds/ is fine
    ".bashrc.txt": "bashrc.txt",
    "notes.txt": "notes-2.txt",  # exists already: never overwritten
}
REFUSED_UPLOADS = {
    "evil.txt\x00.exe": "NUL",
    "payload.exe": "not a supported file type",
    "archive.txt.gz": "not a supported file type",
    "../": "not a supported file type",
}


def test_hostile_upload_names_through_the_handler(tmp_path):
    seeds = write_docs(tmp_path / "seeds", {"notes.txt": "The original notes about the ferry timetable."})
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside / "planted.txt", seeds / "planted.txt")  # a dangling link planted inside seeds/
    a = Assistant(seeds=seeds, index=tmp_path / "index", embedder=HashingEmbedder(), auto_refresh=False)
    app = web.WebApp(a)
    app.ready.set()
    names = [*HOSTILE_UPLOADS, *REFUSED_UPLOADS, "planted.txt"]
    items = []
    for i, name in enumerate(names):
        src = tmp_path / f"upload-{i}"
        src.write_text(f"Uploaded document {i} mentions the harbour master Ines Vale.", encoding="utf-8")
        items.append({"path": str(src), "orig_name": name})
    before_outside = {p.name for p in tmp_path.iterdir()}
    shown = app.upload(items)[0]

    created = {p.name for p in seeds.iterdir()} - {"notes.txt", "planted.txt"}
    for name, expected in HOSTILE_UPLOADS.items():
        if expected is not None:
            assert expected in created, (name, created)
    assert "planted-2.txt" in created  # the name of the planted link was not used ...
    assert not (outside / "planted.txt").exists()  # ... and nothing was written through it
    assert len(created) == len(HOSTILE_UPLOADS) + 1
    assert all(not p.is_symlink() and p.resolve().parent == seeds.resolve() for p in seeds.iterdir()
               if p.name in created)
    assert (seeds / "notes.txt").read_text(encoding="utf-8") == "The original notes about the ferry timetable."
    assert {p.name for p in tmp_path.iterdir()} == before_outside | {"index"}  # nothing new beside seeds/
    assert not any(outside.iterdir())
    for name, reason in REFUSED_UPLOADS.items():
        assert reason in shown, (name, shown)
    assert "saved as notes-2.txt" in shown and "Index updated" in shown
    inspect(shown)  # every name in the result is shown as text


# ---------------------------------------------------------------------------------------------------
# Nothing in the load path executes data

FORBIDDEN = [
    (r"\bimport\s+(pickle|cPickle|dill|joblib|shelve|marshal)\b|\bfrom\s+(pickle|dill|joblib|shelve|marshal)\b",
     "an unpickling module"),
    (r"(?<![\w.])(eval|exec)\s*\(", "eval/exec"),
    (r"\b__import__\s*\(|\bimportlib\.import_module\s*\(", "dynamic imports"),
    (r"torch\.load\s*\(", "torch.load (pickle)"),
    (r"allow_pickle\s*=\s*True", "allow_pickle=True"),
    (r"yaml\.(unsafe_)?load\s*\(", "yaml.load"),
    (r"trust_remote_code\s*=\s*True", "remote code"),
]


def test_the_package_source_has_no_pickle_eval_or_exec():
    sources = sorted(PACKAGE.glob("*.py"))
    assert len(sources) > 10
    for path in sources:
        code = path.read_text(encoding="utf-8")
        for pattern, what in FORBIDDEN:
            hits = [code.count("\n", 0, m.start()) + 1 for m in re.finditer(pattern, code)]
            assert not hits, f"{path.name} uses {what} on lines {hits}"
        for m in re.finditer(r"\b(np|numpy)\.load\s*\(", code):  # every NumPy load refuses pickles
            call = code[m.start() : code.index(")", m.end()) + 1]
            assert "allow_pickle=False" in call, f"{path.name}: {call}"
        for m in re.finditer(r"\.load\s*\(", code):  # bm25s and friends: told not to unpickle
            line = code[code.rfind("\n", 0, m.start()) + 1 : code.find("\n", m.end())]
            if "bm25s" in line or "BM25" in line:
                assert "allow_pickle=False" in line, f"{path.name}: {line.strip()}"


class Payload:
    """Unpickling this creates a file: proof that data was executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "pwned"))


@pytest.fixture
def built(tmp_path: Path) -> Settings:
    cfg = Settings(seeds=write_docs(tmp_path / "seeds", DOCS), index=tmp_path / "index")
    indexer.build(cfg, HashingEmbedder())
    return cfg


def reseal(cfg: Settings) -> None:
    """An attacker who can write index/ can also rewrite the manifest's checksums to match."""
    path = cfg.index / store.MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    folder = cfg.index / manifest["generation"]
    manifest["files"] = {p.relative_to(folder).as_posix(): {"size": p.stat().st_size, "sha256": store._sha256(p)}
                         for p in sorted(folder.rglob("*")) if p.is_file()}
    path.write_text(json.dumps(manifest), encoding="utf-8")


def tamper_npy_with_pickle(cfg: Settings, marker: Path) -> None:
    folder = cfg.index / store.read_manifest(cfg.index)["generation"] / "bm25"
    for npy in folder.glob("*.npy"):
        arr = np.empty(1, dtype=object)
        arr[0] = Payload(marker)
        np.save(npy, arr, allow_pickle=True)


def tamper_faiss_with_pickle(cfg: Settings, marker: Path) -> None:
    path = cfg.index / store.read_manifest(cfg.index)["generation"] / "faiss.index"
    path.write_bytes(pickle.dumps(Payload(marker)))


def tamper_passages_with_code(cfg: Settings, marker: Path) -> None:
    path = cfg.index / store.read_manifest(cfg.index)["generation"] / "passages.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[0])
    record["start"] = f"__import__('pathlib').Path({str(marker)!r}).write_text('pwned')"
    path.write_text("\n".join([json.dumps(record), *lines[1:]]) + "\n", encoding="utf-8")


def tamper_bm25_params_with_code(cfg: Settings, marker: Path) -> None:
    folder = cfg.index / store.read_manifest(cfg.index)["generation"] / "bm25"
    for params in folder.glob("params*.json"):
        data = json.loads(params.read_text(encoding="utf-8"))
        data["method"] = f"__import__('pathlib').Path({str(marker)!r}).write_text('pwned')"
        data["backend"] = "__import__('os')"
        params.write_text(json.dumps(data), encoding="utf-8")


def tamper_files_outside(cfg: Settings, marker: Path) -> None:
    path = cfg.index / store.MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["files"]["../../../../../../etc/hostname"] = {"size": 1, "sha256": "0" * 64}
    path.write_text(json.dumps(manifest), encoding="utf-8")


def test_code_in_bm25_parameters_is_never_run(built, tmp_path):
    """Strings in bm25s' JSON parameters stay strings: loading them runs nothing."""
    marker = tmp_path / "pwned"
    tamper_bm25_params_with_code(built, marker)
    reseal(built)
    try:
        store.load(built.index)
    except DamagedIndexError as exc:
        assert "rebuilt" in str(exc)
    assert not marker.exists(), "data in the index was executed"


@pytest.mark.parametrize("tamper", [tamper_npy_with_pickle, tamper_faiss_with_pickle, tamper_passages_with_code,
                                    tamper_files_outside],
                         ids=lambda f: f.__name__.removeprefix("tamper_"))
def test_a_tampered_index_with_matching_checksums_is_rejected_and_runs_nothing(built, tmp_path, tamper, caplog):
    marker = tmp_path / "pwned"
    tamper(built, marker)
    if tamper is not tamper_files_outside:
        reseal(built)
    with pytest.raises(DamagedIndexError, match="rebuilt") as caught:
        store.load(built.index)
    assert not marker.exists(), "data in the index was executed"
    assert str(built.index) in str(caught.value) and "\n" not in str(caught.value)

    # the Assistant reports it (a warning in the log), rebuilds, and answers
    a = Assistant(settings=built, embedder=HashingEmbedder(), auto_refresh=False)
    answer = a.ask("How much does a croissant cost?")
    assert answer.answered and "€1.40" in answer.text
    assert any("rebuilt" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert not marker.exists()
    assert store.load(built.index) is not None


AUDITED_LOAD = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from assistant import Assistant
    from assistant.embed import HashingEmbedder

    seeds, warm_index, index = map(Path, sys.argv[1:4])
    # warm up on another index: every lazy import happens now (imports run code: that is not data)
    Assistant(seeds=seeds, index=warm_index, embedder=HashingEmbedder(), auto_refresh=False).ask("warm up")
    events = []
    WATCHED = {"pickle.find_class", "exec", "compile", "marshal.loads", "marshal.load", "os.system",
               "subprocess.Popen", "ctypes.dlopen", "import"}
    sys.addaudithook(lambda event, args: events.append((event, repr(args)[:200])) if event in WATCHED else None)
    a = Assistant(seeds=seeds, index=index, embedder=HashingEmbedder(), auto_refresh=False)
    answer = a.ask("How much does a croissant cost?")
    assert answer.answered, answer.text
    print(json.dumps(events))
    """
)


@pytest.mark.slow
def test_loading_the_index_and_answering_executes_no_data(built, tmp_path):
    """An audit hook sees every unpickling (pickle.find_class), exec/eval/compile and import while a fresh
    Assistant loads an index from disk and answers: there must be none."""
    shutil.copytree(built.index, tmp_path / "warm-index")
    result = subprocess.run([sys.executable, "-c", AUDITED_LOAD, str(built.seeds), str(tmp_path / "warm-index"),
                             str(built.index)], cwd=REPO, capture_output=True, text=True, timeout=300,
                            check=False)
    assert result.returncode == 0, result.stderr
    events = json.loads(result.stdout.strip().splitlines()[-1])
    # NumPy reads each .npy header with ast.literal_eval, which compiles to a syntax tree and accepts
    # literals only (no names, no calls): that parses data, it does not run it
    npy_headers = [e for e in events if e[0] == "compile" and e[1].startswith("(b\"{'descr':")]
    arrays = list((built.index / store.read_manifest(built.index)["generation"]).rglob("*.npy"))
    assert 0 < len(npy_headers) <= len(arrays)  # the BM25 arrays, loaded with allow_pickle=False
    assert [e for e in events if e not in npy_headers] == []


# ---------------------------------------------------------------------------------------------------
# Escaping everywhere the UI shows text

ALLOWED_TAGS = {"div", "span", "a", "mark", "details", "summary", "q", "b", "br", "table", "thead", "tbody", "tr",
                "th", "td"}
ALLOWED_ATTRS = {"class", "id", "href", "title", "open"}


class Inspector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in ALLOWED_TAGS:
            self.problems.append(f"tag <{tag}>")
        for name, value in attrs:
            if name not in ALLOWED_ATTRS:
                self.problems.append(f"attribute {name}")
            if name == "href" and not (value or "").startswith("#"):
                self.problems.append(f"href {value!r}")

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_data(self, data):
        self.text.append(data)

    def handle_comment(self, data):
        self.problems.append("comment")

    def handle_decl(self, decl):
        self.problems.append("declaration")

    def unknown_decl(self, data):
        self.problems.append("declaration")

    def handle_pi(self, data):
        self.problems.append("processing instruction")


def inspect(html: str) -> str:
    parser = Inspector()
    parser.feed(html)
    parser.close()
    assert not parser.problems, (parser.problems, html)
    assert "\n" not in html and "\r" not in html  # one HTML block: no Markdown paragraph can start
    return "".join(parser.text)


HOSTILE_TEXT = st.one_of(
    st.text(max_size=80),
    st.lists(st.sampled_from(["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "</div>", "<!--", "-->",
                              "&lt;", "&amp;", "\"", "'", "`", "*bold*", "_em_", "[1]", "[link](javascript:x)",
                              "$x$", "\\", "<a href='javascript:alert(1)'>", "]]>", "<![CDATA[", "\n", "\r",
                              "{{7*7}}", "<?php ?>", "<svg onload=alert(1)>", "é", "🙂", "\u202e"]),
             max_size=12).map("".join),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=HOSTILE_TEXT, text=HOSTILE_TEXT, before=HOSTILE_TEXT, query=HOSTILE_TEXT, answer_text=HOSTILE_TEXT,
       message=HOSTILE_TEXT)
def test_everything_the_ui_shows_is_escaped(doc, text, before, query, answer_text, message):
    context = before + " " + text
    hit = Hit(doc=doc, start=len(before) + 1, end=len(context), text=text, score=1.0, rank=1, context_start=0,
              context_end=len(context), context_text=context)
    answered = Answer(f"{answer_text} [1] [7]", [hit], True, query)
    abstained = Answer(answer_text, [], False, query, closest=[hit])
    def flat(value: str) -> str:  # newlines are shown as <br>
        return value.replace("\r", "").replace("\n", "")

    for html in (web.render_answer(answered, "m1"), web.render_answer(abstained, "m2")):
        assert flat(doc) in inspect(html)  # the name is there, as text
    shown = inspect(web.render_documents([{"doc": doc, "passages": 1, "chars": 3, "status": message}], "fresh",
                                         message))
    assert flat(doc) in shown and flat(message) in shown
    for render in (web.render_error, web.render_user, web.render_status, web.render_waiting, web.render_streaming):
        inspect(render(message))


def test_upload_results_and_rebuild_errors_are_escaped(tmp_path, monkeypatch):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    a = Assistant(seeds=seeds, index=tmp_path / "index", embedder=HashingEmbedder(), auto_refresh=False)
    app = web.WebApp(a)
    app.ready.set()
    src = tmp_path / "x"
    src.write_text("The <b>ferry</b> leaves <script>at noon</script>.", encoding="utf-8")
    html = app.upload([{"path": str(src), "orig_name": '<img src=x onerror="alert(1)">.exe'},
                       {"path": str(src), "orig_name": "<svg onload=alert(1)>.txt"}])[0]
    shown = inspect(html)
    assert 'Refused <img src=x onerror="alert(1)">.exe' in shown and "svg_onload_alert_1.txt" in shown  # as text

    def fail(*args, **kwargs):
        from assistant.errors import IndexWriteError

        raise IndexWriteError('Could not write <img src=x onerror="alert(1)">')

    monkeypatch.setattr(a, "build", fail)
    inspect(app.rebuild()[0])
