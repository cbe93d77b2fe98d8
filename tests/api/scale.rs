//! Reads at scale (docs/API.md, "Lists at scale"): kept counts that never drift from
//! `COUNT(*)`, full-text search with read-your-writes (and forgetting erased text), the
//! `use_cursor` limit, the inbox's cursor walk, and the query plans behind them.
use std::collections::{HashMap, HashSet};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement, TransactionTrait};
use serde_json::{Value, json};

use helpline::domain::status::TicketStatus;

use crate::helpers::{Backend, TestApp, TestTenant, expect_error, expect_status};
use crate::on_both_backends;
use crate::support::eventually;

on_both_backends!(
    kept_counts_match_count_star_after_mixed_changes,
    exact_totals_under_concurrent_creates_and_status_changes,
    totals_stay_exact_on_empty_pages,
    search_reads_its_writes_and_keeps_notes_internal,
    search_forgets_erased_text,
    search_past_the_count_cap_walks_in_list_order,
    deep_offsets_answer_use_cursor,
    inbox_cursor_walk_sees_every_ticket_once,
    lists_read_their_index_without_sorting,
);

async fn create(app: &TestApp, tenant: &TestTenant, body: Value) -> String {
    let res = app.post("/v1/support/tickets", &tenant.key, body).await;
    expect_status(res, StatusCode::OK).await["ticket"]["id"]
        .as_str()
        .expect("ticket id")
        .to_string()
}

fn body(subject: &str, description: &str, category: &str, priority: &str) -> Value {
    json!({"subject": subject, "description": description, "category": category, "priority": priority})
}

/// Asks for the tenant's erasure and waits until the privacy job is done.
async fn erase(app: &TestApp, tenant: &TestTenant) {
    let res = app
        .request(Method::POST, "/v1/account/erasure", Some(&tenant.key))
        .send()
        .await
        .expect("send");
    expect_status(res, StatusCode::ACCEPTED).await;
    eventually("erasure done", Duration::from_secs(20), || async {
        let e = expect_status(
            app.get("/v1/account/erasure", &tenant.key).await,
            StatusCode::OK,
        )
        .await;
        (e["status"] == "done").then_some(())
    })
    .await;
}

async fn assert_no_drift(app: &TestApp) {
    let drift = helpline::tickets::counts::verify(&app.state.db)
        .await
        .expect("verify counts");
    assert!(drift.is_empty(), "kept counts drifted: {drift:?}");
}

/// The search index's rows agree with the tickets' documents: `ticket_words` holds exactly
/// the words of each ticket's documents (public when in the public one), and on SQLite every
/// ticket has one `ticket_search_rows` row. SQLite's words are recomputed
/// here as the migration does for existing tickets (every document into the scratch FTS5
/// table, read back a word per document), in a transaction rolled back afterwards.
async fn assert_search_index_in_step(app: &TestApp) {
    let db = &app.state.db;
    let backend = db.get_database_backend();
    let off = |row: Option<sea_orm::QueryResult>| -> i64 {
        row.expect("a row").try_get_by_index(0).expect("count")
    };
    let missing_or_extra = match backend {
        DatabaseBackend::Postgres => {
            let sql = r#"SELECT COUNT(*) FROM (
               (SELECT tenant_id, word COLLATE "default", ticket_id, public FROM ticket_words
                EXCEPT SELECT t.tenant_id, w.word, t.id, w.public FROM tickets t
                CROSS JOIN LATERAL helpline_ticket_words(t.search_public, t.search_internal) w)
               UNION ALL
               (SELECT t.tenant_id, w.word, t.id, w.public FROM tickets t
                CROSS JOIN LATERAL helpline_ticket_words(t.search_public, t.search_internal) w
                EXCEPT SELECT tenant_id, word COLLATE "default", ticket_id, public FROM ticket_words)) x"#;
            off(db
                .query_one_raw(Statement::from_string(backend, sql))
                .await
                .expect("check the search index"))
        }
        _ => {
            let sql = "SELECT (SELECT COUNT(*) FROM tickets t LEFT JOIN ticket_search_rows r
                     ON r.ticket_id = t.id WHERE r.rowid IS NULL)
                  + (SELECT COUNT(*) FROM ticket_search_rows) - (SELECT COUNT(*) FROM tickets)";
            let rows = off(db
                .query_one_raw(Statement::from_string(backend, sql))
                .await
                .expect("check the search rows"));
            let txn = db.begin().await.expect("begin");
            for statement in [
                "CREATE VIRTUAL TABLE words_check USING fts5vocab(ticket_words_scratch, 'instance')",
                "INSERT INTO ticket_words_scratch (rowid, public, internal)
                 SELECT t.rowid, t.subject || ' ' || t.description || COALESCE((SELECT ' ' ||
                   group_concat(m.body, ' ') FROM messages m WHERE m.ticket_id = t.id
                   AND m.internal = 0 AND NOT (m.merged_from IS NULL AND m.body = t.description)), ''),
                   COALESCE((SELECT group_concat(m.body, ' ') FROM messages m
                   WHERE m.ticket_id = t.id AND m.internal = 1), '')
                 FROM tickets t",
                "CREATE TEMP TABLE words_expected AS
                 SELECT t.tenant_id, v.term AS word, t.id AS ticket_id, max(v.col = 'public') AS public
                 FROM words_check v JOIN tickets t ON t.rowid = v.doc GROUP BY t.id, v.term",
            ] {
                txn.execute_unprepared(statement).await.expect(statement);
            }
            let sql = "SELECT COUNT(*) FROM (
                 SELECT * FROM (SELECT tenant_id, word, ticket_id, public FROM ticket_words
                                EXCEPT SELECT * FROM words_expected)
                 UNION ALL
                 SELECT * FROM (SELECT * FROM words_expected
                                EXCEPT SELECT tenant_id, word, ticket_id, public FROM ticket_words))";
            let words = off(txn
                .query_one_raw(Statement::from_string(backend, sql))
                .await
                .expect("check the words"));
            txn.rollback().await.expect("rollback");
            rows + words
        }
    };
    assert_eq!(
        missing_or_extra, 0,
        "search index out of step with the tickets"
    );
}

