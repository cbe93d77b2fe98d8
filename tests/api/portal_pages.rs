//! The Support tab over HTTP (no browser): a link signs in once, pages show only the
//! tenant's own data, forms need the session's CSRF token, and the API's rules hold
//! (reply reopens, closed is final, 402 says why). The browser tests are in
//! `portal_browser.rs`.
use reqwest::redirect::Policy;
use reqwest::{Client, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, TestTenant, expect_status};
use crate::on_both_backends;
use crate::tickets::open_ticket;

on_both_backends!(
    a_link_signs_in_once_and_shows_only_that_tenant,
    used_expired_and_unknown_links_are_refused_and_create_nothing,
    forms_need_the_csrf_token_and_follow_the_api_rules,
    opening_a_ticket_charges_the_fee_and_402_says_why,
    the_tab_may_be_framed_only_by_the_tenants_origins,
);

/// A browser without a browser: keeps the tab's cookie, never follows redirects.
pub struct Visitor {
    client: Client,
    base: String,
    cookies: Vec<String>,
}

impl Visitor {
    pub fn new(app: &TestApp) -> Self {
        Self {
            client: crate::support::http_client()
                .redirect(Policy::none())
                .build()
                .expect("client"),
            base: app.base.clone(),
            cookies: Vec::new(),
        }
    }

    fn url(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http") {
            path_or_url.to_string()
        } else {
            format!("{}{path_or_url}", self.base)
        }
    }

    fn keep_cookies(&mut self, res: &reqwest::Response) {
        for value in res.headers().get_all("set-cookie") {
            let line = value.to_str().expect("cookie");
            let pair = line.split(';').next().expect("pair").trim().to_string();
            let name = pair.split('=').next().expect("name").to_string();
            self.cookies.retain(|c| !c.starts_with(&format!("{name}=")));
            let deleted = line.contains("Max-Age=0") || pair.ends_with('=');
            if !deleted {
                self.cookies.push(pair);
            }
        }
    }

    pub async fn get(&mut self, path: &str) -> reqwest::Response {
        let res = self
            .client
            .get(self.url(path))
            .header("Cookie", self.cookies.join("; "))
            .send()
            .await
            .expect("GET");
        self.keep_cookies(&res);
        res
    }

    pub async fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let res = self
            .client
            .post(self.url(path))
            .header("Cookie", self.cookies.join("; "))
            .form(fields)
            .send()
            .await
            .expect("POST");
        self.keep_cookies(&res);
        res
    }

    pub fn signed_in(&self) -> bool {
        self.cookies
            .iter()
            .any(|c| c.starts_with("helpline_portal="))
    }
}

pub async fn portal_link(app: &TestApp, tenant: &TestTenant, body: Value) -> String {
    let res = app.post("/v1/portal/sessions", &tenant.key, body).await;
    expect_status(res, StatusCode::CREATED).await["url"]
        .as_str()
        .expect("url")
        .to_string()
}

/// The page's CSRF token (`<meta name="csrf-token">`).
pub fn csrf(page: &str) -> String {
    let marker = "name=\"csrf-token\" content=\"";
    let at = page.find(marker).expect("csrf meta") + marker.len();
    page[at..].split('"').next().expect("token").to_string()
}

async fn text(res: reqwest::Response, status: StatusCode) -> String {
    let actual = res.status();
    let body = res.text().await.expect("body");
    assert_eq!(actual, status, "{body}");
    body
}

async fn signed_in_visitor(app: &TestApp, tenant: &TestTenant) -> (Visitor, String) {
    let mut v = Visitor::new(app);
    let link = portal_link(app, tenant, json!({})).await;
    let res = v.get(&link).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        res.headers().get("location").and_then(|l| l.to_str().ok()),
        Some("/portal")
    );
    let page = text(v.get("/portal").await, StatusCode::OK).await;
    let token = csrf(&page);
    (v, token)
}

async fn session_count(app: &TestApp) -> usize {
    entities::web_sessions::Entity::find()
        .all(&app.state.db)
        .await
        .expect("sessions")
        .len()
}

