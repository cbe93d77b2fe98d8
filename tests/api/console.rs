//! The operator console over plain HTTP (sessions, cookies, CSRF, headers) on both
//! backends, and its main flow in a real headless Chromium.
use fantoccini::Locator;
use reqwest::header::{CONTENT_SECURITY_POLICY, LOCATION, SET_COOKIE};
use reqwest::{StatusCode, redirect};
use sea_orm::EntityTrait;
use serde_json::json;

use crate::browser::Browser;
use crate::helpers::{Backend, TestApp, expect_status};
use crate::on_both_backends;
use crate::tickets::open_ticket;

on_both_backends!(
    sign_in_sets_a_strict_cookie_and_pages_carry_the_policy,
    the_session_is_stored_hashed_and_sign_out_ends_it,
    posts_without_the_csrf_token_are_refused,
    idle_sessions_expire,
    the_inbox_pages_by_cursor_and_keeps_filters,
);

pub struct Operator {
    pub id: String,
    pub token: String,
}

pub async fn operator(app: &TestApp, name: &str) -> Operator {
    let parsed = helpline::domain::validate::Name::parse(name, "name").expect("name");
    let (member, token) = helpline::tenants::provision::create_staff(&app.state.db, parsed)
        .await
        .expect("staff");
    Operator {
        id: member.id.to_string(),
        token: token.token,
    }
}

fn no_redirects() -> reqwest::Client {
    crate::support::http_client()
        .redirect(redirect::Policy::none())
        .build()
        .expect("client")
}

/// Signs in over HTTP; returns the `Set-Cookie` header and the `name=value` pair.
async fn sign_in(app: &TestApp, client: &reqwest::Client, token: &str) -> (String, String) {
    let res = client
        .post(app.url("/console/sign-in"))
        .form(&[("token", token)])
        .send()
        .await
        .expect("sign in");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[LOCATION], "/console");
    let set = res.headers()[SET_COOKIE]
        .to_str()
        .expect("cookie")
        .to_string();
    let pair = set.split(';').next().expect("pair").trim().to_string();
    (set, pair)
}

/// The CSRF token a page embeds (`<meta name="csrf-token">`).
fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf-token\" content=\"")
        .expect("csrf meta")
        + 27;
    html[at..].split('"').next().expect("token").to_string()
}

async fn sign_in_sets_a_strict_cookie_and_pages_carry_the_policy(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let op = operator(&app, "alice").await;
    let client = no_redirects();

    let res = client.get(app.url("/")).send().await.expect("root");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[LOCATION], "/console");
    let res = client
        .get(app.url("/console"))
        .send()
        .await
        .expect("console");
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "no session: to the sign-in page"
    );
    assert_eq!(res.headers()[LOCATION], "/console/sign-in");

    let res = client
        .get(app.url("/console/sign-in"))
        .send()
        .await
        .expect("page");
    assert_eq!(res.status(), StatusCode::OK);
    let h = res.headers().clone();
    assert_eq!(
        h[CONTENT_SECURITY_POLICY],
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    );
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["cache-control"], "no-store");
    let html = res.text().await.expect("html");
    assert!(
        !html.contains("<script>") && !html.contains(" style="),
        "no inline script or style"
    );

    let (set, pair) = sign_in(&app, &client, &op.token).await;
    let attrs: Vec<String> = set
        .split(';')
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    for needed in ["httponly", "samesite=strict", "path=/"] {
        assert!(
            attrs.iter().any(|a| a == needed),
            "{needed} missing in {set}"
        );
    }
    assert!(
        !attrs.iter().any(|a| a == "secure"),
        "plain HTTP from an untrusted peer: {set}"
    );
    let res = client
        .get(app.url("/console"))
        .header("cookie", &pair)
        .send()
        .await
        .expect("inbox");
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()[CONTENT_SECURITY_POLICY]
            .to_str()
            .expect("csp")
            .contains("script-src 'self'")
    );
    let html = res.text().await.expect("html");
    assert!(
        html.contains("Signed in as") && html.contains("alice"),
        "{html}"
    );

    // A forwarded `https` from a peer that is not a trusted proxy changes nothing; from a
    // trusted proxy the cookie is `Secure`.
    let res = client
        .post(app.url("/console/sign-in"))
        .header("x-forwarded-proto", "https")
        .form(&[("token", op.token.as_str())])
        .send()
        .await
        .expect("sign in");
    assert!(
        !res.headers()[SET_COOKIE]
            .to_str()
            .expect("c")
            .to_ascii_lowercase()
            .contains("secure")
    );
    let proxied = app
        .another_node(&[("HELPLINE_TRUSTED_PROXIES", "127.0.0.1")])
        .await;
    let res = client
        .post(proxied.url("/console/sign-in"))
        .header("x-forwarded-proto", "https")
        .form(&[("token", op.token.as_str())])
        .send()
        .await
        .expect("sign in");
    let set = res.headers()[SET_COOKIE]
        .to_str()
        .expect("c")
        .to_ascii_lowercase();
    assert!(set.split(';').any(|a| a.trim() == "secure"), "{set}");

    // Wrong tokens get the page again with a reason, and no cookie.
    let res = client
        .post(app.url("/console/sign-in"))
        .form(&[("token", "hl_staff_nope")])
        .send()
        .await
        .expect("bad");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers().get(SET_COOKIE).is_none());
    assert!(
        res.text()
            .await
            .expect("t")
            .contains("not a valid operator token")
    );
    let res = client
        .post(app.url("/console/sign-in"))
        .form(&[("token", app.admin_token.as_str())])
        .send()
        .await
        .expect("bootstrap");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // Assets: our own, typed, revalidated.
    let res = client
        .get(app.url("/assets/console.js"))
        .send()
        .await
        .expect("js");
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .expect("t")
            .starts_with("text/javascript")
    );
    let etag = res.headers()["etag"].clone();
    let res = client
        .get(app.url("/assets/console.js"))
        .header("if-none-match", etag)
        .send()
        .await
        .expect("js");
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    let res = client
        .get(app.url("/assets/app.css"))
        .send()
        .await
        .expect("css");
    assert!(
        res.headers()["content-type"]
            .to_str()
            .expect("t")
            .starts_with("text/css")
    );
}

