//! The Support tab and publishable keys in a real headless Chromium (the shared harness in
//! `browser.rs`): a page on another origin opens a ticket through `fetch` with the README's
//! contact form; a disallowed origin is refused; a portal link signs in, lists only its
//! tenant's tickets, replies, and sees an operator's reply arrive live; used and expired
//! links are refused; another tenant's ticket stays out of reach; the tab works framed by an
//! allowed origin. Screenshots of every page go to the screenshot directory.
use std::io::{Read, Write};
use std::net::TcpListener;

use fantoccini::Locator;
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use crate::browser::Browser;
use crate::helpers::{Backend, TestApp, TestTenant, expect_status};
use crate::on_both_backends;
use crate::portal_pages::portal_link;
use crate::tickets::open_ticket;

on_both_backends!(
    the_readme_contact_form_opens_a_ticket_from_another_origin,
    the_support_tab_signs_in_lists_replies_and_updates_live,
);

/// A tiny web server on its own port (so its own origin): bound first, so a key can list
/// its origin, then answering every request with one page.
struct Site {
    listener: TcpListener,
    origin: String,
}

impl Site {
    fn bind() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let origin = format!(
            "http://127.0.0.1:{}",
            listener.local_addr().expect("addr").port()
        );
        Self { listener, origin }
    }

    /// Serves `html` from now on; returns the site's origin.
    fn serve(self, html: String) -> String {
        let Self { listener, origin } = self;
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                    head.push(byte[0]);
                }
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{html}",
                    html.len()
                );
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        origin
    }
}