async fn total(app: &TestApp, path: &str, token: &str) -> u64 {
    let page = expect_status(app.get(path, token).await, StatusCode::OK).await;
    assert_eq!(page["total_is_exact"], true, "{path}: {page}");
    page["total"].as_u64().expect("total")
}

/// Every id of a list, walked by `cursor`.
async fn walk(app: &TestApp, path: &str, token: &str) -> Vec<String> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}{sep}limit=7&cursor={c}"),
            None => format!("{path}{sep}limit=7"),
        };
        let page = expect_status(app.get(&url, token).await, StatusCode::OK).await;
        for t in page["data"].as_array().expect("data") {
            ids.push(t["id"].as_str().expect("id").to_string());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return ids,
        }
    }
}

async fn kept_counts_match_count_star_after_mixed_changes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token.clone();
    let (a, b) = (
        app.create_tenant("enterprise", 100_000).await,
        app.create_tenant("pilot", 100_000).await,
    );
    let name = helpline::domain::validate::Name::parse("Ada", "name").expect("name");
    let (ada, _) = helpline::tenants::provision::create_staff(&app.state.db, name)
        .await
        .expect("staff");
    let categories = ["billing", "bug", "api_sdk", "telephony"];
    let priorities = ["low", "normal", "high", "urgent"];
    let mut ids: Vec<(String, &TestTenant)> = Vec::new();
    let shared = &app;
    let creates = (0..24).map(|i| {
        let tenant = if i % 3 == 0 { &b } else { &a };
        let ticket = body(
            &format!("Counting ticket {i}"),
            "Something to count, please.",
            categories[i % 4],
            priorities[(i / 4) % 4],
        );
        async move { (create(shared, tenant, ticket).await, tenant) }
    });
    ids.extend(futures_util::future::join_all(creates).await);
    assert_no_drift(&app).await;

    for (i, (id, tenant)) in ids.iter().enumerate() {
        let path = format!("/admin/support/tickets/{id}");
        match i % 6 {
            0 => {
                let patch = json!({"status": "resolved"});
                let path = format!("/v1/support/tickets/{id}");
                expect_status(app.patch(&path, &tenant.key, patch).await, StatusCode::OK).await;
            }
            1 => {
                let patch = json!({"priority": "urgent", "tags": ["vip", "billing_q"]});
                expect_status(app.patch(&path, &admin, patch).await, StatusCode::OK).await;
            }
            2 => {
                let patch =
                    json!({"assignee_id": ada.id, "status": "in_progress", "tags": ["vip"]});
                expect_status(app.patch(&path, &admin, patch).await, StatusCode::OK).await;
            }
            3 => {
                let reply = json!({"body": "We are on it."});
                let res = app.post(&format!("{path}/reply"), &admin, reply).await;
                expect_status(res, StatusCode::CREATED).await;
            }
            4 => {
                let patch = json!({"status": "closed"});
                expect_status(app.patch(&path, &admin, patch).await, StatusCode::OK).await;
            }
            _ => {}
        }
    }
    // Tags removed, an assignee taken away, and merges (the source closes).
    let (first_a, second_a) = (&ids[1].0, &ids[2].0);
    let patch = json!({"tags": [], "assignee_id": null, "priority": "low"});
    let res = app
        .patch(&format!("/admin/support/tickets/{first_a}"), &admin, patch)
        .await;
    expect_status(res, StatusCode::OK).await;
    let res = app
        .patch(
            &format!("/admin/support/tickets/{second_a}"),
            &admin,
            json!({"assignee_id": null}),
        )
        .await;
    expect_status(res, StatusCode::OK).await;
    let (source, into) = (&ids[7].0, &ids[11].0);
    let res = app
        .post(
            &format!("/admin/support/tickets/{source}/merge"),
            &admin,
            json!({"into": into}),
        )
        .await;
    expect_status(res, StatusCode::OK).await;
    assert_no_drift(&app).await;

    // The totals the API answers equal a walk of the same list.
    for filter in [
        "",
        "status=open",
        "status=closed&priority=urgent",
        "category=bug",
        "priority=low",
    ] {
        let path = format!("/v1/support/tickets?{filter}");
        let counted = walk(&app, &path, &a.key).await.len() as u64;
        assert_eq!(total(&app, &path, &a.key).await, counted, "{filter}");
    }
    for filter in [
        "",
        "status=open",
        "tag=vip",
        "assignee=none",
        &format!("assignee={}", ada.id),
        "tag=vip&status=in_progress",
        &format!("tenant_id={}&priority=urgent", b.id),
    ] {
        let path = format!("/admin/support/tickets?{filter}");
        let counted = walk(&app, &path, &admin).await.len() as u64;
        assert_eq!(total(&app, &path, &admin).await, counted, "{filter}");
    }

    // Erasure rewrites every ticket of a tenant; its counts stay right.
    erase(&app, &b).await;
    assert_no_drift(&app).await;
}

