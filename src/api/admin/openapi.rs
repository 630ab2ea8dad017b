//! The admin API described as an OpenAPI 3.1 document, and a page to read and try it.
//!
//! Each handler carries its own `#[utoipa::path(...)]`, so a change to a handler and to its
//! description land in the same place; `AdminApi` only lists them. Request and response
//! bodies are the types the handlers really parse and send (`ToSchema` on each), so the
//! schemas follow the code. The document holds no secrets and is served without
//! credentials; every operation but `login` needs a bearer token to be called.
//!
//! The viewer is Scalar's standalone script, loaded by the browser from a CDN: nothing is
//! downloaded at build time (CI reaches only package registries). A browser that cannot
//! reach the CDN sees a note pointing at the raw JSON instead.

use std::sync::LazyLock;

use actix_web::{http::header, HttpResponse};
use bytes::Bytes;
use utoipa::{
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    Modify, OpenApi, ToResponse,
};
use utoipa_scalar::Scalar;

use super::{
    cluster, history, keys, logs, nodes, routes, settings, stats, users, AdminError, ErrorBody,
};
use crate::error::GatewayError;

/// Where the viewer page is served (outside `/admin/api`: it is for people, not part of the
/// API it shows).
pub const VIEWER_PATH: &str = "/admin/docs";

/// The name of the security scheme every protected operation names.
pub const SECURITY_SCHEME: &str = "bearer";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Drover admin API",
        description = "Nodes, model routes, API keys, users, selector settings, request records, \
            statistics, change history and the live pool of a Drover replica. Changes are stored \
            with their history and reach routing on the next request.\n\n\
            Send `Authorization: Bearer <token>`: the admin token (`auth.admin_token`), or a \
            session token from `POST /admin/api/login`. Viewers may call every GET; changes need \
            the admin token or an `admin` user. Errors are `{\"error\": \"...\"}`; a bad input's \
            message starts with the field or parameter at fault."
    ),
    paths(
        document,
        nodes::list_nodes,
        nodes::add_node,
        nodes::get_node,
        nodes::put_node,
        nodes::delete_node,
        nodes::drain_node,
        nodes::undrain_node,
        nodes::probe_node,
        nodes::pool,
        routes::list_routes,
        routes::add_route,
        routes::get_route,
        routes::put_route,
        routes::delete_route,
        keys::list_keys,
        keys::create_key,
        keys::get_key,
        keys::change_key,
        keys::revoke_key,
        users::login,
        users::logout,
        users::list_users,
        users::add_user,
        users::get_user,
        users::change_role,
        users::delete_user,
        users::set_password,
        settings::get_settings,
        settings::put_settings,
        logs::logs,
        logs::one_log,
        logs::media,
        stats::stats,
        history::history,
        cluster::cluster,
    ),
    components(responses(
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        Internal,
        Unavailable
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "nodes", description = "Upstream nodes: stored settings, drain, probe, the live pool"),
        (name = "routes", description = "Model routes: public aliases served as a model on chosen nodes"),
        (name = "keys", description = "API keys for clients; a key's secret is shown once, when it is made"),
        (name = "users", description = "Admin users and their sessions"),
        (name = "settings", description = "Selector settings changed at runtime"),
        (name = "records", description = "Request records, captured bodies and media, statistics"),
        (name = "history", description = "Every change made through this API"),
        (name = "cluster", description = "The replicas of a cluster, as they report themselves"),
        (name = "meta", description = "This document"),
    )
)]
pub struct AdminApi;

/// Adds the bearer scheme the operations' `security(("bearer" = []))` refer to.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            SECURITY_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The admin token (`auth.admin_token`), or a session token (`drs_…`) \
                         from `POST /admin/api/login`",
                    ))
                    .build(),
            ),
        );
    }
}

// The error answers every operation shares, each once in `components.responses`. Never built:
// the handlers answer with `AdminError`, whose body is `ErrorBody`.

/// Bad input: a malformed body, an unknown or repeated field or parameter, or a value out of
/// range. The message starts with the field or parameter at fault.
#[derive(ToResponse)]
pub struct BadRequest(pub ErrorBody);

/// Missing, wrong or expired credentials.
#[derive(ToResponse)]
pub struct Unauthorized(pub ErrorBody);

/// The admin API is off (no `auth.admin_token` is set and no session token was sent), or the
/// caller is a viewer and the call changes something.
#[derive(ToResponse)]
pub struct Forbidden(pub ErrorBody);

/// The node, route, key, user, record or media named in the path does not exist.
#[derive(ToResponse)]
pub struct NotFound(pub ErrorBody);