/// The README's "contact support" snippet, pointed at this server with this key.
fn contact_form(app: &TestApp, key: &str) -> String {
    let readme = include_str!("../../README.md");
    let start = readme
        .find("<!-- contact-form:start -->")
        .expect("start marker");
    let end = readme
        .find("<!-- contact-form:end -->")
        .expect("end marker");
    let block = &readme[start..end];
    let html = block
        .split_once("```html\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .map(|(html, _)| html)
        .expect("an html block");
    assert!(html.lines().count() <= 12, "the snippet stays short");
    html.replace("https://support.example.com", &app.base)
        .replace("hl_pk_…", key)
}

async fn publishable_key(app: &TestApp, tenant: &TestTenant, origins: &[&str]) -> String {
    let res = app
        .post(
            "/v1/keys/publishable",
            &tenant.key,
            json!({"label": "website", "allowed_origins": origins}),
        )
        .await;
    expect_status(res, StatusCode::CREATED).await["key"]
        .as_str()
        .expect("key")
        .to_string()
}

async fn fill_and_send(browser: &Browser, subject: &str) {
    let form = browser
        .wait_for("#contact-support", "the contact form")
        .await;
    form.find(Locator::Css("[name=subject]"))
        .await
        .expect("subject")
        .send_keys(subject)
        .await
        .expect("type");
    form.find(Locator::Css("[name=description]"))
        .await
        .expect("description")
        .send_keys("The widget shows a blank page after login.")
        .await
        .expect("type");
    form.find(Locator::Css("button"))
        .await
        .expect("button")
        .click()
        .await
        .expect("click");
}

async fn the_readme_contact_form_opens_a_ticket_from_another_origin(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_tenant("base", 100).await;
    let allowed = Site::bind();
    let key = publishable_key(&app, &acme, &[&allowed.origin]).await;
    let html = contact_form(&app, &key);
    let allowed = allowed.serve(html.clone());
    let elsewhere = Site::bind().serve(html);

    let browser = Browser::start().await;
    browser.goto(&allowed).await;
    fill_and_send(&browser, "Widget is blank").await;
    browser
        .wait_for_text(
            "#contact-support output",
            "Thanks",
            "the form's confirmation",
        )
        .await;
    browser.screenshot("website-contact-form-sent").await;
    let listed = expect_status(
        app.get("/v1/support/tickets?q=blank", &acme.key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed["total"], 1, "{listed}");
    assert_eq!(listed["data"][0]["subject"], "Widget is blank");

    // The same page on an origin the key does not list: refused, and the page can say why.
    browser.goto(&elsewhere).await;
    fill_and_send(&browser, "From the wrong site").await;
    browser
        .wait_for_text(
            "#contact-support output",
            "may not be used from this website",
            "the refusal",
        )
        .await;
    browser.screenshot("website-contact-form-refused").await;
    let listed = expect_status(
        app.get("/v1/support/tickets", &acme.key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed["total"], 1, "nothing opened from the wrong origin");
    browser.close().await;
}

async fn the_support_tab_signs_in_lists_replies_and_updates_live(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acme = app.create_tenant("base", 100).await;
    let globex = app.create_tenant("base", 100).await;
    let first = open_ticket(&app, &acme, "Calls drop after 30 seconds").await;
    open_ticket(&app, &acme, "Webhook retries look slow").await;
    let foreign = open_ticket(&app, &globex, "Globex invoice question").await;
    let first_id = first["id"].as_str().expect("id").to_string();

    let browser = Browser::start().await;
    let link = portal_link(
        &app,
        &acme,
        json!({"return_url": "http://localhost:3000/settings"}),
    )
    .await;
    browser.goto(&link).await;
    browser
        .wait_for_text(
            "#ticket-list",
            "Calls drop after 30 seconds",
            "the ticket list",
        )
        .await;
    let list = browser
        .wait_for("#ticket-list", "the ticket list")
        .await
        .text()
        .await
        .expect("text");
    assert!(list.contains("Webhook retries look slow"));
    assert!(!list.contains("Globex"), "{list}");
    browser.screenshot("portal-tickets").await;

    // Open the ticket and reply.
    browser
        .wait_for_text(
            "a.subject",
            "Calls drop after 30 seconds",
            "the ticket link",
        )
        .await
        .click()
        .await
        .expect("open");
    let body = browser.wait_for("#reply-body", "the reply box").await;
    body.send_keys("It happens on every outbound call.")
        .await
        .expect("type");
    browser
        .wait_for_text("form.reply button", "Send reply", "the send button")
        .await
        .click()
        .await
        .expect("send");
    browser
        .wait_for_text(".notice", "Reply sent", "the confirmation")
        .await;
    browser
        .wait_for_text(
            ".message-customer .body",
            "every outbound call",
            "the reply",
        )
        .await;
    // Let the page's event stream connect before the operator answers.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    // An operator answers through /admin: it appears without a reload, with the unread count.
    let res = app
        .post(
            &format!("/admin/support/tickets/{first_id}/reply"),
            &app.admin_token,
            json!({"body": "Found it: a carrier timeout. Fixed now."}),
        )
        .await;
    expect_status(res, StatusCode::CREATED).await;
    browser
        .wait_for_text(
            ".message-operator .body",
            "carrier timeout",
            "the operator's reply, live",
        )
        .await;
    browser
        .wait_for_text("#unread-count", "1", "the unread count, live")
        .await;
    browser
        .wait_for_text("#ticket-status", "Awaiting user", "the status, live")
        .await;
    browser.screenshot("portal-ticket-live-reply").await;

    // The other pages.
    browser.goto(&format!("{}/portal/new", app.base)).await;
    browser.wait_for("#ticket-fee", "the fee").await;
    browser.screenshot("portal-new-ticket").await;
    browser
        .goto(&format!("{}/portal/notifications", app.base))
        .await;
    browser
        .wait_for_text("#notification-list", "Fixed now", "the notification")
        .await;
    browser.screenshot("portal-notifications").await;

    // Another tenant's ticket by URL: not found, nothing of it shown.
    let foreign_id = foreign["id"].as_str().expect("id");
    browser
        .goto(&format!("{}/portal/tickets/{foreign_id}", app.base))
        .await;
    let main = browser
        .wait_for("main", "the page")
        .await
        .text()
        .await
        .expect("text");
    assert!(!main.contains("Globex"), "{main}");
    assert!(main.contains("No such"), "{main}");

    // The link again: already used. A fresh browser (no session) sees the same refusal.
    browser.goto(&link).await;
    browser
        .wait_for_text("main", "already used", "the used-link page")
        .await;
    browser.screenshot("portal-link-used").await;
    let aged = portal_link(&app, &acme, json!({})).await;
    let token = aged.split_once("token=").expect("token").1;
    entities::portal_links::Entity::update_many()
        .col_expr(
            entities::portal_links::Column::ExpiresAt,
            sea_orm::sea_query::Expr::value(chrono::Utc::now() - chrono::Duration::seconds(1)),
        )
        .filter(
            entities::portal_links::Column::TokenHash.eq(helpline::auth::keys::hash_token(token)),
        )
        .exec(&app.state.db)
        .await
        .expect("age the link");
    browser.goto(&aged).await;
    browser
        .wait_for_text("main", "expired", "the expired-link page")
        .await;
    browser.screenshot("portal-link-expired").await;

    // Framed by an origin one of the tenant's publishable keys lists.
    let console = Site::bind();
    publishable_key(&app, &acme, &[&console.origin]).await;
    let framed = portal_link(&app, &acme, json!({})).await;
    let console = console.serve(
        format!(
            "<!doctype html><title>Acme console</title><body style=\"margin:0;font-family:sans-serif\"><header style=\"padding:12px 20px;background:#0f766e;color:#fff\"><b>Acme console</b> · Settings · <u>Support</u></header><iframe id=\"support\" src=\"{framed}\" style=\"border:0;width:100%;height:820px\"></iframe>"
        ),
    );
    browser.goto(&console).await;
    let frame = browser.wait_for("#support", "the iframe").await;
    frame.enter_frame().await.expect("enter the frame");
    browser
        .wait_for_text(
            "#ticket-list",
            "Calls drop after 30 seconds",
            "the framed list",
        )
        .await;
    browser
        .client
        .enter_parent_frame()
        .await
        .expect("leave the frame");
    browser.screenshot("portal-in-tenant-console").await;
    browser.close().await;
}
