"""The official Node SDKs (`openai`, `@anthropic-ai/sdk`, pinned in `sdks/package.json` and
installed from npm into a cache folder) against a real Drover on every node kind: runs
`sdks/sdks.mjs` (see there for the checks) and asserts no mock refused anything Drover sent.

Run by scripts/test; needs the binaries in target/ (`cargo build --workspace --bins`).
Both endpoints once missing (`/v1/responses`, `/v1/messages/count_tokens`) are served now,
so a GAP line (a 404 there) fails the run; `SDKS_STRICT=0` reports GAPs without failing.
"""

import json
import os
import shutil
import subprocess
import sys

import harness


def main():
    folder = harness.npm_install("sdks")
    script = os.path.join(folder, "sdks.mjs")
    # ESM resolves packages next to the script, so it runs from the cache folder.
    shutil.copy(os.path.join(harness.HERE, "sdks", "sdks.mjs"), script)
    cluster = harness.Cluster()
    try:
        env = dict(os.environ)
        env["DROVER_URL"] = cluster.drover
        env["DROVER_MODELS"] = json.dumps(harness.MODELS)
        env["DROVER_EMBED_MODELS"] = json.dumps(harness.EMBED_MODELS)
        done = subprocess.run(["node", script], env=env, capture_output=True, text=True, timeout=300)
        print(done.stdout, end="")
        if done.stderr:
            print(done.stderr, end="", file=sys.stderr)
        logs = {kind: cluster.mock_log(kind) for kind in cluster.mocks}
    finally:
        cluster.close()
    refused = {k: log["refused"] for k, log in logs.items() if log["rejections"]}
    for kind, items in refused.items():
        print(f"FAIL the {kind} mock refused what Drover sent: {json.dumps(items)[:1500]}")
    gaps = [line for line in done.stdout.splitlines() if line.startswith("GAP")]
    if done.returncode != 0 or refused or (gaps and os.environ.get("SDKS_STRICT", "1") != "0"):
        print("FAIL Node SDK checks", file=sys.stderr)
        return 1
    print(f"Node SDK checks passed ({len(gaps)} known gaps)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
