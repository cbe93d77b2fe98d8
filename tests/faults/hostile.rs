//! Hostile requests against the running binary (issue 10 "Hostile input", docs/API.md §2): bodies
//! over 64 KiB, deeply nested JSON, invalid UTF-8 and other malformed input get a JSON 4xx
//! and save nothing; and another tenant's ids answer 404 on every route that takes an id
//! (the IDOR sweep), changing nothing.
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{Api, Deployment, PgDatabase, Tenant, bounded, ticket_body};
use crate::support::receiver::FakeServer;

/// A raw HTTP/1.1 exchange, for what reqwest will not send (chunked bodies, bad headers).
async fn raw_http(api: &Api, request: Vec<u8>) -> (u16, String) {
    let addr = api.base.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    // The server may answer (and close) before the whole body is written.
    let _ = stream.write_all(&request).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {text:?}"));
    (status, text)
}

async fn raw_post(
    api: &Api,
    tenant: &Tenant,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> (StatusCode, Value) {
    let response = api
        .client
        .post(api.url(path))
        .bearer_auth(&tenant.key)
        .header("content-type", content_type)
        .body(body.to_vec())
        .send()
        .await
        .expect("answered");
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = response.text().await.expect("body");
    assert!(
        content_type.starts_with("application/json"),
        "{path}: {status} {content_type} {text}"
    );
    (
        status,
        serde_json::from_str(&text).expect("JSON error body"),
    )
}

/// What is sent, where, as which content type, and the status and codes expected.
type BodyCase = (
    &'static str,
    &'static str,
    &'static str,
    Vec<u8>,
    u16,
    &'static [&'static str],
);