async fn the_session_is_stored_hashed_and_sign_out_ends_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let op = operator(&app, "bob").await;
    let client = no_redirects();
    let (_, pair) = sign_in(&app, &client, &op.token).await;
    let raw = pair.split_once('=').expect("pair").1.to_string();
    let rows = entities::web_sessions::Entity::find()
        .all(&app.state.db)
        .await
        .expect("sessions");
    assert_eq!(rows.len(), 1);
    let dump = format!("{rows:?}");
    assert!(!dump.contains(&raw), "the raw token is stored: {dump}");
    assert_eq!(rows[0].token_hash, helpline::auth::keys::hash_token(&raw));
    assert_eq!(rows[0].principal_kind, "operator");
    assert_eq!(rows[0].principal_id.to_string(), op.id);

    let html = client
        .get(app.url("/console"))
        .header("cookie", &pair)
        .send()
        .await
        .expect("inbox")
        .text()
        .await
        .expect("html");
    let csrf = csrf_of(&html);
    let res = client
        .post(app.url("/console/sign-out"))
        .header("cookie", &pair)
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .expect("sign out");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let cleared = res.headers()[SET_COOKIE]
        .to_str()
        .expect("c")
        .to_ascii_lowercase();
    assert!(cleared.contains("max-age=0"), "{cleared}");
    let res = client
        .get(app.url("/console"))
        .header("cookie", &pair)
        .send()
        .await
        .expect("after");
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "the old cookie is refused"
    );
    let res = client
        .get(app.url("/console"))
        .header("cookie", &pair)
        .header("accept", "application/json")
        .send()
        .await
        .expect("after");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(
        entities::web_sessions::Entity::find()
            .all(&app.state.db)
            .await
            .expect("sessions")
            .is_empty()
    );
}