/// The change clashes with what is stored (the name exists already, the key is revoked), or
/// a secret (password hash, session token) could not be made.
#[derive(ToResponse)]
pub struct Conflict(pub ErrorBody);

/// The replica's pool did not answer (its actors are stopping).
#[derive(ToResponse)]
pub struct Internal(pub ErrorBody);

/// The database cannot be reached.
#[derive(ToResponse)]
pub struct Unavailable(pub ErrorBody);

/// Scalar's standalone script, pinned so the page does not change under us, with its
/// SHA-384 (of `dist/browser/standalone.js` in the npm package) so a tampered copy from the
/// CDN does not run on a page where operators paste admin tokens.
const SCALAR_SCRIPT: &str =
    "https://cdn.jsdelivr.net/npm/@scalar/api-reference@1.72.1/dist/browser/standalone.js";
const SCALAR_INTEGRITY: &str =
    "sha384-U11tb2XnKvmwt8RlTvnwUnYgrN+ur4Xyh9htLhjajWNR/Oyl5AX5DEz00qRmlrmK";

/// The viewer page; utoipa-scalar puts the document where `$spec` is. Scalar calls the API
/// from the browser, same origin: no `proxyUrl` is set (a proxy would see the token, and
/// Scalar proxies no relative URL without one), and nothing that talks to Scalar's servers
/// is on: no telemetry, AI agent, MCP, web fonts, or developer tools (whose "Share" uploads
/// the document). The token is not kept in local storage (`persistAuth` off).
fn viewer_html() -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Drover admin API</title>
</head>
<body>
<div id="app"><p>Loading the API viewer from cdn.jsdelivr.net. If this stays, this browser
cannot reach it: the document itself is at <a href="/admin/api/openapi.json">/admin/api/openapi.json</a>.</p></div>
<script src="{SCALAR_SCRIPT}" integrity="{SCALAR_INTEGRITY}" crossorigin="anonymous"></script>
<script>
if (window.Scalar) {{
  Scalar.createApiReference('#app', {{
    content: $spec,
    authentication: {{ preferredSecurityScheme: '{SECURITY_SCHEME}' }},
    persistAuth: false,
    telemetry: false,
    withDefaultFonts: false,
    agent: {{ disabled: true }},
    mcp: {{ disabled: true }},
    showDeveloperTools: 'never',
  }});
}}
</script>
</body>
</html>
"#
    )
}

/// The document as JSON and the viewer page, made once: neither changes while the process
/// runs. An error (serialising a document cannot really fail) is kept as text and answered
/// as a 500 rather than taking the server down.
struct Rendered {
    json: Bytes,
    html: Bytes,
    /// The page's Content-Security-Policy, which names its inline script by hash.
    policy: String,
}

static RENDERED: LazyLock<Result<Rendered, String>> = LazyLock::new(|| {
    let value = serde_json::to_value(AdminApi::openapi()).map_err(|e| e.to_string())?;
    let json = serde_json::to_vec(&value).map_err(|e| e.to_string())?;
    let html = Scalar::new(value).custom_html(viewer_html()).to_html();
    let policy = content_security_policy(&html)?;
    Ok(Rendered {
        json: Bytes::from(json),
        html: Bytes::from(html),
        policy,
    })
});

/// The inline script that starts Scalar opens with this line (the only `<script>` without
/// attributes in `viewer_html`).
const INLINE_SCRIPT: &str = "<script>\n";

/// A policy that lets the page run only Scalar's pinned script and its own inline script
/// (by SHA-256 of the page as rendered, since the document sits inside it), call only this
/// origin (where the admin token goes), and be framed by no one (no clickjacking of a page
/// where tokens are pasted). Scalar sets styles and images from script, hence their
/// `'unsafe-inline'` and `data:`.
fn content_security_policy(html: &str) -> Result<String, String> {
    use base64::Engine as _;
    use sha2::Digest as _;
    let script = html
        .split_once(INLINE_SCRIPT)
        .and_then(|(_, rest)| rest.split_once("</script>"))
        .map(|(script, _)| format!("\n{script}"))
        .ok_or("the viewer page has no inline script")?;
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(script));
    let origin = SCALAR_SCRIPT
        .splitn(4, '/')
        .take(3)
        .collect::<Vec<_>>()
        .join("/");
    Ok(format!(
        "default-src 'none'; script-src {origin} 'sha256-{hash}'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; \
         worker-src blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ))
}

fn rendered() -> Result<&'static Rendered, AdminError> {
    RENDERED.as_ref().map_err(|e| {
        AdminError::Gateway(GatewayError::Internal(format!(
            "cannot render the OpenAPI document: {e}"
        )))
    })
}