fn nested(depth: usize) -> String {
    format!(
        r#"{{"subject": {}"x"{}, "category": "api_sdk", "description": "Deeply nested input"}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    )
}

#[actix_web::test]
async fn hostile_bodies_get_a_4xx_and_save_nothing() {
    bounded("hostile_bodies", Duration::from_secs(60), async {
        let db = PgDatabase::create();
        let mut deployment = Deployment::new(&db.url);
        let node = deployment.start("serve").await;
        let tenant = node.create_tenant("enterprise", 1_000).await;
        node.create_ticket(&tenant, "The one real ticket").await;
        let tickets = "/v1/support/tickets";

        let mut huge = ticket_body("Huge");
        huge["description"] = json!("x".repeat(70 * 1024));
        let huge = huge.to_string().into_bytes();
        let bad_utf8 = b"{\"subject\": \"Bad \xff\xfe bytes\", \"category\": \"api_sdk\", \"description\": \"Invalid UTF-8 \xc3\x28 here\"}".to_vec();
        let with_nul = ticket_body("Nul \u{0} byte").to_string().into_bytes();
        let mut with_nul_description = ticket_body("Nul in description");
        with_nul_description["description"] = json!("Ten chars and a \u{0} NUL byte");
        let cases: Vec<BodyCase> = vec![
            ("a body over 64 KiB", tickets, "application/json", huge.clone(), 413, &["payload_too_large"]),
            ("a body of 1 MiB", tickets, "application/json", vec![b' '; 1 << 20], 413, &["payload_too_large"]),
            ("arrays nested 60k deep", tickets, "application/json", "[".repeat(60_000).into_bytes(), 400, &["invalid_json", "validation_failed"]),
            ("a field nested 20k deep", tickets, "application/json", nested(20_000).into_bytes(), 400, &["invalid_json", "validation_failed"]),
            ("objects nested 10k deep", tickets, "application/json", "{\"a\":".repeat(10_000).into_bytes(), 400, &["invalid_json", "unknown_field"]),
            ("invalid UTF-8", tickets, "application/json", bad_utf8.clone(), 400, &["invalid_json"]),
            ("invalid UTF-8 in a webhook", "/v1/webhooks", "application/json", b"{\"url\": \"http://\xff.test/\"}".to_vec(), 400, &["invalid_json"]),
            ("invalid UTF-8 in a number", "/v1/numbers", "application/json", b"{\"number\": \"+1555\xc0\"}".to_vec(), 400, &["invalid_json"]),
            ("a NUL in the subject", tickets, "application/json", with_nul, 400, &["validation_failed"]),
            ("a NUL in the description", tickets, "application/json", with_nul_description.to_string().into_bytes(), 400, &["validation_failed"]),
            ("not JSON", tickets, "text/plain", b"subject=hi".to_vec(), 415, &["unsupported_media_type"]),
            ("trailing garbage", tickets, "application/json", [ticket_body("Trailing").to_string().as_bytes(), b" {}"].concat(), 400, &["invalid_json"]),
            ("a lone surrogate escape", tickets, "application/json", br#"{"subject": "\ud800 half", "category": "api_sdk", "description": "Lone surrogate escape"}"#.to_vec(), 400, &["invalid_json"]),
            ("an empty body", tickets, "application/json", Vec::new(), 400, &["invalid_json"]),
        ];
        for (what, path, content_type, body, status, codes) in &cases {
            let (actual, answer) = raw_post(&node, &tenant, path, content_type, body).await;
            assert_eq!(actual.as_u16(), *status, "{what}: {answer}");
            assert!(codes.contains(&answer["code"].as_str().unwrap_or_default()), "{what}: {answer}");
        }

        // A NUL in any free-text field (PostgreSQL cannot store one) is refused with a 400
        // naming the field, never a 500, and saves nothing.
        let nul = "Has a \u{0} NUL inside";
        let agent = node
            .expect(Method::POST, "/v1/agents", &tenant.key, Some(json!({"name": "Agent"})), StatusCode::CREATED)
            .await["id"]
            .as_str()
            .expect("agent id")
            .to_string();
        let ticket = node.create_ticket(&tenant, "Second real ticket").await;
        let admin = node.admin_token.clone();
        for (method, path, token, body, field) in [
            (Method::POST, tickets.to_string(), &tenant.key, json!({"subject": "Fine", "category": "bug", "description": "Fine description", "call_id": nul}), "call_id"),
            (Method::POST, format!("{tickets}/{ticket}/messages"), &tenant.key, json!({"body": nul}), "body"),
            (Method::POST, "/v1/agents".to_string(), &tenant.key, json!({"name": nul}), "name"),
            (Method::POST, "/v1/agents".to_string(), &tenant.key, json!({"name": "Fine", "description": nul}), "description"),
            (Method::PUT, format!("/v1/agents/{agent}"), &tenant.key, json!({"name": "Fine", "description": nul}), "description"),
            (Method::POST, "/v1/keys/publishable".to_string(), &tenant.key, json!({"label": nul}), "label"),
            (Method::POST, "/v1/webhooks".to_string(), &tenant.key, json!({"url": "http://127.0.0.1:9/x", "events": ["support.ticket_created"], "description": nul}), "body"),
            (Method::PUT, "/admin/support/status".to_string(), &admin, json!({"status": "degraded", "message": nul}), "body"),
            (Method::POST, "/admin/tenants".to_string(), &admin, json!({"name": nul, "email": "a@b.test"}), "name"),
            (Method::POST, format!("/admin/tenants/{}/credits", tenant.id), &admin, json!({"amount_cents": 5, "note": nul}), "note"),
            (Method::POST, format!("/admin/support/tickets/{ticket}/reply"), &admin, json!({"body": nul}), "body"),
        ] {
            let (status, answer) = node.call(method.clone(), &path, token, Some(body.clone())).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path} {body}: {answer}");
            assert_eq!(answer["code"], "validation_failed", "{method} {path}: {answer}");
            // "body" where the field has no domain type of its own (the storage-level
            // safety net in `error.rs` cannot tell which field it was).
            assert_eq!(answer["detail"], field, "{method} {path}: {answer}");
        }
        let (status, answer) = node.call(Method::GET, &format!("{tickets}?q=%00"), &tenant.key, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "search for NUL: {answer}");
        assert_eq!(answer["detail"], "q", "{answer}");

        // A chunked body (no Content-Length) is cut off at 64 KiB too.
        let mut chunked = format!(
            "POST /v1/support/tickets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
            tenant.key
        )
        .into_bytes();
        for chunk in huge.chunks(8 * 1024) {
            chunked.extend(format!("{:x}\r\n", chunk.len()).into_bytes());
            chunked.extend(chunk);
            chunked.extend(b"\r\n");
        }
        chunked.extend(b"0\r\n\r\n");
        let (status, text) = raw_http(&node, chunked).await;
        assert_eq!(status, 413, "chunked body over 64 KiB: {text}");

        // Malformed headers and query strings.
        let bad_auth = b"GET /v1/support/tickets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer hl_sk_\xff\xfe\r\nConnection: close\r\n\r\n".to_vec();
        let (status, text) = raw_http(&node, bad_auth).await;
        assert_eq!(status, 401, "a key with invalid bytes: {text}");
        for (path, expected) in [
            ("/v1/support/tickets?cursor=%FF%FE", 400),
            ("/v1/support/tickets?limit=99999999999999999999999", 400),
            ("/v1/support/tickets?status=%00", 400),
            ("/v1/support/tickets/tkt_%00", 404),
            ("/v1/support/tickets/%F0%9F%92%A9", 404),
            ("/v1/numbers/%2B1555%00", 400),
        ] {
            let (status, body) = node.call(Method::GET, path, &tenant.key, None).await;
            assert!(
                status.as_u16() == expected || (status.is_client_error() && status != StatusCode::UNAUTHORIZED),
                "{path}: {status} {body}"
            );
            assert!(body["code"].is_string(), "{path}: JSON error, got {body}");
        }
        let bad_key = node
            .client
            .post(node.url(tickets))
            .bearer_auth(&tenant.key)
            .header("idempotency-key", "k".repeat(300))
            .json(&ticket_body("Long key"))
            .send()
            .await
            .expect("answered");
        assert_eq!(bad_key.status(), StatusCode::BAD_REQUEST, "an Idempotency-Key over 255 characters");

        // Nothing was saved or charged.
        let (_, listed) = node.call(Method::GET, tickets, &tenant.key, None).await;
        assert_eq!(listed["total"], 2, "only the real tickets exist: {listed}");
        let t = node.expect(Method::GET, &format!("{tickets}/{ticket}"), &tenant.key, None, StatusCode::OK).await;
        assert_eq!(t["message_count"], 1, "no message was added: {t}");
        node.assert_books_balance(&tenant, 1_000, 1).await;
        let (status, _) = node.send(Method::GET, "/healthz", None, None).await.expect("healthz");
        assert_eq!(status, StatusCode::OK, "still up");
    })
    .await;
}

/// Every route that takes an id, called by another tenant with the owner's ids: 404, exactly
/// as for an unknown id, and the owner's objects are unchanged afterwards.
#[actix_web::test]
async fn another_tenants_ids_answer_404_on_every_route() {
    bounded("idor_sweep", Duration::from_secs(60), async {
        let receiver = FakeServer::start().await;
        let db = PgDatabase::create();
        let mut deployment = Deployment::new(&db.url);
        let node = deployment.start("serve").await;
        // A balance of 10: the first ticket takes it under 10 × the fee, a notification.
        let owner = node.create_tenant("enterprise", 10).await;
        let intruder = node.create_tenant("enterprise", 1_000).await;

        let ticket = node.create_ticket(&owner, "Owner's ticket").await;
        let webhook = node.add_webhook(&owner, &receiver.url).await;
        node.create_ticket(&owner, "Second ticket").await;
        let agent = node
            .expect(
                Method::POST,
                "/v1/agents",
                &owner.key,
                Some(json!({"name": "Owner's agent", "description": "x"})),
                StatusCode::CREATED,
            )
            .await["id"]
            .as_str()
            .expect("agent id")
            .to_string();
        let number = "+15550009999";
        node.expect(
            Method::POST,
            "/v1/numbers",
            &owner.key,
            Some(json!({"number": number, "agent_id": agent})),
            StatusCode::CREATED,
        )
        .await;
        let pk = node
            .expect(
                Method::POST,
                "/v1/keys/publishable",
                &owner.key,
                Some(json!({"label": "site"})),
                StatusCode::CREATED,
            )
            .await["id"]
            .as_str()
            .expect("publishable key id")
            .to_string();
        let notification =
            crate::harness::eventually("a notification", Duration::from_secs(10), || async {
                let (_, listed) = node
                    .call(Method::GET, "/v1/notifications", &owner.key, None)
                    .await;
                listed["data"][0]["id"].as_str().map(str::to_string)
            })
            .await;
        let delivery =
            crate::harness::eventually("a delivery", Duration::from_secs(20), || async {
                let (_, listed) = node
                    .call(
                        Method::GET,
                        &format!("/v1/webhooks/{webhook}/deliveries"),
                        &owner.key,
                        None,
                    )
                    .await;
                listed["data"][0]["id"].as_str().map(str::to_string)
            })
            .await;

        let encoded = number.replace('+', "%2B");
        let routes: Vec<(Method, String, Option<Value>)> = vec![
            (Method::GET, format!("/v1/support/tickets/{ticket}"), None),
            (
                Method::PATCH,
                format!("/v1/support/tickets/{ticket}"),
                Some(json!({"status": "closed"})),
            ),
            (
                Method::GET,
                format!("/v1/support/tickets/{ticket}/messages"),
                None,
            ),
            (
                Method::POST,
                format!("/v1/support/tickets/{ticket}/messages"),
                Some(json!({"body": "Intruder reply"})),
            ),
            (
                Method::GET,
                format!("/v1/support/tickets/{ticket}/events"),
                None,
            ),
            (Method::GET, format!("/v1/agents/{agent}"), None),
            (
                Method::PUT,
                format!("/v1/agents/{agent}"),
                Some(json!({"name": "Stolen", "description": "x"})),
            ),
            (Method::DELETE, format!("/v1/agents/{agent}"), None),
            (
                Method::POST,
                format!("/v1/numbers/{encoded}/attach"),
                Some(json!({"agent_id": agent})),
            ),
            (Method::DELETE, format!("/v1/numbers/{encoded}"), None),
            (Method::DELETE, format!("/v1/keys/publishable/{pk}"), None),
            (
                Method::PUT,
                format!("/v1/notifications/{notification}/read"),
                None,
            ),
            (Method::GET, format!("/v1/webhooks/{webhook}"), None),
            (
                Method::PATCH,
                format!("/v1/webhooks/{webhook}"),
                Some(json!({"enabled": false})),
            ),
            (
                Method::GET,
                format!("/v1/webhooks/{webhook}/deliveries"),
                None,
            ),
            (
                Method::POST,
                format!("/v1/webhooks/{webhook}/deliveries/{delivery}/retry"),
                None,
            ),
            (
                Method::POST,
                format!("/v1/webhooks/{webhook}/rotate-secret"),
                None,
            ),
            (Method::POST, format!("/v1/webhooks/{webhook}/test"), None),
            (Method::DELETE, format!("/v1/webhooks/{webhook}"), None),
        ];
        for (method, path, body) in &routes {
            let (status, answer) = node
                .call(method.clone(), path, &intruder.key, body.clone())
                .await;
            assert_eq!(
                status,
                StatusCode::NOT_FOUND,
                "{method} {path} with another tenant's id: {answer}"
            );
            assert_eq!(answer["code"], "not_found", "{method} {path}: {answer}");
        }
        // The intruder's own lists show none of it.
        for path in [
            "/v1/support/tickets",
            "/v1/agents",
            "/v1/numbers",
            "/v1/webhooks",
            "/v1/notifications",
            "/v1/keys/publishable",
        ] {
            let (_, listed) = node.call(Method::GET, path, &intruder.key, None).await;
            let text = listed.to_string();
            for id in [&ticket, &agent, &webhook, &pk, &notification, &owner.id] {
                assert!(
                    !text.contains(id.as_str()),
                    "{path} shows {id} to another tenant"
                );
            }
            assert!(!text.contains(number), "{path} shows the number");
        }
        // And the number is still the owner's: registering it is a conflict, not a takeover.
        let (status, _) = node
            .call(
                Method::POST,
                "/v1/numbers",
                &intruder.key,
                Some(json!({"number": number})),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT);

        // Nothing of the owner's changed.
        let t = node
            .expect(
                Method::GET,
                &format!("/v1/support/tickets/{ticket}"),
                &owner.key,
                None,
                StatusCode::OK,
            )
            .await;
        assert_eq!(t["status"], "open");
        assert_eq!(t["message_count"], 1);
        let w = node
            .expect(
                Method::GET,
                &format!("/v1/webhooks/{webhook}"),
                &owner.key,
                None,
                StatusCode::OK,
            )
            .await;
        assert_eq!(w["enabled"], true);
        let a = node
            .expect(
                Method::GET,
                &format!("/v1/agents/{agent}"),
                &owner.key,
                None,
                StatusCode::OK,
            )
            .await;
        assert_eq!(a["name"], "Owner's agent");
        let (_, numbers) = node
            .call(Method::GET, "/v1/numbers", &owner.key, None)
            .await;
        assert_eq!(numbers["numbers"][0]["number"], number);
        assert_eq!(numbers["numbers"][0]["agent_id"], agent.as_str());
        let (_, keys) = node
            .call(Method::GET, "/v1/keys/publishable", &owner.key, None)
            .await;
        assert!(keys.to_string().contains(&pk), "{keys}");
        let (_, notes) = node
            .call(Method::GET, "/v1/notifications", &owner.key, None)
            .await;
        assert_eq!(notes["data"][0]["read_at"], Value::Null, "{notes}");
        node.assert_books_balance(&owner, 10, 1).await;
    })
    .await;
}