async fn posts_without_the_csrf_token_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let op = operator(&app, "carol").await;
    let tenant = app.create_tenant("enterprise", 1000).await;
    let ticket = open_ticket(&app, &tenant, "CSRF target").await;
    let id = ticket["id"].as_str().expect("id");
    let client = no_redirects();
    let (_, pair) = sign_in(&app, &client, &op.token).await;
    let reply = app.url(&format!("/console/tickets/{id}/reply"));

    let res = client
        .post(&reply)
        .header("cookie", &pair)
        .form(&[("body", "Sneaky reply")])
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .expect("t")
            .starts_with("text/html")
    );
    assert!(res.text().await.expect("t").contains("security token"));
    let res = client
        .post(&reply)
        .header("cookie", &pair)
        .header("accept", "application/json")
        .header("x-csrf-token", "wrong")
        .form(&[("body", "Sneaky reply")])
        .send()
        .await
        .expect("post");
    let body = expect_status(res, StatusCode::FORBIDDEN).await;
    assert_eq!(body["code"], "csrf_failed");
    // Nothing was posted.
    let res = app
        .get(&format!("/admin/support/tickets/{id}"), &app.admin_token)
        .await;
    let body = expect_status(res, StatusCode::OK).await;
    assert!(!body.to_string().contains("Sneaky reply"), "{body}");

    // With the token the same reply goes through, as the operator.
    let html = client
        .get(app.url(&format!("/console/tickets/{id}")))
        .header("cookie", &pair)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    let csrf = csrf_of(&html);
    let res = client
        .post(&reply)
        .header("cookie", &pair)
        .form(&[("body", "A real reply"), ("csrf_token", csrf.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = app
        .get(&format!("/v1/support/tickets/{id}"), &tenant.key)
        .await;
    let body = expect_status(res, StatusCode::OK).await;
    let messages = body["ticket"]["messages"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| body["messages"].as_array().cloned().unwrap_or_default());
    assert!(
        messages
            .iter()
            .any(|m| m["body"] == "A real reply" && m["author_name"] == "carol"),
        "{body}"
    );

    // A sign-in form posted from another site is refused.
    let res = client
        .post(app.url("/console/sign-in"))
        .header("origin", "https://evil.example")
        .form(&[("token", op.token.as_str())])
        .send()
        .await
        .expect("cross-site");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.headers().get(SET_COOKIE).is_none());
}

async fn idle_sessions_expire(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("HELPLINE_SESSION_IDLE", "2s")]).await;
    let op = operator(&app, "dave").await;
    let client = no_redirects();
    let (_, pair) = sign_in(&app, &client, &op.token).await;
    let get = || async {
        client
            .get(app.url("/console"))
            .header("cookie", &pair)
            .send()
            .await
            .expect("inbox")
            .status()
    };
    assert_eq!(get().await, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(get().await, StatusCode::SEE_OTHER, "idle past the timeout");
    // The expired row is gone, and the purge finds nothing left.
    let left = helpline::sessions::purge_expired(
        &app.state.db,
        std::time::Duration::from_secs(2),
        chrono::Utc::now(),
    )
    .await
    .expect("purge");
    assert_eq!(left, 0);
    assert!(
        entities::web_sessions::Entity::find()
            .all(&app.state.db)
            .await
            .expect("rows")
            .is_empty()
    );

    // An idle session nobody comes back to is purged by housekeeping.
    sign_in(&app, &client, &op.token).await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let purged = helpline::sessions::purge_expired(
        &app.state.db,
        std::time::Duration::from_secs(2),
        chrono::Utc::now(),
    )
    .await
    .expect("purge");
    assert_eq!(purged, 1);
}

/// The console's main flow in headless Chromium (SQLite; PostgreSQL below).
#[actix_web::test]
async fn console_main_flow_in_a_browser() {
    console_main_flow(Backend::Sqlite).await;
    crate::helpers::shutdown_all().await;
}

#[actix_web::test]
async fn console_main_flow_in_a_browser_on_postgres() {
    console_main_flow(Backend::Postgres).await;
    crate::helpers::shutdown_all().await;
}

