"""What the Node client suites share: built binaries, free ports, `drover-mock` nodes of each
kind behind one `drover serve`, the pinned npm packages in a cache outside the checkout, and
a logging proxy that records what a client sent to Drover and what it got back.

Every node kind serves its own model names, so a client picks the node kind by the model:
`MODELS[kind]`.
"""

import filecmp
import http.client
import http.server
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
PROFILE = os.environ.get("DROVER_TEST_PROFILE", "debug")

# The model each node kind serves, and the key it demands. The Anthropic node serves a
# real Claude model name so Claude Code treats it as it treats Anthropic's API.
MODELS = {"ollama": "qwen3-coder:latest", "openai": "gpt-mock", "anthropic": "claude-sonnet-4-5"}
KEYS = {"ollama": None, "openai": "sk-openai-mock-key-0001", "anthropic": "sk-ant-mock-key-0002"}
# A second name on the Anthropic node, one Claude Code does not recognise as Claude's (an
# alias, say): it then sends its fuller request (mid-conversation system messages,
# `output_config`, adaptive thinking).
UNKNOWN_TO_CLAUDE = "local-coder"
ANTHROPIC_EXTRA = [UNKNOWN_TO_CLAUDE]
# Embedding models, on the kinds that serve embeddings.
EMBED_MODELS = {"ollama": "nomic-embed-text:latest", "openai": "text-embedding-3-small"}


def binary(name):
    return os.path.join(TARGET, PROFILE, name)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url, deadline=15):
    end = time.time() + deadline
    while time.time() < end:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except Exception:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} never became ready")


def cache_dir(name):
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "drover-tests", name)


def npm_install(name):
    """Installs `tests/clients/<name>/package.json` (exact versions, with its lock file) into
    a cache folder, reused while the lock file is unchanged. Returns the folder."""
    src = os.path.join(HERE, name)
    lock = os.path.join(src, "package-lock.json")
    dest = cache_dir(name)
    # Written only after a whole install, so a broken one is redone.
    stamp = os.path.join(dest, ".installed-lock.json")
    if os.path.exists(stamp) and filecmp.cmp(stamp, lock, shallow=False):
        return dest
    os.makedirs(dest, exist_ok=True)
    for f in ("package.json", "package-lock.json"):
        shutil.copy(os.path.join(src, f), os.path.join(dest, f))
    print(f"installing {name} packages into {dest}", flush=True)
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=dest,
                   check=True, timeout=600)
    shutil.copy(lock, stamp)
    return dest


class Cluster:
    """Three mock nodes (Ollama, OpenAI-compatible, Anthropic) behind one Drover."""

    def __init__(self, tokens=4):
        self.procs = []
        self.dir = tempfile.mkdtemp(prefix="drover-agents-")
        try:
            self._start(tokens)
        except BaseException:
            self.close()
            raise

    def _start(self, tokens):
        self.mocks = {}
        for kind in ("ollama", "openai", "anthropic"):
            port = free_port()
            models = [MODELS[kind]]
            if kind in EMBED_MODELS:
                models.append(EMBED_MODELS[kind])
            if kind == "anthropic":
                models += ANTHROPIC_EXTRA
            args = [binary("drover-mock"), "--listen", f"127.0.0.1:{port}", "--name", kind,
                    "--kind", kind, "--models", ",".join(models), "--tokens", str(tokens)]
            if KEYS[kind]:
                args += ["--api-key", KEYS[kind]]
            self.procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL))
            self.mocks[kind] = f"http://127.0.0.1:{port}"
        port = free_port()
        config = os.path.join(self.dir, "drover.toml")
        nodes = {"ollama": self.mocks["ollama"], "openai": self.mocks["openai"] + "/v1",
                 "anthropic": self.mocks["anthropic"]}
        with open(config, "w") as f:
            f.write(f'listen = "127.0.0.1:{port}"\n'
                    f'database_url = "sqlite://{self.dir}/drover.db"\n')
            for kind, url in nodes.items():
                f.write(f'[[nodes]]\nname = "{kind}"\nkind = "{kind}"\nurl = "{url}"\n')
                if KEYS[kind]:
                    f.write(f'api_key = "{KEYS[kind]}"\n')
        env = {k: v for k, v in os.environ.items() if not k.startswith("DROVER_")}
        env["DROVER_HEALTH__INTERVAL"] = "200ms"
        env["DROVER_LOG__LEVEL"] = "warn"
        self.procs.append(subprocess.Popen([binary("drover"), "serve", "--config", config], env=env))
        self.drover = f"http://127.0.0.1:{port}"
        for url in self.mocks.values():
            wait_ready(url + "/_mock/log")
        wait_ready(self.drover + "/readyz")

    def mock_log(self, kind):
        """The mock's record: `rejections` and the last `refused` answers (status, body)."""
        with urllib.request.urlopen(self.mocks[kind] + "/_mock/log", timeout=5) as r:
            return json.load(r)

    def rejections(self):
        return {kind: self.mock_log(kind)["rejections"] for kind in self.mocks}

    def close(self):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
       "proxy-connection", "host", "content-length"}


