"""Real coding agents against a real Drover: Claude Code (`claude -p`) and Codex CLI
(`codex exec`), pinned in `agents/package.json` and installed from npm into a cache folder,
each run non-interactively with a private HOME and its default settings, on every node
kind (Ollama, OpenAI-compatible, Anthropic mocks behind one `drover serve`).

Each run takes two turns: the prompt carries a `use tool NAME with {...}` directive, so the
mock answers the first turn with a call the agent can execute (Claude Code: `Read` of a file
made here; Codex: its `exec_command` shell tool running `echo`), and answers the tool result with text that
echoes it (`tool said: ...`). A run passes when the agent reports success, that text reached
it, and no mock refused anything Drover sent.

A logging proxy sits between the agent and Drover; on failure the output shows each request
(path, top-level fields, tool types) and Drover's error answer, and `AGENTS_CAPTURE=DIR`
keeps every exchange as JSON there. Combinations known not to work yet are listed in
`KNOWN_GAPS` and reported without failing the suite; a known gap that passes is reported so
it can be removed from the list (`AGENTS_STRICT=1` fails on every gap).

Run by scripts/test; `python3 tests/clients/agents.py [claude|codex] [ollama|openai|anthropic]`
runs a subset. Binaries come from target/ (`cargo build --workspace --bins`).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

import harness

# Each run normally takes seconds; the bound keeps a hanging agent from eating the CI budget.
RUN_TIMEOUT = int(os.environ.get("AGENTS_RUN_TIMEOUT", "90"))
MARKER = "drover-agent-marker-7f3a"

# (agent, node kind) pairs that fail on Drover today, with the reason. Codex needs
# `POST /v1/responses` (branch `responses`); Claude Code on translating nodes needs lenient
# acceptance of its fields (branch `lenient`).
KNOWN_GAPS = {}


def runs(agents, kinds):
    """(agent, node kind, model) to run: each agent on each kind's model, and Claude Code on
    the Anthropic node also with a model name it does not know as Claude's (an alias to a
    real Anthropic node), for which it sends its fuller request."""
    out = [(a, k, harness.MODELS[k]) for a in agents for k in kinds]
    if "claude" in agents and "anthropic" in kinds:
        out.append(("claude", "anthropic", harness.UNKNOWN_TO_CLAUDE))
    return out


def private_home(root, name):
    home = os.path.join(root, name + "-home")
    os.makedirs(home)
    return home


def base_env(home):
    keep = ("PATH", "LANG", "LC_ALL", "TERM", "TMPDIR", "SSL_CERT_FILE")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env["HOME"] = home
    env["XDG_CONFIG_HOME"] = os.path.join(home, ".config")
    env["XDG_CACHE_HOME"] = os.path.join(home, ".cache")
    env["XDG_DATA_HOME"] = os.path.join(home, ".local", "share")
    return env


def run_claude(bin_dir, proxy, kind, work, model, key):
    """Claude Code reads a file through its `Read` tool; returns (ok, detail)."""
    target = os.path.join(work, "notes.txt")
    with open(target, "w") as f:
        f.write(MARKER + "\n")
    prompt = f'Look at the notes. use tool Read with {json.dumps({"file_path": target})}'
    env = base_env(private_home(work, "claude"))
    env["ANTHROPIC_BASE_URL"] = proxy.url
    env["ANTHROPIC_API_KEY"] = key
    args = [os.path.join(bin_dir, "claude"), "-p", prompt, "--output-format", "stream-json",
            "--verbose", "--model", model, "--allowedTools", "Read"]
    try:
        done = subprocess.run(args, cwd=work, env=env, capture_output=True, text=True,
                              timeout=RUN_TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        return False, f"timed out after {RUN_TIMEOUT}s; stderr: {(e.stderr or '')[-800:]}"
    events = []
    for line in done.stdout.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            pass
    result = next((e for e in reversed(events) if e.get("type") == "result"), None)
    tool_uses = [b for e in events if e.get("type") == "assistant"
                 for b in (e.get("message") or {}).get("content") or [] if b.get("type") == "tool_use"]
    tool_results = [b for e in events if e.get("type") == "user"
                    for b in (e.get("message") or {}).get("content") or []
                    if isinstance(b, dict) and b.get("type") == "tool_result"]
    if result is None:
        return False, f"no result event (exit {done.returncode}); stdout: {done.stdout[-800:]} stderr: {done.stderr[-800:]}"
    text = str(result.get("result", ""))
    ok = (result.get("subtype") == "success" and not result.get("is_error")
          and done.returncode == 0 and tool_uses and any(MARKER in json.dumps(r) for r in tool_results)
          and MARKER in text)
    detail = (f"result {result.get('subtype')} is_error={result.get('is_error')} turns={result.get('num_turns')} "
              f"exit {done.returncode}; tool calls {[(t.get('name'), t.get('input')) for t in tool_uses]}; "
              f"tool results {[str(r.get('content'))[:120] for r in tool_results]}; final text {text[:300]!r}")
    return ok, detail


def run_codex(bin_dir, proxy, kind, work, model, key):
    """Codex runs `echo MARKER` through its shell tool; returns (ok, detail)."""
    env = base_env(private_home(work, "codex"))
    env["DROVER_KEY"] = key
    last = os.path.join(work, "codex-last-message.txt")
    provider = (f'{{name="drover",base_url="{proxy.url}/v1",env_key="DROVER_KEY",'
                'wire_api="responses",request_max_retries=0,stream_max_retries=0}')
    directive = json.dumps({"cmd": f"echo {MARKER}"})
    prompt = f"Say the marker. use tool exec_command with {directive}"
    args = [os.path.join(bin_dir, "codex"), "exec", "--skip-git-repo-check", "--json",
            "-c", "model_provider=drover", "-c", f'model="{model}"',
            "-c", f"model_providers.drover={provider}", "-o", last, prompt]
    try:
        done = subprocess.run(args, cwd=work, env=env, capture_output=True, text=True,
                              timeout=RUN_TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        return False, f"timed out after {RUN_TIMEOUT}s; stderr: {(e.stderr or '')[-800:]}"
    final = open(last).read() if os.path.exists(last) else ""
    events = []
    for line in done.stdout.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            pass
    commands = [e.get("item") for e in events
                if e.get("type") == "item.completed" and (e.get("item") or {}).get("type") == "command_execution"]
    errors = [e for e in events if e.get("type") in ("error", "turn.failed")]
    ok = done.returncode == 0 and MARKER in final and bool(commands)
    detail = (f"exit {done.returncode}; commands {[(c.get('command'), c.get('exit_code')) for c in commands]}; "
              f"final message {final[:300]!r}; errors {json.dumps(errors)[:600]}; stderr {done.stderr[-600:]}")
    return ok, detail


AGENTS = {"claude": run_claude, "codex": run_codex}


class Outcome:
    """One agent run: passed or not, a one-line account, and what the run exchanged."""

    def __init__(self, name, ok, detail, refused, proxy):
        self.name, self.ok, self.detail, self.refused, self.proxy = name, ok, detail, refused, proxy

    def report(self, label, note=""):
        """Prints the run; for a failure also what was sent and answered, once per path."""
        if self.ok:
            print(f"ok  {self.name}: {self.detail}", flush=True)
            return
        print(f"{label} {self.name}{note}\n  {self.detail}")
        if self.refused:
            print(f"  the mock refused: {json.dumps(self.refused)[:1200]}")
        print("  what the agent sent and what came back:")
        seen = set()
        for e in self.proxy.exchanges:
            key = (e["method"], e["path"], e.get("status"))
            if key not in seen or e.get("status", 0) >= 400:
                seen.add(key)
                print(harness.describe(e))
        sys.stdout.flush()


def run(cluster, bin_dir, agent, kind, model, upstream, capture, key="sk-drover-agents-test"):
    """Runs `agent` on `model` through a logging proxy in front of `upstream` (Drover, or a
    mock directly). It passes when the agent succeeded, the mock of `kind` refused nothing
    and nothing the agent sent was refused (agents retry a refused request with fewer
    features, so a refusal can hide behind a success)."""
    work = tempfile.mkdtemp(prefix=f"drover-{agent}-{kind}-")
    proxy = harness.Proxy(upstream)
    before = cluster.rejections()[kind]
    try:
        ok, detail = AGENTS[agent](bin_dir, proxy, kind, work, model, key)
    finally:
        proxy.close()
        shutil.rmtree(work, ignore_errors=True)
    log = cluster.mock_log(kind)
    refused = log["refused"][-(log["rejections"] - before):] if log["rejections"] > before else []
    turned_down = proxy.failures(method="POST")
    if turned_down:
        detail += f"; {len(turned_down)} request(s) refused, the agent retried with less"
    if capture:
        os.makedirs(capture, exist_ok=True)
        via = "drover" if upstream == cluster.drover else "direct"
        with open(os.path.join(capture, f"{agent}-{kind}-{model}-{via}.json"), "w") as f:
            json.dump({"exchanges": proxy.exchanges, "mock": log}, f, indent=1)
    where = f"on the {kind} node" if upstream == cluster.drover else f"straight to the {kind} mock"
    return Outcome(f"{agent} {where} ({model})", ok and not refused and not turned_down,
                   detail, refused, proxy)


def main(argv):
    agents = [a for a in argv if a in AGENTS] or list(AGENTS)
    kinds = [k for k in argv if k in harness.MODELS] or list(harness.MODELS)
    strict = os.environ.get("AGENTS_STRICT") == "1"
    capture = os.environ.get("AGENTS_CAPTURE")
    bin_dir = os.path.join(harness.npm_install("agents"), "node_modules", ".bin")
    cluster = harness.Cluster()
    failed, gaps, fixed = [], [], []
    try:
        if "claude" in agents and "anthropic" in kinds:
            # Claude Code's fullest request straight to the Anthropic mock: the mock must
            # take all of it, as the real API does, or Drover's tests run against a mock
            # stricter than Anthropic.
            out = run(cluster, bin_dir, "claude", "anthropic", harness.UNKNOWN_TO_CLAUDE,
                      cluster.mocks["anthropic"], capture, key=harness.KEYS["anthropic"])
            out.report("FAIL")
            if not out.ok:
                failed.append(out.name)
        for agent, kind, model in runs(agents, kinds):
            out = run(cluster, bin_dir, agent, kind, model, cluster.drover, capture)
            gap = KNOWN_GAPS.get((agent, kind) if model == harness.MODELS[kind] else (agent, kind, model))
            if gap and not out.ok and not strict:
                out.report("GAP ", f" (known: {gap})")
                gaps.append(out.name)
            else:
                out.report("FAIL")
                if not out.ok:
                    failed.append(out.name)
                elif gap:
                    fixed.append(out.name)
    finally:
        cluster.close()
    if gaps:
        print(f"known gaps ({len(gaps)}): " + "; ".join(gaps))
    if fixed:
        print("these now pass; remove them from KNOWN_GAPS: " + "; ".join(fixed))
    if failed:
        print(f"FAIL agents: {'; '.join(failed)}", file=sys.stderr)
        return 1
    print("agent checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