async fn exact_totals_under_concurrent_creates_and_status_changes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenants = [
        app.create_tenant("enterprise", 100_000).await,
        app.create_tenant("enterprise", 100_000).await,
    ];
    let first: Vec<String> = futures_util::future::join_all((0..10).map(|i| {
        let t = &tenants[i % 2];
        create(
            &app,
            t,
            body("First wave", "Concurrent creates.", "bug", "high"),
        )
    }))
    .await;
    // Creates and status changes at once, on both tenants.
    let shared = &app;
    let creates = (0..16).map(|i| {
        let t = &tenants[i % 2];
        async move {
            create(
                shared,
                t,
                body("Second wave", "More creates.", "billing", "normal"),
            )
            .await;
        }
    });
    let changes = first.iter().enumerate().map(|(i, id)| {
        let t = &tenants[i % 2];
        async move {
            let status = if i % 4 == 0 { "closed" } else { "resolved" };
            let res = shared
                .patch(
                    &format!("/v1/support/tickets/{id}"),
                    &t.key,
                    json!({"status": status}),
                )
                .await;
            expect_status(res, StatusCode::OK).await;
        }
    });
    futures_util::future::join(
        futures_util::future::join_all(creates),
        futures_util::future::join_all(changes),
    )
    .await;
    for t in &tenants {
        assert_eq!(total(&app, "/v1/support/tickets", &t.key).await, 13);
        assert_eq!(
            total(&app, "/v1/support/tickets?status=open", &t.key).await,
            8
        );
        let resolved = total(&app, "/v1/support/tickets?status=resolved", &t.key).await;
        let closed = total(&app, "/v1/support/tickets?status=closed", &t.key).await;
        assert_eq!(resolved + closed, 5);
    }
    assert_eq!(
        total(&app, "/admin/support/tickets?status=open", &app.admin_token).await,
        16
    );
    assert_no_drift(&app).await;
}

/// A page's `total`, whether it is exact, its rows and its `next_cursor`.
async fn page_of(app: &TestApp, path: &str, token: &str) -> (u64, bool, usize, Option<String>) {
    let page = expect_status(app.get(path, token).await, StatusCode::OK).await;
    (
        page["total"].as_u64().expect("total"),
        page["total_is_exact"].as_bool().expect("total_is_exact"),
        page["data"].as_array().expect("data").len(),
        page["next_cursor"].as_str().map(str::to_string),
    )
}

