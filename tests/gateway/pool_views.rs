//! Pool-wide Ollama and OpenAI views, `/api/show`, and `/api/pull` over several nodes.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::harness::{client, read, start};

fn names(list: &Value, field: &str) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|m| m[field].as_str().unwrap().to_owned())
        .collect()
}

#[actix_rt::test]
async fn tags_ps_and_models_are_merged_with_each_model_once() {
    let s = start(
        &[
            ("a", &["m1:latest", "m2:latest"]),
            ("b", &["m2:latest", "m3:latest"]),
        ],
        |_| {},
    )
    .await;
    s.node("a").set_loaded(&["m2:latest"]);
    s.node("b").set_loaded(&["m2:latest", "m3:latest"]);
    s.wait_for_get("/api/ps", |ps| {
        ps["models"].as_array().is_some_and(|m| m.len() == 2)
    })
    .await;
    let mut res = client().get(s.url("/api/tags")).send().await.unwrap();
    let tags: Value = res.json().await.unwrap();
    let mut tag_names = names(&tags["models"], "name");
    tag_names.sort();
    assert_eq!(tag_names, vec!["m1:latest", "m2:latest", "m3:latest"]);
    assert!(
        tags["models"][0]["details"].is_object(),
        "entries keep the nodes' own fields"
    );
    let mut res = client().get(s.url("/api/ps")).send().await.unwrap();
    let ps: Value = res.json().await.unwrap();
    let ps_names: HashSet<String> = names(&ps["models"], "name").into_iter().collect();
    assert_eq!(
        ps_names,
        HashSet::from(["m2:latest".to_owned(), "m3:latest".to_owned()])
    );
    let mut res = client().get(s.url("/v1/models")).send().await.unwrap();
    let models: Value = res.json().await.unwrap();
    assert_eq!(models["object"], "list");
    assert_eq!(names(&models["data"], "id").len(), 3);
    let mut res = client().get(s.url("/v1/models/m1")).send().await.unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["id"], "m1:latest");
    let mut res = client()
        .get(s.url("/v1/models/library/none"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"]["code"],
        "model_not_found"
    );
    // A down node's models leave the merged view.
    s.node("a").stop();
    s.wait_health("a", "down").await;
    let mut res = client().get(s.url("/api/tags")).send().await.unwrap();
    let tags: Value = res.json().await.unwrap();
    let mut tag_names = names(&tags["models"], "name");
    tag_names.sort();
    assert_eq!(tag_names, vec!["m2:latest", "m3:latest"]);
}

#[actix_rt::test]
async fn version_and_show_answer_like_ollama() {
    let s = start(&[("a", &["m:latest"])], |_| {}).await;
    let mut res = client().get(s.url("/api/version")).send().await.unwrap();
    let version: Value = res.json().await.unwrap();
    assert!(
        version["version"].as_str().unwrap().starts_with("0.5.0"),
        "{version}"
    );
    let show = s.post("/api/show", json!({"model": "m"})).await;
    assert_eq!(show.status, 200);
    assert!(show.json()["details"].is_object());
    let missing = s.post("/api/show", json!({"model": "nope"})).await;
    assert_eq!(missing.status, 404);
    assert!(missing.json()["error"].as_str().unwrap().contains("nope"));
}

#[actix_rt::test]
async fn pull_to_all_nodes_merges_progress_and_makes_the_model_routable() {
    let s = start(&[("a", &["m:latest"]), ("b", &["m:latest"])], |_| {}).await;
    let reply = s.post("/api/pull", json!({"model": "fresh"})).await;
    assert_eq!(reply.status, 200);
    let lines = reply.lines();
    assert_eq!(
        lines.last().unwrap(),
        &json!({"status": "success"}),
        "{lines:?}"
    );
    assert_eq!(lines.iter().filter(|l| l["status"] == "success").count(), 1);
    // Each node's layer progress counts toward one total, reaching twice one node's size.
    let layer_totals: Vec<u64> = lines.iter().filter_map(|l| l["total"].as_u64()).collect();
    let last_digest_line = lines
        .iter()
        .rev()
        .find(|l| l["digest"].is_string())
        .unwrap();
    assert_eq!(last_digest_line["completed"], last_digest_line["total"]);
    assert!(!layer_totals.is_empty());
    assert_eq!(s.node("a").requests("/api/pull"), 1);
    assert_eq!(s.node("b").requests("/api/pull"), 1);
    // Both nodes are re-probed, so the new model is served at once.
    s.wait_for_get("/api/tags", |t| {
        t["models"].as_array().is_some_and(|m| m.len() == 2)
    })
    .await;
    assert_eq!(s.chat("fresh").await.status, 200);
}

#[actix_rt::test]
async fn pull_to_one_named_node() {
    let s = start(&[("a", &["m:latest"]), ("b", &["m:latest"])], |_| {}).await;
    let res = client()
        .post(s.url("/api/pull?node=b"))
        .send_json(&json!({"model": "fresh", "stream": false}))
        .await
        .unwrap();
    let reply = read(res).await;
    assert_eq!(reply.json(), json!({"status": "success"}));
    assert_eq!(s.node("a").requests("/api/pull"), 0);
    assert_eq!(s.node("b").requests("/api/pull"), 1);
    let res = client()
        .post(s.url("/api/pull"))
        .insert_header(("x-drover-node", "nowhere"))
        .send_json(&json!({"model": "fresh"}))
        .await
        .unwrap();
    let reply = read(res).await;
    assert_eq!(reply.status, 404);
    assert!(reply.json()["error"].as_str().unwrap().contains("nowhere"));
}

#[actix_rt::test]
async fn a_pull_failing_on_one_node_says_which() {
    let s = start(&[("a", &["m:latest"]), ("b", &["m:latest"])], |_| {}).await;
    s.node("b")
        .set_failure(drover_loadtest::mock::Failure::Status(500));
    let reply = s.post("/api/pull", json!({"model": "fresh"})).await;
    let last = reply.lines().pop().unwrap();
    let error = last["error"].as_str().unwrap();
    assert!(
        error.contains("node b") && !error.contains("node a"),
        "{error}"
    );
}
