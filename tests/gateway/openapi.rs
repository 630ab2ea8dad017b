//! The admin API's OpenAPI document, checked against a running server: every route the
//! admin modules register is documented with its method and nothing else is; every
//! documented operation is routed and asks for credentials exactly when the document says
//! so; the GET answers have the fields their schemas list; the viewer page answers.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::{
    admin::{admin, admin_as, TOKEN},
    harness::{client, read, start, Reply, Setup},
};

/// (METHOD, path) of every `.route("…", web::<method>()…)` in `src/api/admin`, read from the
/// source: that is how each admin module registers its routes. Paths inside the
/// `/admin/api` scope get its prefix; actix's `{param}` is OpenAPI's. A route registered
/// with a path that is not a literal would be missed, so only the viewer's may be.
fn registered_routes() -> BTreeSet<(String, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/api/admin");
    let mut found = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let source: String = std::fs::read_to_string(&path)
            .unwrap()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        for (at, _) in source.match_indices(".route(") {
            let rest = &source[at + ".route(".len()..];
            let Some(rest) = rest.strip_prefix('"') else {
                assert!(
                    rest.starts_with("openapi::VIEWER_PATH,"),
                    "{}: a route whose path is not a literal: {}",
                    path.display(),
                    &rest[..rest.len().min(60)]
                );
                continue;
            };
            let (route, rest) = rest.split_once('"').unwrap();
            let method = rest
                .strip_prefix(",web::")
                .and_then(|r| r.split_once('('))
                .map(|(m, _)| m.to_uppercase())
                .unwrap_or_else(|| panic!("{}: cannot read the method of {route}", path.display()));
            let full = if route.starts_with("/admin/") {
                route.to_owned()
            } else {
                format!("/admin/api{route}")
            };
            found.insert((method, full));
        }
    }
    found
}

fn documented_operations(doc: &Value) -> BTreeSet<(String, String)> {
    doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect()
}

fn operation<'a>(doc: &'a Value, method: &str, path: &str) -> &'a Value {
    &doc["paths"][path][method.to_lowercase()]
}

/// Any call, with a bearer token or none.
async fn call(s: &Setup, method: &str, path: &str, token: Option<&str>) -> Reply {
    let url = s.url(path);
    let req = match method {
        "GET" => client().get(url),
        "HEAD" => client().head(url),
        "POST" => client().post(url),
        "PUT" => client().put(url),
        "PATCH" => client().patch(url),
        "DELETE" => client().delete(url),
        other => panic!("no such method in these tests: {other}"),
    };
    let req = match token {
        Some(token) => req.insert_header(("authorization", format!("Bearer {token}"))),
        None => req,
    };
    read(req.send().await.unwrap()).await
}

/// A schema with its `$ref`s followed, and `allOf` parts and a nullable `oneOf` merged:
/// the properties it lists and those it requires.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> Vec<&'a Value> {
    if let Some(reference) = schema["$ref"].as_str() {
        let target = doc.pointer(reference.strip_prefix('#').unwrap()).unwrap();
        return resolve(doc, target);
    }
    if let Some(parts) = schema["allOf"].as_array() {
        return parts.iter().flat_map(|p| resolve(doc, p)).collect();
    }
    if let Some(choices) = schema["oneOf"].as_array() {
        return choices
            .iter()
            .filter(|c| c["type"] != "null")
            .flat_map(|c| resolve(doc, c))
            .collect();
    }
    vec![schema]
}

/// Checks that `value` has no field its schema does not list and every field it requires,
/// all the way down; `{}` (any JSON) matches anything.
fn conforms(doc: &Value, schema: &Value, value: &Value, at: &str) {
    let parts = resolve(doc, schema);
    match value {
        Value::Object(fields) => {
            let listed: Vec<(&String, &Value)> = parts
                .iter()
                .filter_map(|p| p["properties"].as_object())
                .flatten()
                .collect();
            if listed.is_empty() {
                return;
            }
            for (name, field) in fields {
                let (_, field_schema) = listed
                    .iter()
                    .find(|(n, _)| *n == name)
                    .unwrap_or_else(|| panic!("{at}.{name} is sent but not in the schema"));
                conforms(doc, field_schema, field, &format!("{at}.{name}"));
            }
            for part in &parts {
                for required in part["required"].as_array().into_iter().flatten() {
                    let required = required.as_str().unwrap();
                    assert!(
                        fields.contains_key(required),
                        "{at}.{required} is required by the schema but not sent"
                    );
                }
            }
        }
        Value::Array(items) => {
            for part in parts.iter().filter(|p| !p["items"].is_null()) {
                for (i, item) in items.iter().enumerate() {
                    conforms(doc, &part["items"], item, &format!("{at}[{i}]"));
                }
            }
        }
        _ => {}
    }
}