/// A list reads its total in its page's statement; a page with no row carries none, so past
/// the end (by offset or by cursor), filtered, searched and in the inbox the total is then
/// counted by itself, and stays exact.
async fn totals_stay_exact_on_empty_pages(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("enterprise", 100_000).await;
    let other = app.create_tenant("enterprise", 100_000).await;
    let empty = app.create_tenant("enterprise", 100_000).await;
    let mut ids = Vec::new();
    for (subject, category, priority) in [
        ("Marigold one", "bug", "high"),
        ("Marigold two", "bug", "high"),
        ("Plain three", "billing", "normal"),
    ] {
        let description = "Totals on empty pages.";
        ids.push(
            create(
                &app,
                &tenant,
                body(subject, description, category, priority),
            )
            .await,
        );
    }
    create(
        &app,
        &other,
        body("Marigold elsewhere", "Another tenant.", "bug", "high"),
    )
    .await;
    let admin = app.admin_token.clone();
    let inbox = format!("/admin/support/tickets?status=open&tenant_id={}", tenant.id);
    for (path, token, total, rows) in [
        ("/v1/support/tickets?limit=2".to_string(), &tenant.key, 3, 2),
        ("/v1/support/tickets?offset=3".into(), &tenant.key, 3, 0),
        (
            "/v1/support/tickets?status=open&priority=high".into(),
            &tenant.key,
            2,
            2,
        ),
        (
            "/v1/support/tickets?status=open&priority=high&offset=50".into(),
            &tenant.key,
            2,
            0,
        ),
        (
            "/v1/support/tickets?category=billing&offset=1".into(),
            &tenant.key,
            1,
            0,
        ),
        ("/v1/support/tickets?q=marigold".into(), &tenant.key, 2, 2),
        (
            "/v1/support/tickets?q=marigold&offset=2".into(),
            &tenant.key,
            2,
            0,
        ),
        (
            "/v1/support/tickets?q=marigold&sort=relevance&offset=5".into(),
            &tenant.key,
            2,
            0,
        ),
        ("/v1/support/tickets?q=nowhere".into(), &tenant.key, 0, 0),
        ("/v1/support/tickets".into(), &empty.key, 0, 0),
        ("/v1/support/tickets?offset=10".into(), &empty.key, 0, 0),
        (
            "/admin/support/tickets?status=open&offset=4".into(),
            &admin,
            4,
            0,
        ),
        (format!("{inbox}&offset=3"), &admin, 3, 0),
        ("/admin/support/tickets?q=marigold".into(), &admin, 3, 3),
        (
            "/admin/support/tickets?q=marigold&offset=9".into(),
            &admin,
            3,
            0,
        ),
    ] {
        let (got, exact, len, _) = page_of(&app, &path, token).await;
        assert_eq!((got, exact, len), (total, true, rows), "{path}");
    }

    // Cursors whose next page empties before it is read.
    let list = "/v1/support/tickets?status=open&limit=2";
    let (_, _, _, list_cursor) = page_of(&app, list, &tenant.key).await;
    let list_cursor = list_cursor.expect("a cursor past the second newest");
    let (_, _, _, inbox_cursor) = page_of(&app, &format!("{inbox}&limit=2"), &admin).await;
    let inbox_cursor = inbox_cursor.expect("a cursor past the two high-priority tickets");
    for id in [&ids[0], &ids[2]] {
        let res = app
            .patch(
                &format!("/v1/support/tickets/{id}"),
                &tenant.key,
                json!({"status": "closed"}),
            )
            .await;
        expect_status(res, StatusCode::OK).await;
    }
    let after = page_of(&app, &format!("{list}&cursor={list_cursor}"), &tenant.key).await;
    assert_eq!(after, (1, true, 0, None));
    let all = format!("/v1/support/tickets?limit=2&cursor={list_cursor}");
    assert_eq!(page_of(&app, &all, &tenant.key).await, (3, true, 1, None));
    let path = format!("{inbox}&limit=2&cursor={inbox_cursor}");
    assert_eq!(page_of(&app, &path, &admin).await, (1, true, 0, None));
    assert_no_drift(&app).await;
}