async fn a_link_signs_in_once_and_shows_only_that_tenant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_tenant("base", 100).await;
    let other = app.create_tenant("base", 100).await;
    let mine = open_ticket(&app, &acme, "Acme cannot place calls").await;
    let theirs = open_ticket(&app, &other, "Globex invoices are wrong").await;
    // An operator's internal note and tags never reach the tab.
    let mine_id = mine["id"].as_str().expect("id");
    let res = app
        .post(
            &format!("/admin/support/tickets/{mine_id}/reply"),
            &app.admin_token,
            json!({"body": "INTERNAL: customer is on the legacy trunk", "internal": true}),
        )
        .await;
    expect_status(res, StatusCode::CREATED).await;
    let res = app
        .patch(
            &format!("/admin/support/tickets/{mine_id}"),
            &app.admin_token,
            json!({"tags": ["secret-tag"]}),
        )
        .await;
    expect_status(res, StatusCode::OK).await;

    // Not signed in: a readable page, no data.
    let mut stranger = Visitor::new(&app);
    let page = text(stranger.get("/portal").await, StatusCode::UNAUTHORIZED).await;
    assert!(page.contains("Support session has ended"), "{page}");

    let link = portal_link(
        &app,
        &acme,
        json!({"return_url": "https://console.acme.example/settings"}),
    )
    .await;
    let mut v = Visitor::new(&app);
    let res = v.get(&link).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let set_cookie: Vec<String> = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().expect("cookie").to_string())
        .collect();
    let session = set_cookie
        .iter()
        .find(|c| c.starts_with("helpline_portal="))
        .expect("session cookie");
    assert!(session.contains("HttpOnly"), "{session}");
    assert!(session.contains("Path=/portal"), "{session}");
    assert!(session.contains("SameSite=Lax"), "plain HTTP: {session}");
    assert!(v.signed_in());

    let list = text(v.get("/portal").await, StatusCode::OK).await;
    assert!(list.contains("Acme cannot place calls"), "{list}");
    assert!(!list.contains("Globex invoices are wrong"));
    assert!(
        list.contains("https://console.acme.example/settings"),
        "back link"
    );
    assert!(!list.contains("secret-tag") && !list.contains("INTERNAL"));

    let page = text(
        v.get(&format!("/portal/tickets/{mine_id}")).await,
        StatusCode::OK,
    )
    .await;
    assert!(
        page.contains("The SDK times out when creating calls."),
        "{page}"
    );
    assert!(
        !page.contains("INTERNAL") && !page.contains("secret-tag"),
        "{page}"
    );

    // Another tenant's ticket by URL answers like one that does not exist.
    let theirs_id = theirs["id"].as_str().expect("id");
    let page = text(
        v.get(&format!("/portal/tickets/{theirs_id}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert!(!page.contains("Globex"), "{page}");
    let unknown = text(
        v.get("/portal/tickets/tkt_0193a0b4c5d67e8f9a0b1c2d3e4f5a6b")
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(
        page.replace(theirs_id, "X"),
        unknown.replace("tkt_0193a0b4c5d67e8f9a0b1c2d3e4f5a6b", "X")
    );

    // Filters and search.
    open_ticket(&app, &acme, "Second question about numbers").await;
    let found = text(v.get("/portal?q=numbers").await, StatusCode::OK).await;
    assert!(found.contains("Second question about numbers"));
    assert!(!found.contains("Acme cannot place calls"));
    let bad = text(
        v.get("/portal?status=sideways").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(bad.contains("status"), "{bad}");

    // Signing out ends the session.
    let token = csrf(&list);
    let res = v
        .post_form("/portal/sign-out", &[("csrf_token", &token)])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(!v.signed_in());
    assert_eq!(session_count(&app).await, 0);
}

async fn used_expired_and_unknown_links_are_refused_and_create_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_tenant("base", 100).await;

    let link = portal_link(&app, &acme, json!({})).await;
    let mut first = Visitor::new(&app);
    assert_eq!(first.get(&link).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(session_count(&app).await, 1);

    let mut second = Visitor::new(&app);
    let page = text(second.get(&link).await, StatusCode::GONE).await;
    assert!(page.contains("already used"), "{page}");
    assert!(!second.signed_in());

    let link = portal_link(&app, &acme, json!({})).await;
    let token = link.split_once("token=").expect("token").1;
    let hash = helpline::auth::keys::hash_token(token);
    entities::portal_links::Entity::update_many()
        .col_expr(
            entities::portal_links::Column::ExpiresAt,
            sea_orm::sea_query::Expr::value(chrono::Utc::now() - chrono::Duration::seconds(1)),
        )
        .filter(entities::portal_links::Column::TokenHash.eq(hash))
        .exec(&app.state.db)
        .await
        .expect("age the link");
    let page = text(second.get(&link).await, StatusCode::GONE).await;
    assert!(page.contains("expired"), "{page}");

    for bad in [
        "/portal/start",
        "/portal/start?token=nope",
        "/portal/start?token=",
    ] {
        let page = text(second.get(bad).await, StatusCode::NOT_FOUND).await;
        assert!(page.contains("not valid"), "{bad}: {page}");
    }
    assert!(!second.signed_in());
    assert_eq!(
        session_count(&app).await,
        1,
        "refused links made no session"
    );
}

async fn ticket_status(app: &TestApp, tenant: &TestTenant, id: &str) -> String {
    expect_status(
        app.get(&format!("/v1/support/tickets/{id}"), &tenant.key)
            .await,
        StatusCode::OK,
    )
    .await["status"]
        .as_str()
        .expect("status")
        .to_string()
}

async fn forms_need_the_csrf_token_and_follow_the_api_rules(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_tenant("base", 100).await;
    let ticket = open_ticket(&app, &acme, "Calls drop after 30 seconds").await;
    let id = ticket["id"].as_str().expect("id").to_string();
    let (mut v, token) = signed_in_visitor(&app, &acme).await;
    let path = format!("/portal/tickets/{id}");

    // No token, or another: refused, nothing changes.
    for fields in [
        vec![("body", "Any news?")],
        vec![("body", "Any news?"), ("csrf_token", "forged")],
    ] {
        let res = v.post_form(&format!("{path}/reply"), &fields).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
    }
    let thread = app
        .get(&format!("/v1/support/tickets/{id}/messages"), &acme.key)
        .await;
    assert_eq!(expect_status(thread, StatusCode::OK).await["total"], 1);

    // A reply, then resolve; a reply on the resolved ticket reopens it (the API's rule).
    let res = v
        .post_form(
            &format!("{path}/reply"),
            &[("body", "Any news?"), ("csrf_token", &token)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = v
        .post_form(
            &format!("{path}/status"),
            &[("status", "resolved"), ("csrf_token", &token)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(ticket_status(&app, &acme, &id).await, "resolved");
    let page = text(v.get(&path).await, StatusCode::OK).await;
    assert!(
        page.contains("Replying reopens this resolved ticket"),
        "{page}"
    );
    let res = v
        .post_form(
            &format!("{path}/reply"),
            &[("body", "Actually it is back"), ("csrf_token", &token)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(ticket_status(&app, &acme, &id).await, "open");

    // An empty reply and a status a tenant may not set: the API's message, nothing changes.
    let page = text(
        v.post_form(
            &format!("{path}/reply"),
            &[("body", "   "), ("csrf_token", &token)],
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(page.contains("must not be empty"), "{page}");
    let page = text(
        v.post_form(
            &format!("{path}/status"),
            &[("status", "in_progress"), ("csrf_token", &token)],
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(page.contains("Cannot change status"), "{page}");

    // Closed is final: the page says to open a new ticket, and a reply is refused.
    let res = v
        .post_form(
            &format!("{path}/status"),
            &[("status", "closed"), ("csrf_token", &token)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = text(v.get(&path).await, StatusCode::OK).await;
    assert!(page.contains("Open a new ticket instead"), "{page}");
    assert!(!page.contains("Send reply"));
    let page = text(
        v.post_form(
            &format!("{path}/reply"),
            &[("body", "Hello?"), ("csrf_token", &token)],
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(page.contains("open a new ticket instead"), "{page}");
    let thread = app
        .get(&format!("/v1/support/tickets/{id}/messages"), &acme.key)
        .await;
    assert_eq!(expect_status(thread, StatusCode::OK).await["total"], 3);

    // Notifications: an operator reply makes one; mark all read needs the token too.
    let other = open_ticket(&app, &acme, "Another one").await;
    let other_id = other["id"].as_str().expect("id");
    let res = app
        .post(
            &format!("/admin/support/tickets/{other_id}/reply"),
            &app.admin_token,
            json!({"body": "We are on it."}),
        )
        .await;
    expect_status(res, StatusCode::CREATED).await;
    let page = text(v.get("/portal/notifications").await, StatusCode::OK).await;
    assert!(page.contains("1 unread"), "{page}");
    let res = v.post_form("/portal/notifications/read-all", &[]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = v
        .post_form("/portal/notifications/read-all", &[("csrf_token", &token)])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let listed = expect_status(
        app.get("/v1/notifications", &acme.key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed["unread_count"], 0);
}

async fn opening_a_ticket_charges_the_fee_and_402_says_why(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("HELPLINE_TICKET_FEE_CENTS", "40")]).await;
    let acme = app.create_tenant("base", 50).await;
    let (mut v, token) = signed_in_visitor(&app, &acme).await;

    let page = text(v.get("/portal/new").await, StatusCode::OK).await;
    assert!(
        page.contains("$0.40") && page.contains("$0.50"),
        "fee and balance: {page}"
    );

    // Invalid: the API's message, the typed text kept, nothing charged.
    let page = text(
        v.post_form(
            "/portal/tickets",
            &[
                ("subject", "Hi"),
                ("category", "billing"),
                ("priority", "normal"),
                ("description", "Our invoice shows the wrong month."),
                ("csrf_token", &token),
            ],
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(page.contains("at least 3 characters"), "{page}");
    assert!(
        page.contains("Our invoice shows the wrong month."),
        "kept: {page}"
    );

    let fields = |subject: &'static str| {
        vec![
            ("subject", subject),
            ("category", "billing"),
            ("priority", "high"),
            ("description", "Our invoice shows the wrong month."),
        ]
    };
    let mut first = fields("Invoice month is wrong");
    first.push(("csrf_token", &token));
    let res = v.post_form("/portal/tickets", &first).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let location = res
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .expect("location")
        .to_string();
    assert!(location.starts_with("/portal/tickets/tkt_"), "{location}");
    let page = text(v.get(&location).await, StatusCode::OK).await;
    assert!(page.contains("Invoice month is wrong") && page.contains("Ticket opened"));
    let balance = expect_status(
        app.get("/v1/billing/balance", &acme.key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(balance["balance_cents"], 10);

    // The balance (10¢) cannot pay the fee (40¢): a clear message, nothing opened.
    let mut second = fields("Another invoice problem");
    second.push(("csrf_token", &token));
    let page = text(
        v.post_form("/portal/tickets", &second).await,
        StatusCode::PAYMENT_REQUIRED,
    )
    .await;
    assert!(page.contains("cannot pay the $0.40 fee"), "{page}");
    assert!(page.contains("$0.10"), "{page}");
    let listed = expect_status(
        app.get("/v1/support/tickets", &acme.key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed["total"], 1);
}

async fn the_tab_may_be_framed_only_by_the_tenants_origins(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_tenant("base", 100).await;
    let csp = |res: &reqwest::Response| {
        res.headers()
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .expect("CSP")
            .to_string()
    };
    let (mut v, _) = signed_in_visitor(&app, &acme).await;
    let res = v.get("/portal").await;
    assert!(
        csp(&res).contains("frame-ancestors 'none'"),
        "{}",
        csp(&res)
    );

    for origins in [
        json!(["https://console.acme.example"]),
        json!(["https://acme.example", "http://localhost:3000"]),
    ] {
        let res = app
            .post(
                "/v1/keys/publishable",
                &acme.key,
                json!({"label": "console", "allowed_origins": origins}),
            )
            .await;
        expect_status(res, StatusCode::CREATED).await;
    }
    // A key without a list widens nothing.
    let res = app
        .post("/v1/keys/publishable", &acme.key, json!({"label": "any"}))
        .await;
    expect_status(res, StatusCode::CREATED).await;
    let res = v.get("/portal").await;
    let policy = csp(&res);
    assert!(
        policy.contains(
            "frame-ancestors http://localhost:3000 https://acme.example https://console.acme.example"
        ),
        "{policy}"
    );
    assert!(res.headers().get("x-frame-options").is_none());
    assert!(policy.contains("script-src 'self'"), "{policy}");
}
