//! `GET /admin/openapi.json` lists every `/admin` route the server answers, and
//! only those.
use crate::both_stores;
use crate::helpers::*;
use serde_json::{Value, json};

/// Every `/admin` route of CONTRACT 3.3 and 3.4.
const ROUTES: &[(&str, &str)] = &[
    ("get", "/admin/"),
    ("get", "/admin/app.css"),
    ("get", "/admin/app.js"),
    ("get", "/admin/openapi.json"),
    ("get", "/admin/app-tile"),
    ("get", "/admin/changes"),
    ("get", "/admin/events/{event_id}"),
    ("get", "/admin/outbound"),
    ("post", "/admin/outbound/{id}/retry"),
    ("post", "/admin/plans/{plan_id}/billing/resend"),
    ("get", "/admin/plans"),
    ("post", "/admin/plans"),
    ("get", "/admin/plans/{plan_id}"),
    ("patch", "/admin/plans/{plan_id}"),
    ("get", "/admin/plans/{plan_id}/audit"),
    ("post", "/admin/plans/{plan_id}/hold/approve"),
    ("get", "/admin/plans/{plan_id}/members"),
    ("put", "/admin/plans/{plan_id}/members/{email}"),
    ("get", "/admin/plans/{plan_id}/preview"),
    ("post", "/admin/plans/{plan_id}/scim-setup"),
    ("post", "/admin/plans/{plan_id}/portal-link"),
    ("get", "/admin/plans/{plan_id}/history"),
    ("post", "/admin/plans/{plan_id}/portal-sessions/revoke"),
];

async fn the_openapi_document_lists_every_admin_route_and_each_answers(store: Store) {
    let app = spawn_app(store).await;
    let plan = app.create_plan(ORG, None).await;
    app.user(UserEvent {
        id: "event_a",
        user: "directory_user_a",
        email: "ann@example.com",
        at: &at(1),
        ..Default::default()
    })
    .await;
    app.settle().await;

    // No token needed for the document itself.
    let response = app.client.get(app.url("/admin/openapi.json")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let doc: Value = response.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);

    let mut listed: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            listed.push((method.clone(), path.clone()));
        }
    }
    listed.sort();
    // Every route behind the token says how a token is refused: 401, and 403
    // and 429 from the brake and the example-token check.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let responses = operation["responses"].as_object().unwrap();
            if responses.contains_key("401") {
                for status in ["403", "429"] {
                    assert!(responses.contains_key(status), "{method} {path} does not list {status}");
                }
            }
        }
    }
    let mut expected: Vec<(String, String)> = ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    expected.sort();
    assert_eq!(listed, expected);

    for (method, path) in &listed {
        let url = app.url(
            &path
                .replace("{plan_id}", &plan)
                .replace("{event_id}", "event_a")
                .replace("{email}", "ann@example.com")
                .replace("{id}", "msg_none"),
        );
        let request = match method.as_str() {
            "get" => app.client.get(&url),
            "post" if path == "/admin/plans" => app.client.post(&url).json(&json!({"name": "Another"})),
            "post" => app.client.post(&url).json(&json!({})),
            "put" => app.client.put(&url).json(&json!({"tier": "paid"})),
            "patch" => app.client.patch(&url).json(&json!({})),
            other => panic!("unexpected method {other}"),
        };
        let response = request.bearer_auth(ADMIN_TOKEN).send().await.unwrap();
        let status = response.status().as_u16();
        if path.contains("{id}") {
            // No such message: the route answers the contract's 404.
            assert_eq!(response.json::<Value>().await.unwrap()["error"], "not_found", "{method} {path}");
            continue;
        }
        assert_ne!(status, 404, "{method} {path}");
        assert!(status < 500, "{method} {path}: {status}");
    }
}

/// The served document passes an independent validator (PyPI's
/// `openapi-spec-validator`), and every operation has an id of its own, as
/// client generators need.
async fn the_openapi_document_is_valid_with_unique_operation_ids(store: Store) {
    let app = spawn_app(store).await;
    let text = app.client.get(app.url("/admin/openapi.json")).send().await.unwrap().text().await.unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let mut ids: Vec<String> = Vec::new();
    for item in doc["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            ids.push(operation["operationId"].as_str().expect("every operation has an id").to_owned());
        }
    }
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "operation ids repeat: {ids:?}");

    let Some(python) = crate::helpers::venv_python("openapi_spec_validator") else { return };
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &text).unwrap();
    let out = std::process::Command::new(python)
        .args([
            "-c",
            "import json, sys; from openapi_spec_validator import validate; validate(json.load(open(sys.argv[1]))); print('valid')",
        ])
        .arg(file.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the validator refused the document:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

both_stores!(
    the_openapi_document_lists_every_admin_route_and_each_answers,
    the_openapi_document_is_valid_with_unique_operation_ids
);
