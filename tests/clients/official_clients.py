"""The official `ollama`, `openai` and `anthropic` Python clients, unchanged, against a real
Drover, open and with API keys, and across node kinds (OpenAI clients on an Anthropic node,
Anthropic clients on an OpenAI node: streams, tools and images translated both ways), and the
Anthropic SDK's `count_tokens` on every node kind.

Starts `drover-mock` nodes and `drover serve` over them (binaries from target/), then drives
every endpoint the clients expose that Drover serves. Run by scripts/test.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

import anthropic
import ollama
import openai

# Finding the built binaries and waiting for servers: shared with the Node and agent suites.
from harness import binary, free_port, wait_ready  # noqa: E402


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print(f"ok  {what}")


def main():
    procs = []
    try:
        nodes = []
        for name in ("gpu-a", "gpu-b"):
            port = free_port()
            procs.append(subprocess.Popen(
                [binary("drover-mock"), "--listen", f"127.0.0.1:{port}", "--name", name,
                 "--models", "llama3:latest,nomic-embed-text:latest", "--loaded", "llama3:latest",
                 "--tokens", "6"],
                stdout=subprocess.DEVNULL))
            nodes.append((name, f"http://127.0.0.1:{port}"))
        port = free_port()
        args = [binary("drover"), "serve", "--listen", f"127.0.0.1:{port}"]
        for name, url in nodes:
            args += ["--node", f"{name}={url}"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("DROVER_")}
        env["DROVER_HEALTH__INTERVAL"] = "200ms"
        env["DROVER_LOG__LEVEL"] = "warn"
        db_dir = tempfile.mkdtemp(prefix="drover-clients-")
        env["DROVER_DATABASE_URL"] = f"sqlite://{db_dir}/drover.db"
        procs.append(subprocess.Popen(args, env=env))
        base = f"http://127.0.0.1:{port}"
        wait_ready(base + "/readyz")
        run_ollama(base)
        run_openai(base)
        run_count_tokens(base, {"llama3": "exact"})

        # The same clients with API keys (auth.mode = keys), on a second replica.
        port = free_port()
        args[3] = f"127.0.0.1:{port}"
        env["DROVER_AUTH__MODE"] = "keys"
        env["DROVER_AUTH__ADMIN_TOKEN"] = "clients-admin-token"
        env["DROVER_DATABASE_URL"] = f"sqlite://{db_dir}/keys.db"
        procs.append(subprocess.Popen(args, env=env))
        keyed = f"http://127.0.0.1:{port}"
        wait_ready(keyed + "/readyz")
        run_with_keys(keyed, "clients-admin-token")

        # Across node kinds: an OpenAI-compatible node and an Anthropic node, each with its
        # own key, behind a third replica configured by file.
        kinds = {}
        for kind, models, key in (("openai", "gpt-mock", "sk-openai-mock-key-0001"),
                                  ("anthropic", "claude-mock", "sk-ant-mock-key-0002"),
                                  ("ollama", "llama-mock:latest", None),
                                  ("responder", "resp-mock", "sk-openai-mock-key-0003")):
            mock_kind = "openai" if kind == "responder" else kind
            port = free_port()
            procs.append(subprocess.Popen(
                [binary("drover-mock"), "--listen", f"127.0.0.1:{port}", "--name", kind,
                 "--kind", mock_kind, "--models", models, "--tokens", "6"]
                + (["--api-key", key] if key else []),
                stdout=subprocess.DEVNULL))
            kinds[kind] = (f"http://127.0.0.1:{port}", key)
        # A node that rate-limits every request: its 429 and Retry-After reach the client.
        port = free_port()
        procs.append(subprocess.Popen(
            [binary("drover-mock"), "--listen", f"127.0.0.1:{port}", "--name", "limited",
             "--kind", "openai", "--models", "limited-mock", "--fail-status", "429"],
            stdout=subprocess.DEVNULL))
        limited = f"http://127.0.0.1:{port}"
        port = free_port()
        config = os.path.join(db_dir, "kinds.toml")
        with open(config, "w") as f:
            f.write(f'listen = "127.0.0.1:{port}"\n'
                    f'database_url = "sqlite://{db_dir}/kinds.db"\n'
                    '[[nodes]]\nname = "openai"\nkind = "openai"\n'
                    f'url = "{kinds["openai"][0]}/v1"\napi_key = "{kinds["openai"][1]}"\n'
                    '[[nodes]]\nname = "anthropic"\nkind = "anthropic"\n'
                    f'url = "{kinds["anthropic"][0]}"\napi_key = "{kinds["anthropic"][1]}"\n'
                    '[[nodes]]\nname = "limited"\nkind = "openai"\n'
                    f'url = "{limited}/v1"\n'
                    '[[nodes]]\nname = "ollama"\nkind = "ollama"\n'
                    f'url = "{kinds["ollama"][0]}"\n'
                    # This OpenAI node serves the Responses API itself: passed through.
                    '[[nodes]]\nname = "responder"\nkind = "openai"\nresponses = true\n'
                    f'url = "{kinds["responder"][0]}/v1"\napi_key = "{kinds["responder"][1]}"\n')
        env = {k: v for k, v in env.items() if not k.startswith("DROVER_")}
        env["DROVER_HEALTH__INTERVAL"] = "200ms"
        env["DROVER_LOG__LEVEL"] = "warn"
        procs.append(subprocess.Popen([binary("drover"), "serve", "--config", config], env=env))
        across = f"http://127.0.0.1:{port}"
        wait_ready(across + "/readyz")
        run_across_kinds(across)
        run_count_tokens(across, {"claude-mock": "exact", "gpt-mock": "estimate"})
        run_node_status(across)
        run_responses(across)
        print("all official client checks passed")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)


def run_ollama(base):
    client = ollama.Client(host=base)
    names = sorted(m.model for m in client.list().models)
    check(names == ["llama3:latest", "nomic-embed-text:latest"], f"ollama list merged: {names}")
    check([m.model for m in client.ps().models] == ["llama3:latest"], "ollama ps merged")
    reply = client.chat(model="llama3", messages=[{"role": "user", "content": "hi"}])
    check(reply.done and "tok0" in reply.message.content, "ollama chat (whole)")
    chunks = list(client.chat(model="llama3", messages=[{"role": "user", "content": "hi"}], stream=True))
    check(len(chunks) == 7 and chunks[-1].done, f"ollama chat stream: {len(chunks)} chunks")
    gen = list(client.generate(model="llama3", prompt="x", stream=True))
    check(gen[-1].done and "".join(g.response for g in gen).count("tok") == 6, "ollama generate stream")
    emb = client.embed(model="nomic-embed-text", input=["a", "b"])
    check(len(emb.embeddings) == 2, "ollama embed")
    check(len(client.embeddings(model="nomic-embed-text", prompt="a").embedding) > 0, "ollama embeddings")
    check(client.show("llama3").details is not None, "ollama show")
    progress = list(client.pull("fresh-model", stream=True))
    check(progress[-1].status == "success", f"ollama pull merged: {progress[-1]}")
    try:
        client.chat(model="ghost", messages=[{"role": "user", "content": "hi"}])
        check(False, "unknown model must fail")
    except ollama.ResponseError as e:
        check(e.status_code == 404 and "ghost" in e.error, "ollama unknown model is ResponseError 404")
    with urllib.request.urlopen(base + "/") as r:
        check(r.read() == b"Ollama is running", "GET / like Ollama")
    run_ollama_management(client, base)


def wait_for(cond, what, deadline=10):
    """Drover re-probes the nodes after a change; its views follow within a probe."""
    end = time.time() + deadline
    while time.time() < end:
        if cond():
            return check(True, what)
        time.sleep(0.05)
    check(False, what)


def run_ollama_management(client, base):
    """Model management fleet-wide: both nodes act, the merged views follow."""
    names = lambda: [m.model for m in client.list().models]
    check(client.copy("llama3", "llama3-copy").status == "success", "ollama copy on every node")
    wait_for(lambda: "llama3-copy:latest" in names(), "ollama list shows the copy")
    check(client.delete("llama3-copy").status == "success", "ollama delete on every node")
    wait_for(lambda: "llama3-copy:latest" not in names(), "ollama list lost the deleted model")
    try:
        client.delete("llama3-copy")
        check(False, "deleting a deleted model must fail")
    except ollama.ResponseError as e:
        check(e.status_code == 404, "ollama delete of an unknown model is ResponseError 404")
    made = client.create(model="mine", from_="llama3", stream=False)
    check(made.status == "success", "ollama create from a model")
    progress = list(client.create(model="mine-streamed", from_="llama3", stream=True))
    check(progress[-1].status == "success", f"ollama create streamed: {progress[-1]}")
    with tempfile.NamedTemporaryFile(suffix=".gguf", delete=False) as f:
        f.write(os.urandom(200_000))
    digest = client.create_blob(f.name)
    check(digest.startswith("sha256:"), "ollama create_blob uploads to every node")
    made = client.create(model="from-file", files={"model.gguf": digest}, stream=False)
    check(made.status == "success", "ollama create from an uploaded blob")
    pushed = list(client.push("llama3", stream=True))
    check(pushed[-1].status == "success", f"ollama push merged: {pushed[-1]}")
    unloaded = client.generate(model="llama3", keep_alive=0)
    check(unloaded.done_reason == "unload", f"ollama unload: {unloaded.done_reason}")
    wait_for(lambda: client.ps().models == [], "ollama ps empty after the unload")
    with urllib.request.urlopen(base + "/api/version") as r:
        check(json.load(r)["version"] == "0.5.0-mock", "GET /api/version: the nodes' lowest")


def run_openai(base):
    client = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0)
    ids = sorted(m.id for m in client.models.list())
    check("llama3:latest" in ids, f"openai models: {ids}")
    check(client.models.retrieve("llama3").id == "llama3:latest", "openai models.retrieve")
    try:
        client.models.retrieve("ghost")
        check(False, "unknown model must fail")
    except openai.NotFoundError:
        check(True, "openai models.retrieve of an unknown model is NotFoundError")
    done = client.chat.completions.create(model="llama3", messages=[{"role": "user", "content": "hi"}])
    check(done.choices[0].message.content.startswith("["), "openai chat (whole)")
    stream = client.chat.completions.create(
        model="llama3", messages=[{"role": "user", "content": "hi"}], stream=True)
    text = "".join((c.choices[0].delta.content or "") for c in stream if c.choices)
    check(text.count("tok") == 6, f"openai chat stream: {text!r}")
    comp = client.completions.create(model="llama3", prompt="x")
    check(comp.choices[0].text, "openai completions")
    emb = client.embeddings.create(model="nomic-embed-text", input=["a", "b", "c"])
    check(len(emb.data) == 3, "openai embeddings")
    try:
        client.chat.completions.create(model="ghost", messages=[{"role": "user", "content": "hi"}])
        check(False, "unknown model must fail")
    except openai.NotFoundError as e:
        check("ghost" in str(e), "openai unknown model is NotFoundError")
    try:
        client.chat.completions.create(model="llama3", messages=[])
        check(False, "empty messages must fail")
    except openai.BadRequestError as e:
        check("messages" in str(e), "openai bad request is BadRequestError")


def make_key(base, token, **fields):
    req = urllib.request.Request(
        base + "/admin/api/keys", data=json.dumps(fields).encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.load(r)["secret"]


def run_with_keys(base, token):
    secret = make_key(base, token, name="clients")
    limited = make_key(base, token, name="one-a-minute", rpm_limit=1, allowed_models=["llama3"])
    messages = [{"role": "user", "content": "hi"}]

    client = openai.OpenAI(base_url=base + "/v1", api_key=secret, max_retries=0)
    check(client.chat.completions.create(model="llama3", messages=messages).choices,
          "openai chat with a key")
    check("llama3:latest" in [m.id for m in client.models.list()], "openai models with a key")
    wrong = openai.OpenAI(base_url=base + "/v1", api_key="drv_not-a-key", max_retries=0)
    try:
        wrong.chat.completions.create(model="llama3", messages=messages)
        check(False, "a wrong key must fail")
    except openai.AuthenticationError as e:
        check(e.status_code == 401, "openai wrong key is AuthenticationError")
    limited_client = openai.OpenAI(base_url=base + "/v1", api_key=limited, max_retries=0)
    try:
        limited_client.embeddings.create(model="nomic-embed-text", input=["a"])
        check(False, "a model outside the key's list must fail")
    except openai.PermissionDeniedError:
        check(True, "openai model outside the key is PermissionDeniedError")
    limited_client.chat.completions.create(model="llama3", messages=messages)
    try:
        limited_client.chat.completions.create(model="llama3", messages=messages)
        check(False, "the second request in a minute must fail")
    except openai.RateLimitError as e:
        check(int(e.response.headers["retry-after"]) >= 1, "openai over the limit is RateLimitError")

    an = anthropic.Anthropic(base_url=base, api_key=secret, max_retries=0)
    reply = an.messages.create(model="llama3", max_tokens=16, messages=messages)
    check("tok0" in reply.content[0].text, "anthropic messages with a key (x-api-key), on an Ollama node")
    try:
        anthropic.Anthropic(base_url=base, api_key="drv_not-a-key", max_retries=0).messages.create(
            model="llama3", max_tokens=16, messages=messages)
        check(False, "a wrong key must fail")
    except anthropic.AuthenticationError as e:
        check(e.status_code == 401, "anthropic wrong key is AuthenticationError")
    try:
        anthropic.Anthropic(base_url=base, api_key=limited, max_retries=0).messages.create(
            model="llama3", max_tokens=16, messages=messages)
        check(False, "the limited key's minute is spent")
    except anthropic.RateLimitError:
        check(True, "anthropic over the limit is RateLimitError")

    keyed = ollama.Client(host=base, headers={"Authorization": f"Bearer {secret}"})
    check(keyed.chat(model="llama3", messages=messages).done, "ollama chat with a key")
    try:
        ollama.Client(host=base).chat(model="llama3", messages=messages)
        check(False, "no key must fail")
    except ollama.ResponseError as e:
        check(e.status_code == 401 and "API key" in e.error, "ollama without a key is ResponseError 401")


PIXEL = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAAB"
         "JRU5ErkJggg==")
WEATHER = {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}


def run_count_tokens(base, models):
    """The Anthropic SDK's `messages.count_tokens` on each node kind: passed through to an
    Anthropic node, counted by an Ollama node, estimated for an OpenAI-compatible one; the
    `x-drover-token-count` header says which."""
    an = anthropic.Anthropic(base_url=base, api_key="unused", max_retries=0)
    for model, how in models.items():
        raw = an.messages.with_raw_response.count_tokens(
            model=model, system="be brief",
            messages=[{"role": "user", "content": "how many tokens is this"}],
            tools=[{"name": "weather", "input_schema": WEATHER}])
        counted = raw.parse()
        check(counted.input_tokens > 0 and raw.headers.get("x-drover-token-count") == how,
              f"anthropic count_tokens on {model}: {counted.input_tokens} ({how})")
    try:
        an.messages.count_tokens(model="ghost", messages=[{"role": "user", "content": "hi"}])
        check(False, "count_tokens of an unknown model must fail")
    except anthropic.NotFoundError:
        check(True, "anthropic count_tokens of an unknown model is NotFoundError")


def run_node_status(base):
    """A node's own 429 reaches the OpenAI client as RateLimitError, its wait kept."""
    oa = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0)
    try:
        oa.chat.completions.create(model="limited-mock", messages=[{"role": "user", "content": "hi"}])
        check(False, "a rate-limited node must fail the request")
    except openai.RateLimitError as e:
        check(e.response.headers["retry-after"] == "7" and "mock failure" in str(e),
              "openai client on a rate-limited node is RateLimitError with the node's Retry-After")