/// The OpenAPI document
///
/// Served without credentials: it describes the API and holds no secrets.
#[utoipa::path(
    get,
    path = "/admin/api/openapi.json",
    tag = "meta",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document of the admin API",
            content_type = "application/json"),
    )
)]
pub(super) async fn document() -> Result<HttpResponse, AdminError> {
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(rendered()?.json.clone()))
}

/// The viewer page (not part of the document: it is not an API call); `HEAD` answers the
/// same headers.
pub(super) async fn viewer() -> Result<HttpResponse, AdminError> {
    let page = rendered()?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, page.policy.as_str()))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        // The page embeds the document, which changes with the binary.
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(page.html.clone()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn document() -> serde_json::Value {
        serde_json::to_value(AdminApi::openapi()).unwrap()
    }

    #[test]
    fn the_document_is_openapi_3_1_with_the_bearer_scheme() {
        let doc = document();
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(
            doc["components"]["securitySchemes"][SECURITY_SCHEME]["scheme"],
            "bearer"
        );
    }

    /// Every operation but `login` and the document itself names the bearer scheme, and
    /// every `$ref` points at a schema or response the document holds.
    #[test]
    fn every_protected_operation_needs_the_bearer_token_and_every_ref_resolves() {
        let doc = document();
        let public = [
            ("/admin/api/login", "post"),
            ("/admin/api/openapi.json", "get"),
        ];
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let security = &op["security"];
                if public.contains(&(path.as_str(), method.as_str())) {
                    assert!(security.is_null(), "{method} {path} should be public");
                } else {
                    assert_eq!(
                        security,
                        &serde_json::json!([{ SECURITY_SCHEME: [] }]),
                        "{method} {path}"
                    );
                }
            }
        }
        let mut refs = Vec::new();
        collect_refs(&doc, &mut refs);
        assert!(!refs.is_empty());
        for r in refs {
            let pointer = r.strip_prefix('#').unwrap();
            assert!(doc.pointer(pointer).is_some(), "dangling $ref {r}");
        }
    }

    fn collect_refs(value: &serde_json::Value, found: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(fields) => {
                for (k, v) in fields {
                    match (k.as_str(), v.as_str()) {
                        ("$ref", Some(r)) => found.push(r.to_owned()),
                        _ => collect_refs(v, found),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| collect_refs(v, found)),
            _ => {}
        }
    }

    /// The PUT bodies are described by schema-only types (`NodeChange`, `RouteChange`): they
    /// must list the same fields as what the handlers parse, with only the key made optional.
    #[test]
    fn the_put_bodies_match_what_the_handlers_parse() {
        let doc = document();
        let schemas = &doc["components"]["schemas"];
        let names = |schema: &str, what: &str| -> Vec<String> {
            let value = &schemas[schema][what];
            let list: Vec<String> = match value {
                serde_json::Value::Object(fields) => fields.keys().cloned().collect(),
                serde_json::Value::Array(items) => items
                    .iter()
                    .map(|i| i.as_str().unwrap().to_owned())
                    .collect(),
                _ => Vec::new(),
            };
            list
        };
        for (parsed, documented, key) in [
            ("NodeConfig", "NodeChange", "name"),
            ("RouteConfig", "RouteChange", "alias"),
        ] {
            assert_eq!(
                names(parsed, "properties"),
                names(documented, "properties"),
                "{documented} and {parsed} list different fields"
            );
            let mut required = names(parsed, "required");
            required.retain(|r| r != key);
            assert_eq!(required, names(documented, "required"), "{documented}");
        }
    }

    #[test]
    fn group_by_lists_what_stats_accepts() {
        let doc = document();
        let listed = &doc["components"]["schemas"]["GroupBy"]["enum"];
        let accepted: Vec<&str> = crate::store::stats::GroupBy::ALL
            .iter()
            .map(|g| g.as_str())
            .collect();
        assert_eq!(listed, &serde_json::json!(accepted));
    }

    /// The page embeds the document inside a `<script>`: a `</` in it would end the script
    /// early and break the page.
    #[test]
    fn the_viewer_embeds_the_document_safely() {
        let rendered = rendered().unwrap();
        let json = std::str::from_utf8(&rendered.json).unwrap();
        assert!(!json.contains("</"), "the document holds `</`");
        let html = std::str::from_utf8(&rendered.html).unwrap();
        assert!(html.contains(json), "the page does not embed the document");
        assert!(!html.contains("$spec"));
        assert!(html.contains(SCALAR_INTEGRITY));
    }
}