async fn console_main_flow(backend: Backend) {
    let shots = match backend {
        Backend::Sqlite => "console",
        Backend::Postgres => "console-pg",
    };
    let app = TestApp::spawn(backend).await;
    let op = operator(&app, "alice").await;
    let tenant = app.create_tenant("enterprise", 1000).await;
    open_ticket(&app, &tenant, "Calls drop after a minute").await;

    let b = Browser::start().await;
    b.goto(&app.url("/")).await;
    b.wait_for("#token", "the sign-in form").await;
    b.screenshot(&format!("{shots}-sign-in")).await;
    let token = b
        .client
        .find(Locator::Css("#token"))
        .await
        .expect("token field");
    token.send_keys(&op.token).await.expect("type token");
    token.send_keys("\u{E007}").await.expect("enter");
    b.wait_for_text(
        "#inbox-list",
        "Calls drop after a minute",
        "the first ticket in the inbox",
    )
    .await;
    b.screenshot(&format!("{shots}-inbox")).await;

    // A ticket created through the API appears without a reload.
    b.client
        .execute("window.__noReload = true; return true;", vec![])
        .await
        .expect("marker");
    let second = open_ticket(&app, &tenant, "Webhook retries pile up").await;
    let second_id = second["id"].as_str().expect("id").to_string();
    b.wait_for_text(
        "#inbox-list",
        "Webhook retries pile up",
        "the second ticket, live",
    )
    .await;
    let same_page = b
        .client
        .execute("return window.__noReload === true;", vec![])
        .await
        .expect("marker");
    assert_eq!(
        same_page,
        serde_json::Value::Bool(true),
        "the inbox reloaded"
    );

    // Open it by keyboard: `j` twice selects the second row, Enter opens it.
    b.wait_for(&format!("tr[data-ticket='{second_id}']"), "the second row")
        .await;
    let page = b.wait_for("body", "the page").await;
    page.send_keys("j").await.expect("j");
    let focused = b.wait_for("tr.selected", "the selected row").await;
    page.send_keys("j").await.expect("j");
    b.wait_for(
        &format!("tr.selected[data-ticket='{second_id}']"),
        "the second row selected",
    )
    .await;
    drop(focused);
    b.client
        .active_element()
        .await
        .expect("focus")
        .send_keys("\u{E007}")
        .await
        .expect("enter");
    b.wait_for_text("h1", "Webhook retries pile up", "the ticket page")
        .await;
    b.screenshot(&format!("{shots}-ticket")).await;
    let body = b.wait_for("#reply-body", "the reply box").await;
    body.send_keys("We are replaying the queue now.")
        .await
        .expect("type reply");
    b.click("#send-reply", "send").await;
    b.wait_for_text(".notice-success", "Reply sent", "the sent notice")
        .await;
    b.wait_for_text(
        "#thread .message-operator",
        "We are replaying the queue now.",
        "the reply in the thread",
    )
    .await;

    // Status and assignee.
    b.wait_for("#ticket-status", "the status select")
        .await
        .select_by_value("in_progress")
        .await
        .expect("status");
    b.wait_for("#ticket-assignee", "the assignee select")
        .await
        .select_by_value(&op.id)
        .await
        .expect("assignee");
    b.click("#save-ticket", "save").await;
    b.wait_for_text(".notice-success", "Changes saved", "the saved notice")
        .await;

    // The tenant sees the reply, and the operator's changes, through the API.
    let res = app
        .get(&format!("/v1/support/tickets/{second_id}"), &tenant.key)
        .await;
    let seen = expect_status(res, StatusCode::OK).await.to_string();
    assert!(
        seen.contains("We are replaying the queue now.") && seen.contains("alice"),
        "{seen}"
    );
    let res = app
        .get(
            &format!("/admin/support/tickets/{second_id}"),
            &app.admin_token,
        )
        .await;
    let ticket = expect_status(res, StatusCode::OK).await;
    assert_eq!(ticket["status"], "in_progress");
    assert_eq!(ticket["assignee_id"], op.id.as_str());

    // The collision guard: the customer writes while the operator types.
    let body = b.wait_for("#reply-body", "the reply box").await;
    body.send_keys("Any news on your side?")
        .await
        .expect("type");
    let res = app
        .post(
            &format!("/v1/support/tickets/{second_id}/messages"),
            &tenant.key,
            json!({"body": "It happens again at 10:02 UTC."}),
        )
        .await;
    assert!(
        res.status().is_success(),
        "{}",
        res.text().await.unwrap_or_default()
    );
    b.click("#send-reply", "send").await;
    b.wait_for_text(
        ".collision",
        "It happens again at 10:02 UTC.",
        "the collision warning",
    )
    .await;
    b.screenshot(&format!("{shots}-collision")).await;
    let res = app
        .get(
            &format!("/admin/support/tickets/{second_id}"),
            &app.admin_token,
        )
        .await;
    let ticket = expect_status(res, StatusCode::OK).await.to_string();
    assert!(
        !ticket.contains("Any news on your side?"),
        "the reply overwrote: {ticket}"
    );
    let draft = b
        .wait_for("#reply-body", "the kept draft")
        .await
        .prop("value")
        .await
        .expect("value");
    assert_eq!(draft.as_deref(), Some("Any news on your side?"));

    // Tenants: find the tenant, add credits.
    b.click("a[href='/console/tenants']", "the Tenants link")
        .await;
    b.wait_for_text("table", "Acme", "the tenant list").await;
    b.screenshot(&format!("{shots}-tenants")).await;
    b.click(
        &format!("a[href='/console/tenants/{}']", tenant.id),
        "the tenant",
    )
    .await;
    b.wait_for("#amount", "the credit form")
        .await
        .send_keys("5000")
        .await
        .expect("amount");
    b.click("form[action$='/credits'] button", "Add credits")
        .await;
    b.wait_for_text(".notice-success", "Credits added", "the credited notice")
        .await;
    b.screenshot(&format!("{shots}-tenant")).await;
    let res = app.get("/v1/billing/balance", &tenant.key).await;
    let balance = expect_status(res, StatusCode::OK).await;
    assert!(balance.to_string().contains("5998"), "{balance}");

    // Queues and the status banner.
    b.click("a[href='/console/queues']", "the Queues link")
        .await;
    b.wait_for_text("h1", "Queues", "the queues page").await;
    b.wait_for_text("#queues", "Outbox lag", "the queue stats")
        .await;
    b.screenshot(&format!("{shots}-queues")).await;
    b.click("a[href='/console/status']", "the Status link")
        .await;
    b.wait_for("#banner-status", "the banner form")
        .await
        .select_by_value("degraded")
        .await
        .expect("level");
    let message = b.wait_for("#banner-message", "the message box").await;
    message.clear().await.expect("clear");
    message
        .send_keys("Webhook deliveries are delayed.")
        .await
        .expect("message");
    b.click("#save-banner", "Publish").await;
    b.wait_for_text(
        "#banner-now",
        "Webhook deliveries are delayed.",
        "the new banner",
    )
    .await;
    b.screenshot(&format!("{shots}-status")).await;
    let res = app.get("/v1/support/status", &tenant.key).await;
    let status = expect_status(res, StatusCode::OK).await;
    assert_eq!(status["status"], "degraded", "{status}");

    // A script's POST without the CSRF token is refused.
    let status = b
        .client
        .execute_async(
            &format!(
                "const done = arguments[0]; fetch('/console/tickets/{second_id}/reply', {{method: 'POST', headers: {{'Content-Type': 'application/x-www-form-urlencoded'}}, body: 'body=forged'}}).then(r => done(r.status));"
            ),
            vec![],
        )
        .await
        .expect("fetch");
    assert_eq!(status, json!(403));

    // Sign out ends the session: the old cookie is refused.
    let cookie = b
        .client
        .get_named_cookie("helpline_console")
        .await
        .expect("session cookie");
    let pair = format!("helpline_console={}", cookie.value());
    b.click(".sign-out button", "sign out").await;
    b.wait_for_text(".notice-success", "signed out", "the signed-out notice")
        .await;
    let res = no_redirects()
        .get(app.url("/console"))
        .header("cookie", pair)
        .send()
        .await
        .expect("old cookie");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    b.close().await;
}