async fn search(app: &TestApp, path: &str, token: &str) -> Vec<String> {
    let page = expect_status(app.get(path, token).await, StatusCode::OK).await;
    page["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|t| t["id"].as_str().expect("id").to_string())
        .collect()
}

async fn search_reads_its_writes_and_keeps_notes_internal(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token.clone();
    let tenant = app.create_tenant("enterprise", 100_000).await;
    let other = app.create_tenant("enterprise", 100_000).await;
    let id = create(
        &app,
        &tenant,
        body(
            "Kiwifruit dialer",
            "Outbound calls stall at ringing.",
            "telephony",
            "high",
        ),
    )
    .await;
    create(
        &app,
        &other,
        body("Kiwifruit too", "Another tenant's kiwifruit.", "bug", "low"),
    )
    .await;
    // Found by the very next request, in any case, and only by its own tenant.
    assert_eq!(
        search(&app, "/v1/support/tickets?q=KIWIFRUIT", &tenant.key).await,
        std::slice::from_ref(&id)
    );
    assert_eq!(
        search(&app, "/v1/support/tickets?q=stall%20ringing", &tenant.key).await,
        std::slice::from_ref(&id)
    );
    assert!(
        search(&app, "/v1/support/tickets?q=stall%20nothing", &tenant.key)
            .await
            .is_empty()
    );
    // A reply is searchable in the response to it; an internal note only by operators.
    let res = app
        .post(
            &format!("/v1/support/tickets/{id}/messages"),
            &tenant.key,
            json!({"body": "Also the pomegranate queue drops."}),
        )
        .await;
    expect_status(res, StatusCode::CREATED).await;
    assert_eq!(
        search(&app, "/v1/support/tickets?q=pomegranate", &tenant.key).await,
        std::slice::from_ref(&id)
    );
    let res = app
        .post(
            &format!("/admin/support/tickets/{id}/reply"),
            &admin,
            json!({"body": "Carrier escalation tamarind-77", "internal": true}),
        )
        .await;
    expect_status(res, StatusCode::CREATED).await;
    assert!(
        search(&app, "/v1/support/tickets?q=tamarind", &tenant.key)
            .await
            .is_empty()
    );
    assert_eq!(
        search(&app, "/admin/support/tickets?q=tamarind", &admin).await,
        std::slice::from_ref(&id)
    );
    assert_eq!(
        search(&app, "/admin/support/tickets?q=kiwifruit", &admin)
            .await
            .len(),
        2
    );
    // The operator's search of one tenant counts its notes too.
    let page = expect_status(
        app.get(
            &format!("/admin/support/tickets?q=tamarind&tenant_id={}", tenant.id),
            &admin,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (page["total"].as_u64(), page["total_is_exact"].as_bool()),
        (Some(1), Some(true)),
        "{page}"
    );
    // The note's word said in public: now the tenant finds it too.
    let res = app
        .post(
            &format!("/v1/support/tickets/{id}/messages"),
            &tenant.key,
            json!({"body": "Who is tamarind?"}),
        )
        .await;
    expect_status(res, StatusCode::CREATED).await;
    assert_eq!(
        search(&app, "/v1/support/tickets?q=tamarind", &tenant.key).await,
        std::slice::from_ref(&id)
    );
    assert_search_index_in_step(&app).await;
    // Punctuation alone finds nothing; `total` of a search is exact below the cap.
    let page = expect_status(
        app.get("/v1/support/tickets?q=%25%25", &tenant.key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(page["total"], 0);
    let page = expect_status(
        app.get("/v1/support/tickets?q=kiwifruit", &tenant.key)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (page["total"].as_u64(), page["total_is_exact"].as_bool()),
        (Some(1), Some(true))
    );

    // Relevance: the ticket that says it thrice ranks first; the default stays newest first.
    let often = create(
        &app,
        &tenant,
        body(
            "Lychee lychee",
            "Lychee everywhere in the logs.",
            "bug",
            "low",
        ),
    )
    .await;
    let once = create(
        &app,
        &tenant,
        body("Unrelated subject", "A long description that mentions lychee once among many other words about calls, agents, numbers and billing.", "bug", "low"),
    )
    .await;
    assert_eq!(
        search(&app, "/v1/support/tickets?q=lychee", &tenant.key).await,
        [once.clone(), often.clone()]
    );
    assert_eq!(
        search(
            &app,
            "/v1/support/tickets?q=lychee&sort=relevance",
            &tenant.key
        )
        .await,
        [often, once]
    );
    expect_error(
        app.get("/v1/support/tickets?q=lychee&sort=best", &tenant.key)
            .await,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("sort"),
    )
    .await;
}

async fn search_forgets_erased_text(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("pilot", 100_000).await;
    let id = create(
        &app,
        &tenant,
        body(
            "Persimmon outage",
            "My phone is 555-0199, persimmon.",
            "bug",
            "normal",
        ),
    )
    .await;
    let res = app
        .post(
            &format!("/v1/support/tickets/{id}/messages"),
            &tenant.key,
            json!({"body": "Secret word quinceberry"}),
        )
        .await;
    expect_status(res, StatusCode::CREATED).await;
    assert_eq!(
        search(&app, "/v1/support/tickets?q=quinceberry", &tenant.key).await,
        std::slice::from_ref(&id)
    );
    erase(&app, &tenant).await;
    for word in ["persimmon", "quinceberry", "0199"] {
        let path = format!("/v1/support/tickets?q={word}");
        assert!(search(&app, &path, &tenant.key).await.is_empty(), "{word}");
        let path = format!("/admin/support/tickets?q={word}");
        assert!(
            search(&app, &path, &app.admin_token).await.is_empty(),
            "{word}"
        );
    }
    assert_eq!(
        search(&app, "/v1/support/tickets?q=erased", &tenant.key).await,
        [id]
    );
    assert_search_index_in_step(&app).await;
}

/// More matches than a search counts: `total` stops at 1,000 (`total_is_exact: false`) and
/// the page walks the list's order, so it equals the plain list without the non-matches,
/// and a cursor walk sees every match once.
async fn search_past_the_count_cap_walks_in_list_order(backend: Backend) {
    use sea_orm::{EntityTrait, IntoActiveModel};
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("enterprise", 100_000).await;
    let model = create(
        &app,
        &tenant,
        body("Saffron first", "The saffron line rings.", "bug", "low"),
    )
    .await;
    let model: helpline::domain::ids::TicketId = model.parse().expect("id");
    let model = entities::tickets::Entity::find_by_id(model.uuid())
        .one(&app.state.db)
        .await
        .expect("find")
        .expect("ticket");
    // Bulk rows, like the bench's fill: the triggers index them as for an API create.
    let mut plain = HashSet::new();
    for chunk in 0..12 {
        let rows = (0..100).map(|i| {
            let n = chunk * 100 + i;
            let mut row = model.clone();
            row.id = uuid::Uuid::now_v7();
            row.subject = format!("Bulk ticket {n}");
            row.status = if n % 2 == 0 {
                TicketStatus::Open
            } else {
                TicketStatus::Closed
            };
            row.description = if n % 10 == 3 {
                plain.insert(helpline::domain::ids::TicketId::from_uuid(row.id).to_string());
                format!("Nothing to see, number {n}.")
            } else {
                format!("Saffron number {n} again.")
            };
            row.into_active_model()
        });
        entities::tickets::Entity::insert_many(rows)
            .exec(&app.state.db)
            .await
            .expect("insert");
    }
    let page = expect_status(
        app.get("/v1/support/tickets?q=saffron&limit=50", &tenant.key)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (page["total"].as_u64(), page["total_is_exact"].as_bool()),
        (Some(1000), Some(false)),
        "{page}"
    );
    let found: Vec<&str> = page["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|t| t["id"].as_str().expect("id"))
        .collect();
    let listed = search(&app, "/v1/support/tickets?limit=60", &tenant.key).await;
    let expected: Vec<&str> = listed
        .iter()
        .filter(|id| !plain.contains(*id))
        .take(50)
        .map(String::as_str)
        .collect();
    assert_eq!(found, expected);

    let walked = walk(&app, "/v1/support/tickets?q=saffron", &tenant.key).await;
    let unique: HashSet<&String> = walked.iter().collect();
    assert_eq!((walked.len(), unique.len()), (1081, 1081));
    assert!(walked.iter().all(|id| !plain.contains(id)));
    let mut sorted = walked.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(walked, sorted, "newest first");

    // With another filter, and in the operator inbox (its own order).
    let open = walk(
        &app,
        "/v1/support/tickets?q=saffron&status=open",
        &tenant.key,
    )
    .await;
    assert_eq!(open.len(), 601);
    // Two words: every bulk match says "again", the first ticket does not.
    let both = walk(&app, "/v1/support/tickets?q=again%20saffron", &tenant.key).await;
    assert_eq!(both, walked[..1080]);
    assert_search_index_in_step(&app).await;
    let inbox = walk(
        &app,
        &format!("/admin/support/tickets?q=saffron&tenant_id={}", tenant.id),
        &app.admin_token,
    )
    .await;
    assert_eq!(inbox.iter().collect::<HashSet<_>>(), unique);
    assert_no_drift(&app).await;
}

async fn deep_offsets_answer_use_cursor(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("pilot", 100_000).await;
    let id = create(
        &app,
        &tenant,
        body("Deep pages", "Paging far away.", "bug", "low"),
    )
    .await;
    for path in [
        "/v1/support/tickets?offset=10001".to_string(),
        "/v1/billing/ledger?offset=10001".to_string(),
        format!("/v1/support/tickets/{id}/messages?offset=10001"),
    ] {
        let res = app.get(&path, &tenant.key).await;
        expect_error(res, StatusCode::BAD_REQUEST, "use_cursor", Some("cursor")).await;
    }
    let res = app
        .get("/admin/support/tickets?offset=20000", &app.admin_token)
        .await;
    expect_error(res, StatusCode::BAD_REQUEST, "use_cursor", Some("cursor")).await;
    let page = expect_status(
        app.get("/v1/support/tickets?offset=10000", &tenant.key)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (
            page["total"].as_u64(),
            page["data"].as_array().map(Vec::len)
        ),
        (Some(1), Some(0))
    );
    // The thread pages by cursor too.
    for i in 0..3 {
        let res = app
            .post(
                &format!("/v1/support/tickets/{id}/messages"),
                &tenant.key,
                json!({"body": format!("Follow-up number {i}")}),
            )
            .await;
        expect_status(res, StatusCode::CREATED).await;
    }
    let path = format!("/v1/support/tickets/{id}/messages");
    let first = expect_status(
        app.get(&format!("{path}?limit=3"), &tenant.key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(first["total"], 4);
    let cursor = first["next_cursor"].as_str().expect("next_cursor");
    let rest = expect_status(
        app.get(&format!("{path}?limit=3&cursor={cursor}"), &tenant.key)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(rest["data"][0]["body"], "Follow-up number 2");
    assert!(rest["next_cursor"].is_null());
    let res = app
        .get("/admin/support/tickets?cursor=nonsense", &app.admin_token)
        .await;
    expect_error(
        res,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("cursor"),
    )
    .await;
}

async fn inbox_cursor_walk_sees_every_ticket_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token.clone();
    let tenants = [
        app.create_tenant("enterprise", 100_000).await,
        app.create_tenant("pilot", 100_000).await,
    ];
    let priorities = ["low", "normal", "high", "urgent"];
    let mut before = Vec::new();
    for i in 0..30 {
        let t = &tenants[i % 2];
        let ticket = body("Inbox walk", "Walking the inbox.", "bug", priorities[i % 4]);
        before.push(create(&app, t, ticket).await);
    }
    // Re-prioritised during the walk: these may move; every other ticket must be seen once.
    let moved: HashSet<String> = before.iter().step_by(7).cloned().collect();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut cursor: Option<String> = None;
    let mut previous_key: Option<(i64, String)> = None;
    let mut page_no = 0;
    loop {
        let url = match &cursor {
            Some(c) => format!("/admin/support/tickets?limit=4&cursor={c}"),
            None => "/admin/support/tickets?limit=4".to_string(),
        };
        let page = expect_status(app.get(&url, &admin).await, StatusCode::OK).await;
        assert_eq!(page["offset"], 0);
        for t in page["data"].as_array().expect("data") {
            let id = t["id"].as_str().expect("id").to_string();
            *seen.entry(id.clone()).or_default() += 1;
            if !moved.contains(&id) {
                // Unmoved tickets come in inbox order: priority queue, then priority.
                let rank = i64::from(t["sla"]["priority_queue"] != true) * 4 + 3
                    - priorities
                        .iter()
                        .position(|p| *p == t["priority"])
                        .expect("priority") as i64;
                if let Some((prev, _)) = &previous_key {
                    assert!(rank >= *prev, "out of order at {id}");
                }
                previous_key = Some((rank, id));
            }
        }
        // Between pages: new tickets, and some tickets change priority.
        page_no += 1;
        if page_no <= 3 {
            let t = &tenants[page_no % 2];
            create(
                &app,
                t,
                body("Late arrival", "Created mid-walk.", "bug", "urgent"),
            )
            .await;
            for id in moved.iter().skip(page_no - 1).take(2) {
                let res = app
                    .patch(
                        &format!("/admin/support/tickets/{id}"),
                        &admin,
                        json!({"priority": priorities[page_no % 4]}),
                    )
                    .await;
                expect_status(res, StatusCode::OK).await;
            }
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    for id in before.iter().filter(|id| !moved.contains(*id)) {
        assert_eq!(seen.get(id), Some(&1), "{id} seen {:?} times", seen.get(id));
    }
    assert!(seen.values().all(|n| *n <= 2));
    assert_no_drift(&app).await;
}

/// Every pooled PostgreSQL connection runs generic plans (`db::connect`), so a statement
/// is not planned again for each execution's values; a `DATABASE_URL` whose `options` set
/// `plan_cache_mode` keeps its own.
#[actix_web::test]
async fn postgres_connections_use_generic_plans_unless_the_url_sets_the_mode() {
    async fn mode(db: &sea_orm::DatabaseConnection) -> String {
        db.query_one_raw(Statement::from_string(
            DatabaseBackend::Postgres,
            "SHOW plan_cache_mode",
        ))
        .await
        .expect("show")
        .expect("a row")
        .try_get_by_index::<String>(0)
        .expect("text")
    }
    let app = TestApp::spawn(Backend::Postgres).await;
    // At once, so the pool opens more than one connection.
    let modes = futures_util::future::join_all((0..4).map(|_| mode(&app.state.db))).await;
    assert_eq!(modes, vec!["force_generic_plan"; 4]);

    let url = format!(
        "{}?options=-c%20plan_cache_mode%3Dforce_custom_plan",
        app.database_url
    );
    let own = helpline::db::connect(&url, Some(1)).await.expect("connect");
    assert_eq!(mode(&own).await, "force_custom_plan");
    own.close().await.ok();
}

/// The bundled SQLite is compiled as `.cargo/config.toml` says: without the shared page-cache
/// group and the allocation counter, the two global mutexes the embedded node's reading
/// threads queued on (docs/PERFORMANCE.md, "SQLite's global mutexes").
#[actix_web::test]
async fn sqlite_is_built_without_its_global_mutexes() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let row = app
        .state
        .db
        .query_one_raw(Statement::from_string(
            DatabaseBackend::Sqlite,
            "SELECT sqlite_compileoption_used('ENABLE_MEMORY_MANAGEMENT'), \
                    sqlite_compileoption_used('DEFAULT_MEMSTATUS=0')",
        ))
        .await
        .expect("compile options")
        .expect("a row");
    let shared_cache: i64 = row.try_get_by_index(0).expect("int");
    let memstatus_off: i64 = row.try_get_by_index(1).expect("int");
    assert_eq!((shared_cache, memstatus_off), (0, 1));
}

/// The plan of one statement, as text. PostgreSQL plans as for a large table: a tiny one
/// would be read whole.
async fn plan(app: &TestApp, sql: &str) -> String {
    let txn = app.state.db.begin().await.expect("begin");
    let backend = txn.get_database_backend();
    let explain = match backend {
        DatabaseBackend::Postgres => {
            for setting in [
                "SET LOCAL enable_seqscan = off",
                "SET LOCAL enable_bitmapscan = off",
            ] {
                txn.execute_unprepared(setting).await.expect("set");
            }
            format!("EXPLAIN {sql}")
        }
        _ => format!("EXPLAIN QUERY PLAN {sql}"),
    };
    let rows = txn
        .query_all_raw(Statement::from_string(backend, explain))
        .await
        .expect("explain");
    txn.rollback().await.expect("rollback");
    rows.iter()
        .map(|r| {
            r.try_get_by_index::<String>(0)
                .or_else(|_| r.try_get_by_index::<String>(3))
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

async fn lists_read_their_index_without_sorting(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.create_tenant("pilot", 100_000).await;
    create(
        &app,
        &tenant,
        body("Plan check", "Query plans please.", "bug", "low"),
    )
    .await;
    let statements = helpline::tickets::query::plan_samples(
        app.state.db.get_database_backend(),
        tenant.id.parse().expect("uuid"),
    );
    for (name, sql, index) in statements {
        let plan = plan(&app, &sql).await;
        assert!(
            plan.contains(index),
            "{name}: not through {index}:\n{plan}\n{sql}"
        );
        assert!(
            !plan.contains("Sort") && !plan.contains("TEMP B-TREE"),
            "{name} sorts:\n{plan}\n{sql}"
        );
    }
}