#[actix_rt::test]
async fn the_openapi_document_matches_the_routes() {
    let s = start(&[("a", &["m:latest"])], |c| {
        c.auth.admin_token = TOKEN.into();
        c.request_log.enabled = true;
    })
    .await;

    // Served without credentials, as OpenAPI 3.1.
    let reply = call(&s, "GET", "/admin/api/openapi.json", None).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.headers.get("content-type").unwrap(),
        "application/json"
    );
    let doc = reply.json();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        doc["openapi"]
    );

    // Every registered route is documented, and every documented operation is registered.
    let registered = registered_routes();
    let documented = documented_operations(&doc);
    assert!(
        registered.len() > 30,
        "the source scan found {registered:?}"
    );
    let undocumented: Vec<_> = registered.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&registered).collect();
    assert!(
        undocumented.is_empty(),
        "not in the document: {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "documented but not registered: {unrouted:?}"
    );
    for known in [
        ("POST", "/admin/api/keys"),
        ("DELETE", "/admin/api/nodes/{name}"),
    ] {
        assert!(
            documented.contains(&(known.0.to_owned(), known.1.to_owned())),
            "{known:?}"
        );
    }

    // The router serves every documented operation (a miss is a 404, a wrong method a 405),
    // and credentials are asked for exactly where the document names the bearer scheme.
    // Without credentials nothing runs: the extractors refuse before the handler.
    for (method, path) in &documented {
        let op = operation(&doc, method, path);
        let secured = op["security"] == json!([{"bearer": []}]);
        let concrete = path.replace(['{', '}'], "");
        let reply = call(&s, method, &concrete, None).await;
        let expected = match (method.as_str(), path.as_str()) {
            _ if secured => 401,
            ("GET", "/admin/api/openapi.json") => 200,
            // Public, so it reads the (empty) body and refuses it.
            ("POST", "/admin/api/login") => 400,
            _ => panic!("{method} {path} is public in the document"),
        };
        assert_eq!(
            reply.status.as_u16(),
            expected,
            "{method} {concrete}: {}",
            reply.text()
        );
    }

    // Something behind every path parameter, so the GETs below find what they ask for.
    let route = admin(
        &s,
        "POST",
        "/routes",
        Some(json!({"alias": "fast", "target_model": "m:latest"})),
    )
    .await;
    assert_eq!(route.status, 201, "{}", route.text());
    let key = admin(&s, "POST", "/keys", Some(json!({"name": "ci"}))).await;
    assert_eq!(key.status, 201, "{}", key.text());
    let key_id = key.json()["id"].as_str().unwrap().to_owned();
    let user = json!({"username": "ada", "password": "correct horse", "role": "viewer"});
    assert_eq!(admin(&s, "POST", "/users", Some(user)).await.status, 201);
    assert_eq!(s.chat("m").await.status, 200);
    let mut record_id = None;
    for _ in 0..200 {
        let logs = admin(&s, "GET", "/logs", None).await.json();
        if let Some(id) = logs["records"][0]["id"].as_str() {
            record_id = Some(id.to_owned());
            break;
        }
        actix_rt::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let record_id = record_id.expect("the chat left no record");

    // Each GET, with the admin token, answers what its 200 schema describes (a ghost image
    // answers the documented 404).
    for (method, path) in documented.iter().filter(|(m, _)| m == "GET") {
        let concrete = path
            .replace("{name}", "a")
            .replace("{alias}", "fast")
            .replace("{username}", "ada")
            .replace("{sha256}", &"0".repeat(64))
            .replace(
                "{id}",
                if path.starts_with("/admin/api/keys/") {
                    &key_id
                } else {
                    &record_id
                },
            );
        let reply = call(&s, method, &concrete, Some(TOKEN)).await;
        let (status, body) = match path.as_str() {
            "/admin/api/media/{sha256}" => (404, "404"),
            _ => (200, "200"),
        };
        assert_eq!(
            reply.status.as_u16(),
            status,
            "GET {concrete}: {}",
            reply.text()
        );
        if path == "/admin/api/openapi.json" {
            continue;
        }
        let mut response = &operation(&doc, method, path)["responses"][body];
        if let Some(reference) = response["$ref"].as_str() {
            response = doc.pointer(reference.strip_prefix('#').unwrap()).unwrap();
        }
        let schema = &response["content"]["application/json"]["schema"];
        assert!(!schema.is_null(), "GET {path}: no JSON schema for {body}");
        conforms(&doc, schema, &reply.json(), &format!("GET {concrete}"));
    }

    // The viewer page: HTML, no credentials, the document inside and Scalar's script.
    let page = call(&s, "GET", "/admin/docs", None).await;
    assert_eq!(page.status, 200);
    assert!(page
        .headers
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = page.text();
    assert!(html.contains("Scalar.createApiReference"), "{html}");
    assert!(html.contains(r#""openapi":"3.1.0""#));
    viewer_page_is_guarded(&s, &page).await;

    // A viewer's session may read the document's GETs too (the scheme says either token).
    let login = client()
        .post(s.url("/admin/api/login"))
        .send_json(&json!({"username": "ada", "password": "correct horse"}))
        .await
        .unwrap();
    let session = read(login).await.json()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        admin_as(&s, &session, "GET", "/nodes", None).await.status,
        200
    );
}

/// The viewer page, where admin tokens are pasted, may not be framed, runs only Scalar's
/// script and its own inline one (whose hash the policy names), and answers `HEAD`.
async fn viewer_page_is_guarded(s: &Setup, page: &Reply) {
    use base64::Engine as _;
    use sha2::Digest as _;
    let header = |reply: &Reply, name: &str| {
        reply
            .headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    assert_eq!(header(page, "x-frame-options").as_deref(), Some("DENY"));
    let policy = header(page, "content-security-policy").expect("a Content-Security-Policy");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert!(policy.contains("default-src 'none'"), "{policy}");
    let html = page.text();
    let (_, rest) = html.split_once("<script>").unwrap();
    let (inline, _) = rest.split_once("</script>").unwrap();
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(inline));
    assert!(
        policy.contains(&format!("'sha256-{hash}'")),
        "the policy does not allow the page's inline script: {policy}"
    );

    let head = call(s, "HEAD", "/admin/docs", None).await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    for name in ["content-type", "content-security-policy", "x-frame-options"] {
        assert_eq!(header(&head, name), header(page, name), "{name}");
    }
}