async fn the_inbox_pages_by_cursor_and_keeps_filters(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let op = operator(&app, "erin").await;
    let tenant = app.create_tenant("enterprise", 1000).await;
    for subject in ["Paging one", "Paging two", "Paging three"] {
        open_ticket(&app, &tenant, subject).await;
    }
    let client = no_redirects();
    let (_, pair) = sign_in(&app, &client, &op.token).await;
    let get = |path: String| {
        let client = client.clone();
        let pair = pair.clone();
        let url = app.url(&path);
        async move {
            let res = client
                .get(url)
                .header("cookie", pair)
                .send()
                .await
                .expect("inbox");
            (res.status(), res.text().await.expect("html"))
        }
    };
    let (status, first) = get(format!(
        "/console?status=open&tenant_id={}&limit=2",
        tenant.id
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        first.contains("Paging one")
            && first.contains("Paging two")
            && !first.contains("Paging three"),
        "{first}"
    );
    assert!(first.contains("3 tickets"), "{first}");
    let at = first.find("rel=\"next\" href=\"").expect("a next link") + 17;
    let next = first[at..]
        .split('"')
        .next()
        .expect("href")
        .replace("&amp;", "&");
    assert!(
        next.contains("status=open") && next.contains("cursor="),
        "{next}"
    );
    let (status, second) = get(format!("{next}&limit=2")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        second.contains("Paging three") && !second.contains("Paging one"),
        "{second}"
    );
    assert!(second.contains("First page"), "{second}");

    // A bad filter is a readable message on the page, not an error page.
    let (status, bad) = get("/console?assignee=someone".to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(bad.contains("must be `me`, `none` or an operator"), "{bad}");
}
