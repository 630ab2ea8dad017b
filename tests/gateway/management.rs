//! Ollama's model management fleet-wide through a real Drover over several mock Ollama
//! nodes: delete, copy, create, push, blobs and unload act on every node concerned (or on
//! the one named), answer like Ollama, name each node that failed, and leave `/api/tags` and
//! `/api/ps` right; `/api/version` is the lowest; `drover pull` shows each node.

use std::process::{Command, Stdio};

use awc::http::Method;
use bytes::Bytes;
use drover_loadtest::mock::Failure;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::{
    harness::{client, read, start, Reply, Setup},
    process::drover,
};

async fn call(s: &Setup, method: Method, path: &str, body: Value) -> Reply {
    let res = client()
        .request(method, s.url(path))
        .insert_header(("content-type", "application/json"))
        .send_body(body.to_string())
        .await
        .unwrap();
    read(res).await
}

fn tag_names(tags: &Value) -> Vec<String> {
    let mut names: Vec<String> = tags["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

async fn tags(s: &Setup) -> Vec<String> {
    let mut res = client().get(s.url("/api/tags")).send().await.unwrap();
    tag_names(&res.json::<Value>().await.unwrap())
}

async fn ps_count(s: &Setup) -> usize {
    let mut res = client().get(s.url("/api/ps")).send().await.unwrap();
    res.json::<Value>().await.unwrap()["models"]
        .as_array()
        .unwrap()
        .len()
}

async fn three_nodes() -> Setup {
    start(
        &[
            ("a", &["m:latest", "other:latest"]),
            ("b", &["m:latest"]),
            ("c", &["other:latest"]),
        ],
        |_| {},
    )
    .await
}

#[actix_rt::test]
async fn delete_acts_on_the_nodes_holding_the_model_or_the_named_one() {
    let s = three_nodes().await;
    let one = call(
        &s,
        Method::DELETE,
        "/api/delete?node=a",
        json!({"model": "m"}),
    )
    .await;
    assert_eq!(one.status, 200, "{}", one.text());
    assert!(!s.node("a").has_model("m") && s.node("b").has_model("m"));
    assert_eq!(s.node("b").requests("/api/delete"), 0);
    // The pool knows at once (the answer waited for a fresh probe) that only b still has it.
    assert_eq!(tags(&s).await, ["m:latest", "other:latest"]);
    let all = call(&s, Method::DELETE, "/api/delete", json!({"model": "m"})).await;
    assert_eq!(all.status, 200, "{}", all.text());
    assert!(all.body.is_empty());
    assert!(!s.node("b").has_model("m"));
    assert_eq!(s.node("a").requests("/api/delete"), 1);
    assert_eq!(s.node("c").requests("/api/delete"), 0, "c never had it");
    assert_eq!(tags(&s).await, ["other:latest"]);
    let gone = call(&s, Method::DELETE, "/api/delete", json!({"model": "m"})).await;
    assert_eq!(gone.status, 404);
    assert!(gone.json()["error"].as_str().unwrap().contains("\"m\""));
    let missing = call(&s, Method::DELETE, "/api/delete", json!({})).await;
    assert_eq!(missing.status, 400);
    assert!(missing.json()["error"].as_str().unwrap().contains("model"));
    let wrong = call(&s, Method::POST, "/api/delete", json!({"model": "m"})).await;
    assert_eq!(wrong.status, 405);
}

#[actix_rt::test]
async fn copy_makes_the_new_name_on_every_node_with_the_source() {
    let s = three_nodes().await;
    let reply = call(
        &s,
        Method::POST,
        "/api/copy",
        json!({"source": "m", "destination": "m-copy"}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(s.node("a").has_model("m-copy") && s.node("b").has_model("m-copy"));
    assert!(!s.node("c").has_model("m-copy"));
    assert_eq!(s.node("c").requests("/api/copy"), 0);
    assert!(tags(&s).await.contains(&"m-copy:latest".to_owned()));
    let named = call(
        &s,
        Method::POST,
        "/api/copy",
        json!({"source": "other", "destination": "o2"}),
    )
    .await;
    assert_eq!(named.status, 200);
    assert!(s.node("a").has_model("o2") && s.node("c").has_model("o2"));
    let unknown = call(
        &s,
        Method::POST,
        "/api/copy",
        json!({"source": "nope", "destination": "x"}),
    )
    .await;
    assert_eq!(unknown.status, 404);
    let no_destination = call(&s, Method::POST, "/api/copy", json!({"source": "m"})).await;
    assert_eq!(no_destination.status, 400);
    assert!(no_destination.json()["error"]
        .as_str()
        .unwrap()
        .contains("destination"));
    // b holds m but is not the node named.
    let elsewhere = call(
        &s,
        Method::POST,
        "/api/copy?node=c",
        json!({"source": "m", "destination": "x"}),
    )
    .await;
    assert_eq!(elsewhere.status, 404);
}

#[actix_rt::test]
async fn create_from_a_model_runs_on_every_node_with_merged_progress() {
    let s = start(&[("a", &["base:latest"]), ("b", &["base:latest"])], |_| {}).await;
    let reply = s
        .post("/api/create", json!({"model": "mine", "from": "base"}))
        .await;
    assert_eq!(reply.status, 200);
    let lines = reply.lines();
    assert_eq!(
        lines.last().unwrap(),
        &json!({"status": "success"}),
        "{lines:?}"
    );
    assert_eq!(lines.iter().filter(|l| l["status"] == "success").count(), 1);
    assert_eq!(
        lines
            .iter()
            .filter(|l| l["status"] == "writing manifest")
            .count(),
        1,
        "a status both nodes send is passed once: {lines:?}"
    );
    assert!(s.node("a").has_model("mine") && s.node("b").has_model("mine"));
    assert!(tags(&s).await.contains(&"mine:latest".to_owned()));
    let quiet = s
        .post(
            "/api/create?node=b",
            json!({"model": "quiet", "from": "base", "stream": false}),
        )
        .await;
    assert_eq!(quiet.json(), json!({"status": "success"}));
    assert!(!s.node("a").has_model("quiet") && s.node("b").has_model("quiet"));
    // No node could start: Ollama's own status, the node named.
    let no_base = s
        .post("/api/create?node=a", json!({"model": "x", "from": "nope"}))
        .await;
    assert_eq!(no_base.status, 404, "{}", no_base.text());
    assert!(no_base.json()["error"]
        .as_str()
        .unwrap()
        .starts_with("create failed on node a"));
    let neither = s.post("/api/create", json!({"model": "x"})).await;
    assert_eq!(neither.status, 400);
}

fn digest_of(data: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(data))
}

async fn blob(s: &Setup, method: Method, path: &str, body: Bytes) -> Reply {
    let res = client()
        .request(method, s.url(path))
        .send_body(body)
        .await
        .unwrap();
    read(res).await
}

#[actix_rt::test]
async fn blobs_stream_to_every_node_and_create_uses_them() {
    // A blob is streamed through, never read whole: the body limit does not apply to it.
    let s = start(&[("a", &["m:latest"]), ("b", &["m:latest"])], |c| {
        c.limits.max_body_bytes = 1024 * 1024;
    })
    .await;
    // Larger than the body limit and than any single chunk, so it arrives in many.
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let digest = digest_of(&data);
    let path = format!("/api/blobs/{digest}");
    let head = blob(&s, Method::HEAD, &path, Bytes::new()).await;
    assert_eq!(head.status, 404);
    let upload = blob(&s, Method::POST, &path, Bytes::from(data.clone())).await;
    assert_eq!(upload.status, 201, "{}", upload.text());
    for node in ["a", "b"] {
        assert_eq!(
            s.node(node).blob(&digest),
            Some(data.len() as u64),
            "{node}"
        );
    }
    assert_eq!(
        blob(&s, Method::HEAD, &path, Bytes::new()).await.status,
        200
    );
    // Another blob to one node only: the fleet lacks it, that node has it.
    let small = b"adapter".to_vec();
    let small_path = format!("/api/blobs/{}", digest_of(&small));
    let one = blob(
        &s,
        Method::POST,
        &format!("{small_path}?node=b"),
        Bytes::from(small),
    )
    .await;
    assert_eq!(one.status, 201);
    // a saw the first blob's two checks and its upload, nothing of this one.
    assert_eq!(s.node("a").requests("/api/blobs"), 3);
    assert_eq!(s.node("a").blob(&digest_of(b"adapter")), None);
    assert_eq!(
        blob(&s, Method::HEAD, &small_path, Bytes::new())
            .await
            .status,
        404
    );
    let on_b = blob(
        &s,
        Method::HEAD,
        &format!("{small_path}?node=b"),
        Bytes::new(),
    )
    .await;
    assert_eq!(on_b.status, 200);
    // A body that does not match its digest: every node refuses it, each named.
    let wrong = blob(&s, Method::POST, &path, Bytes::from_static(b"not it")).await;
    assert_eq!(wrong.status, 400);
    let error = wrong.json()["error"].as_str().unwrap().to_owned();
    assert!(
        error.contains("node a") && error.contains("node b") && error.contains("digest mismatch"),
        "{error}"
    );
    let bad = blob(&s, Method::HEAD, "/api/blobs/sha256:xyz", Bytes::new()).await;
    assert_eq!(bad.status, 400);
    let created = s
        .post(
            "/api/create",
            json!({"model": "from-files", "files": {"model.gguf": digest}, "stream": false}),
        )
        .await;
    assert_eq!(created.json(), json!({"status": "success"}));
    assert!(s.node("a").has_model("from-files") && s.node("b").has_model("from-files"));
}

#[actix_rt::test]
async fn push_streams_from_every_node_holding_the_model() {
    let s = three_nodes().await;
    let reply = s.post("/api/push", json!({"model": "m"})).await;
    let lines = reply.lines();
    assert_eq!(
        lines.last().unwrap(),
        &json!({"status": "success"}),
        "{lines:?}"
    );
    // Each node's layer counts toward one total.
    let last_layer = lines
        .iter()
        .rev()
        .find(|l| l["digest"].is_string())
        .unwrap();
    assert_eq!(last_layer["total"], 4000, "{lines:?}");
    assert_eq!(s.node("a").requests("/api/push"), 1);
    assert_eq!(s.node("b").requests("/api/push"), 1);
    assert_eq!(s.node("c").requests("/api/push"), 0);
    // Per-node progress, as `drover pull` asks for it.
    let per_node = s
        .post("/api/push?progress=nodes&node=b", json!({"model": "m"}))
        .await;
    let lines = per_node.lines();
    assert!(
        lines[..lines.len() - 1].iter().all(|l| l["node"] == "b"),
        "{lines:?}"
    );
    assert_eq!(lines.last().unwrap(), &json!({"status": "success"}));
    let unknown = s.post("/api/push", json!({"model": "nope"})).await;
    assert_eq!(unknown.status, 404);
}

#[actix_rt::test]
async fn a_failing_node_is_named_in_each_operation() {
    let s = start(&[("a", &["m:latest"]), ("b", &["m:latest"])], |_| {}).await;
    s.node("b").set_failure(Failure::Status(500));
    let push = s.post("/api/push", json!({"model": "m"})).await;
    let error = push.lines().pop().unwrap()["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        error.starts_with("push failed on node b") && !error.contains("node a"),
        "{error}"
    );
    let create = s
        .post(
            "/api/create",
            json!({"model": "x", "from": "m", "stream": false}),
        )
        .await;
    assert_eq!(create.status, 502);
    assert!(create.json()["error"].as_str().unwrap().contains("node b"));
    let copy = call(
        &s,
        Method::POST,
        "/api/copy",
        json!({"source": "m", "destination": "n"}),
    )
    .await;
    assert_eq!(copy.status, 502);
    let error = copy.json()["error"].as_str().unwrap().to_owned();
    assert!(
        error.starts_with("copy failed on node b") && !error.contains("node a"),
        "{error}"
    );
    assert!(s.node("a").has_model("n"), "the working node still did it");
    let data = Bytes::from_static(b"blob");
    let upload = blob(
        &s,
        Method::POST,
        &format!("/api/blobs/{}", digest_of(&data)),
        data,
    )
    .await;
    assert_eq!(upload.status, 502);
    assert!(upload.json()["error"].as_str().unwrap().contains("node b"));
    s.node("b").set_failure(Failure::None);
    s.wait_health("b", "up").await;
    let delete = call(&s, Method::DELETE, "/api/delete", json!({"model": "m"})).await;
    assert_eq!(delete.status, 200);
}

#[actix_rt::test]
async fn unload_goes_to_every_node_with_the_model_loaded() {
    let s = three_nodes().await;
    s.node("a").set_loaded(&["m:latest", "other:latest"]);
    s.node("c").set_loaded(&["other:latest"]);
    s.wait_for_get("/api/ps", |ps| {
        ps["models"].as_array().is_some_and(|m| m.len() == 2)
    })
    .await;
    let reply = s
        .post("/api/generate", json!({"model": "m", "keep_alive": 0}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["done_reason"], "unload");
    assert_eq!(s.node("a").requests("/api/generate"), 1);
    assert_eq!(
        s.node("b").requests("/api/generate"),
        0,
        "b holds m but has it not loaded"
    );
    assert!(!s.node("a").is_loaded("m"));
    assert_eq!(ps_count(&s).await, 1, "/api/ps is right at once");
    // Loaded on two nodes: both unload, through chat this time.
    let chat = s
        .post(
            "/api/chat",
            json!({"model": "other", "messages": [], "keep_alive": "0s"}),
        )
        .await;
    assert_eq!(chat.json()["done_reason"], "unload");
    assert_eq!(chat.json()["message"]["content"], "");
    assert_eq!(s.node("a").requests("/api/chat"), 1);
    assert_eq!(s.node("c").requests("/api/chat"), 1);
    assert!(!s.node("a").is_loaded("other") && !s.node("c").is_loaded("other"));
    // Nothing loaded anywhere: nothing to do, and Ollama's answer all the same.
    assert_eq!(ps_count(&s).await, 0);
    let idle = s
        .post("/api/generate", json!({"model": "m", "keep_alive": 0}))
        .await;
    assert_eq!(idle.json()["done_reason"], "unload");
    assert_eq!(s.node("b").requests("/api/generate"), 0);
    let unknown = s
        .post("/api/generate", json!({"model": "nope", "keep_alive": 0}))
        .await;
    assert_eq!(unknown.status, 404);
    // A prompt with keep_alive 0 is inference, routed to one node as usual.
    let real = s
        .post(
            "/api/generate",
            json!({"model": "m", "prompt": "hi", "keep_alive": 0, "stream": false}),
        )
        .await;
    assert_eq!(real.status, 200);
    assert_ne!(real.json()["done_reason"], "unload");
}

#[actix_rt::test]
async fn version_is_the_lowest_over_up_nodes() {
    let s = start(&[("a", &["m:latest"]), ("b", &["m:latest"])], |_| {}).await;
    s.node("a").set_version("0.13.5");
    s.node("b").set_version("0.12.10");
    s.wait_for_get("/api/version", |v| v["version"] == "0.12.10")
        .await;
    s.node("b").set_version("0.13.5-rc1");
    s.wait_for_get("/api/version", |v| v["version"] == "0.13.5-rc1")
        .await;
    s.node("b").stop();
    s.wait_health("b", "down").await;
    s.wait_for_get("/api/version", |v| v["version"] == "0.13.5")
        .await;
    // No Ollama node up: Drover's own API level, never "0.0.0".
    s.node("a").stop();
    s.wait_health("a", "down").await;
    s.wait_for_get("/api/version", |v| v["version"] == "0.13.4")
        .await;
}

/// `drover pull` off a terminal (stdout is a pipe), to its end.
async fn pull_cli(s: &Setup, args: &[&str]) -> (Option<i32>, String, String) {
    let mut cmd: Command = drover();
    cmd.arg("pull")
        .args(args)
        .args(["--url", &s.drover.url()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    actix_rt::task::spawn_blocking(move || {
        let out = cmd.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

#[actix_rt::test]
async fn drover_pull_shows_each_node() {
    let s = start(&[("a", &["m:latest"]), ("b", &["m:latest"])], |_| {}).await;
    let (code, stdout, stderr) = pull_cli(&s, &["fresh"]).await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("a: pulling manifest") && stdout.contains("b: success"),
        "{stdout}"
    );
    assert!(stdout.ends_with("pulled fresh on a, b\n"), "{stdout}");
    let (code, stdout, _) = pull_cli(&s, &["second", "--node", "b", "--json"]).await;
    assert_eq!(code, Some(0));
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        lines[..lines.len() - 1].iter().all(|l| l["node"] == "b"),
        "{lines:?}"
    );
    assert!(lines.iter().any(|l| l["completed"].is_u64()));
    assert_eq!(lines.last().unwrap(), &json!({"status": "success"}));
    assert!(s.node("b").has_model("second") && !s.node("a").has_model("second"));
    s.node("a").set_failure(Failure::Status(500));
    let (code, stdout, stderr) = pull_cli(&s, &["third"]).await;
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("pull failed on node a"), "{stderr}");
    assert!(stdout.contains("b: success"), "{stdout}");
    let (code, _, stderr) = pull_cli(&s, &["x", "--node", "nowhere"]).await;
    assert_eq!(code, Some(1));
    assert!(stderr.contains("nowhere"), "{stderr}");
    assert_eq!(s.node("b").requests("/api/pull"), 3);
}

#[actix_rt::test]
async fn an_unload_through_a_route_alias_is_routed_as_before() {
    let s = start(&[("a", &["small:8b"])], |c| {
        c.routes = vec![drover::config::RouteConfig {
            alias: "fast".into(),
            target_model: "small:8b".into(),
            nodes: vec![],
            fallbacks: vec![],
        }];
    })
    .await;
    s.node("a").set_loaded(&["small:8b"]);
    let reply = s
        .post("/api/generate", json!({"model": "fast", "keep_alive": 0}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["done_reason"], "unload");
    assert_eq!(
        s.node("a").last_body("/api/generate").unwrap()["model"],
        "small:8b"
    );
    assert!(!s.node("a").is_loaded("small:8b"));
}

#[actix_rt::test]
async fn a_key_limited_to_models_manages_only_those() {
    let s = start(&[("a", &["m:latest", "other:latest"])], |c| {
        c.auth.admin_token = crate::admin::TOKEN.into();
        c.auth.mode = drover::config::AuthMode::Keys;
    })
    .await;
    let made = crate::admin::admin(
        &s,
        "POST",
        "/keys",
        Some(json!({"name": "ops", "allowed_models": ["m", "m2"]})),
    )
    .await;
    let secret = made.json()["secret"].as_str().unwrap().to_owned();
    let keyed = |method: Method, path: &str, body: Value| {
        let request = client()
            .request(method, s.url(path))
            .bearer_auth(&secret)
            .send_body(body.to_string());
        async move { read(request.await.unwrap()).await }
    };
    let anonymous = call(&s, Method::DELETE, "/api/delete", json!({"model": "m"})).await;
    assert_eq!(anonymous.status, 401);
    let outside = keyed(Method::DELETE, "/api/delete", json!({"model": "other"})).await;
    assert_eq!(outside.status, 403, "{}", outside.text());
    let copy_out = keyed(
        Method::POST,
        "/api/copy",
        json!({"source": "m", "destination": "elsewhere"}),
    )
    .await;
    assert_eq!(copy_out.status, 403);
    let copy_in = keyed(
        Method::POST,
        "/api/copy",
        json!({"source": "m", "destination": "m2"}),
    )
    .await;
    assert_eq!(copy_in.status, 200, "{}", copy_in.text());
    assert!(s.node("a").has_model("other") && s.node("a").has_model("m2"));
    // `drover pull` in keys mode takes a client key.
    let (code, _, stderr) = pull_cli(&s, &["m2"]).await;
    assert_eq!(code, Some(1));
    assert!(stderr.contains("401"), "{stderr}");
    let (code, stdout, stderr) = pull_cli(&s, &["m", "--key", &secret]).await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
}

/// On a terminal (a pty from util-linux `script`), one bar per node, each ending in success.
#[actix_rt::test]
async fn drover_pull_draws_a_bar_per_node_on_a_terminal() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: no `script` to make a terminal");
        return;
    }
    let s = start(&[("a", &["m:latest"]), ("b", &["m:latest"])], |_| {}).await;
    let line = format!(
        "{} pull fresh --url {}",
        env!("CARGO_BIN_EXE_drover"),
        s.drover.url()
    );
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &line, "/dev/null"])
        .env("TERM", "xterm")
        .env_remove("DROVER_URL")
        .stdin(Stdio::null());
    let out = actix_rt::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let screen = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{screen}");
    for node in ["a", "b"] {
        let finished = screen.match_indices(&format!("{node} [")).any(|(at, _)| {
            let bar: String = screen[at..].chars().take(90).collect();
            bar.contains("=]") && bar.contains("success")
        });
        assert!(finished, "no finished bar for {node}: {screen:?}");
    }
    assert!(screen.contains("pulled fresh on a, b"), "{screen:?}");
}