class Proxy:
    """Forwards every request to `upstream` unchanged, streams the answer back, and records
    each exchange: method, path, request headers and JSON body, answer status, headers and
    (up to a limit) body."""

    BODY_LIMIT = 4000

    def __init__(self, upstream):
        self.exchanges = []
        lock = threading.Lock()
        host, port = upstream.removeprefix("http://").split(":")
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle_one(self):
                n = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(n) if n else b""
                try:
                    parsed = json.loads(body) if body else None
                except ValueError:
                    parsed = body[:200].decode(errors="replace")
                rec = {"method": self.command, "path": self.path,
                       "headers": {k.lower(): v for k, v in self.headers.items()},
                       "body": parsed}
                with lock:
                    proxy.exchanges.append(rec)
                conn = http.client.HTTPConnection(host, int(port), timeout=120)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                resp = conn.getresponse()
                rec["status"] = resp.status
                rec["answer_headers"] = {k.lower(): v for k, v in resp.getheaders()}
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in HOP:
                        self.send_header(k, v)
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("Connection", "close")
                self.end_headers()
                seen = bytearray()
                while True:
                    chunk = resp.read1(65536) if self.command != "HEAD" else b""
                    if not chunk:
                        break
                    if len(seen) < proxy.BODY_LIMIT:
                        seen += chunk[:proxy.BODY_LIMIT - len(seen)]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
                if self.command != "HEAD":
                    self.wfile.write(b"0\r\n\r\n")
                rec["answer"] = seen.decode(errors="replace")
                conn.close()
                self.close_connection = True

            def do_GET(self):
                self.handle_one()

            do_POST = do_HEAD = do_PUT = do_DELETE = do_OPTIONS = do_GET

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def failures(self, method=None):
        """Exchanges answered 4xx or 5xx (of `method` only, when given)."""
        return [e for e in self.exchanges if e.get("status", 0) >= 400
                and (method is None or e["method"] == method)]


def describe(exchange):
    """One exchange in a few lines: what was sent (fields, tool types) and what came back."""
    body = exchange.get("body")
    lines = [f"  {exchange['method']} {exchange['path']} -> {exchange.get('status')}"]
    beta = exchange["headers"].get("anthropic-beta")
    if beta:
        lines.append(f"    anthropic-beta: {beta}")
    if isinstance(body, dict):
        lines.append(f"    fields: {sorted(body)}")
        roles = [m.get("role") for m in body.get("messages") or [] if isinstance(m, dict)]
        if roles:
            lines.append(f"    message roles: {roles}")
        tools = body.get("tools")
        if isinstance(tools, list):
            kinds = sorted({t.get("type", "-") for t in tools if isinstance(t, dict)})
            names = [t.get("name") or (t.get("function") or {}).get("name") for t in tools
                     if isinstance(t, dict)]
            lines.append(f"    tools: {len(tools)} of types {kinds}: {names}")
    if exchange.get("status", 0) >= 400:
        lines.append(f"    answer: {exchange.get('answer', '')[:600]}")
    return "\n".join(lines)