def run_across_kinds(base):
    """OpenAI's client on the Anthropic node and Anthropic's on the OpenAI node (and each on
    its own kind): text, streams, images, and a tool call answered by its result."""
    oa = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0)
    an = anthropic.Anthropic(base_url=base, api_key="unused", max_retries=0)
    with urllib.request.urlopen(base + "/api/version") as r:
        version = json.load(r)["version"]
    # This replica's one Ollama node (the mock) decides; with none, Drover's own API level
    # (0.13.4) answers (tests/gateway/management.rs, version_is_the_lowest_over_up_nodes).
    check(version == "0.5.0-mock", f"GET /api/version is the Ollama node's: {version}")
    check({"claude-mock", "gpt-mock"} <= {m.id for m in an.models.list()}, "anthropic models.list")
    for model in ("claude-mock", "gpt-mock"):
        done = oa.chat.completions.create(model=model, messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [
                {"type": "text", "text": "what is this"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64," + PIXEL}}]}])
        text = done.choices[0].message.content
        check("[system: be brief]" in text and "[images: 1]" in text and done.usage.total_tokens > 0,
              f"openai client on {model}: system, image, usage")
        stream = oa.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "hi"}], stream=True,
            stream_options={"include_usage": True})
        chunks = list(stream)
        streamed = "".join((c.choices[0].delta.content or "") for c in chunks if c.choices)
        check(streamed.count("tok") == 6 and chunks[-1].usage is not None,
              f"openai client stream on {model}: {streamed!r}")
        tools = [{"type": "function", "function": {"name": "weather", "parameters": WEATHER}}]
        asked = oa.chat.completions.create(model=model, tools=tools, messages=[
            {"role": "user", "content": "weather in Paris"}])
        call = asked.choices[0].message.tool_calls[0]
        check(asked.choices[0].finish_reason == "tool_calls" and call.function.name == "weather"
              and json.loads(call.function.arguments)["query"] == "weather in Paris",
              f"openai client tool call on {model}")
        answered = oa.chat.completions.create(model=model, tools=tools, messages=[
            {"role": "user", "content": "weather in Paris"}, asked.choices[0].message,
            {"role": "tool", "tool_call_id": call.id, "content": "sunny"}])
        check("tool said: sunny" in answered.choices[0].message.content,
              f"openai client tool result on {model}")

        msg = an.messages.create(model=model, max_tokens=64, system="be brief", messages=[
            {"role": "user", "content": [
                {"type": "text", "text": "what is this"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PIXEL}}]}])
        text = "".join(b.text for b in msg.content if b.type == "text")
        check("[system: be brief]" in text and "[images: 1]" in text and msg.usage.output_tokens > 0,
              f"anthropic client on {model}: system, image, usage")
        with an.messages.stream(model=model, max_tokens=64,
                                messages=[{"role": "user", "content": "hi"}]) as stream:
            streamed = "".join(stream.text_stream)
            final = stream.get_final_message()
        check(streamed.count("tok") == 6 and final.stop_reason == "end_turn",
              f"anthropic client stream on {model}: {streamed!r}")
        atools = [{"name": "weather", "input_schema": WEATHER}]
        with an.messages.stream(model=model, max_tokens=64, tools=atools,
                                messages=[{"role": "user", "content": "weather in Rome"}]) as stream:
            asked = stream.get_final_message()
        use = next(b for b in asked.content if b.type == "tool_use")
        check(asked.stop_reason == "tool_use" and use.input == {"query": "weather in Rome", "n": 1},
              f"anthropic client streamed tool call on {model}: {use.input}")
        answered = an.messages.create(model=model, max_tokens=64, tools=atools, messages=[
            {"role": "user", "content": "weather in Rome"},
            {"role": "assistant", "content": asked.content},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "rainy"}]}])
        check("tool said: rainy" in answered.content[0].text, f"anthropic client tool result on {model}")
    try:
        an.messages.create(model="ghost", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
        check(False, "unknown model must fail")
    except anthropic.NotFoundError:
        check(True, "anthropic unknown model is NotFoundError")
    try:
        oa.embeddings.create(model="claude-mock", input=["a"])
        check(False, "embeddings on an anthropic node must fail")
    except openai.BadRequestError as e:
        check("anthropic" in str(e), "openai embeddings on an anthropic node is BadRequestError")


def run_responses(base):
    """The openai client's `responses.create` on every node kind (Ollama, OpenAI chat,
    OpenAI serving Responses itself, Anthropic): whole, streamed, and a function tool
    round trip with the answer's items sent back as input, as the SDK's docs do."""
    oa = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0)
    tools = [{"type": "function", "name": "weather", "description": "The weather",
              "parameters": WEATHER}]
    for model in ("llama-mock", "gpt-mock", "resp-mock", "claude-mock"):
        done = oa.responses.create(model=model, instructions="be brief", input="hi", store=False)
        check(done.status == "completed" and "[system: be brief]" in done.output_text
              and done.output_text.count("tok") == 6 and done.usage.total_tokens > 0,
              f"responses.create on {model}: {done.output_text!r}")
        events = list(oa.responses.create(model=model, input="hi", stream=True))
        deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
        last = events[-1]
        check(events[0].type == "response.created" and last.type == "response.completed"
              and last.response.output_text == deltas and deltas.count("tok") == 6
              and last.response.usage.output_tokens > 0,
              f"responses.create(stream=True) on {model}: {deltas!r}")
        with oa.responses.stream(model=model, input="hi") as stream:
            final = stream.get_final_response()
        check(final.output_text.count("tok") == 6, f"responses.stream on {model}")
        for streamed in (False, True):
            if streamed:
                with oa.responses.stream(model=model, tools=tools,
                                         input="weather in Paris") as stream:
                    asked = stream.get_final_response()
            else:
                asked = oa.responses.create(model=model, tools=tools, input="weather in Paris")
            call = next(i for i in asked.output if i.type == "function_call")
            check(call.name == "weather" and json.loads(call.arguments)["query"] == "weather in Paris",
                  f"responses function call on {model} (stream={streamed})")
            answered = oa.responses.create(model=model, tools=tools, input=[
                {"role": "user", "content": "weather in Paris"}, *asked.output,
                {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}])
            check("tool said: sunny" in answered.output_text,
                  f"responses function call output on {model} (stream={streamed})")
        try:
            oa.responses.create(model=model, input="hi", previous_response_id="resp_x")
            check(False, "previous_response_id must fail")
        except openai.BadRequestError as e:
            check("previous_response_id" in str(e), f"previous_response_id refused on {model}")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"FAIL {e}", file=sys.stderr)
        sys.exit(1)
