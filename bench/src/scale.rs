//! `scale` (issue 15): one enterprise tenant filled to each size of `--scale-sizes` (default
//! 1,000 then 1,000,000 tickets) and, at each size, the reads of the table: a list of
//! 50, a status + priority filter, a `q` search for a word in ~1% of tickets, the operator
//! inbox (`status=open`) and one ticket. Each read runs `--scale-repeats` times (median
//! kept); on PostgreSQL the SQL the handler sends for it runs through pgbench at the same
//! concurrency in the same minute, so every read has its own baseline.
//!
//! The fill is bulk SQL through `--seed-cmd` (like `tenants`): `INSERT … SELECT
//! generate_series` on PostgreSQL, multi-row `INSERT`s on SQLite. Ticket rows go into
//! `tickets` only; the database's triggers keep the kept counts and the search index exactly
//! as for an API create (the fill ends with a check of the counts). Filled tickets carry their
//! text in `subject`/`description` (no thread rows); the "get one" read uses a ticket
//! created through the API, with its thread.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::{Ctx, MakeRequest, Outcome};

/// The rare word: in one ticket of every hundred.
pub const RARE_WORD: &str = "zirconium";

const WORDS: &[&str] = &[
    "call",
    "agent",
    "number",
    "webhook",
    "timeout",
    "latency",
    "billing",
    "invoice",
    "sdk",
    "node",
    "python",
    "outbound",
    "inbound",
    "transfer",
    "voicemail",
    "recording",
    "transcript",
    "dashboard",
    "login",
    "password",
    "token",
    "retry",
    "error",
    "dropped",
    "echo",
    "jitter",
    "carrier",
    "sip",
    "trunk",
    "routing",
    "queue",
    "hold",
    "music",
    "ivr",
    "menu",
    "keypad",
    "language",
    "voice",
    "accent",
    "speech",
    "silence",
    "interrupt",
    "prompt",
    "greeting",
    "schedule",
    "holiday",
    "escalation",
    "refund",
    "charge",
    "balance",
];

/// The ticket columns the API reads (not the search documents).
const COLUMNS: &str = "id, tenant_id, subject, category, priority, priority_rank, status, description, call_id, source_session_id, contact_email, plan_tier, sla_tier, sla_first_response_target, sla_priority_queue, first_response_due_at, first_response_at, charge_cents, charge_status, charge_entry_id, bounty_status, bounty_cents, email_status, email_reason, message_count, created_at, updated_at, resolved_at, closed_at, version, assignee_id, tags, merged_into";

fn pick(i: u64, k: u64) -> &'static str {
    WORDS[((i.wrapping_mul(2_654_435_761).wrapping_add(k * 40_503)) % WORDS.len() as u64) as usize]
}

/// The fill of tickets `from..to` (1-based numbers; ids grow with the number).
fn fill_sql(pg: bool, tenant: uuid::Uuid, from: u64, to: u64) -> String {
    let categories = [
        "billing",
        "voice_quality",
        "telephony",
        "agent_publishing",
        "api_sdk",
        "account",
        "bug",
        "other",
    ];
    let priorities = ["low", "normal", "normal", "normal", "high", "urgent"];
    let statuses = [
        "closed",
        "closed",
        "resolved",
        "resolved",
        "closed",
        "open",
        "awaiting_user",
        "in_progress",
        "closed",
        "open",
    ];
    if pg {
        let arr = |items: &[&str]| {
            format!(
                "(ARRAY[{}])",
                items
                    .iter()
                    .map(|w| format!("'{w}'"))
                    .collect::<Vec<_>>()
                    .join(",")
            )
        };
        let words = arr(WORDS);
        let n = WORDS.len();
        let w = |k: u64| {
            format!(
                "{words}[1 + ((g * 2654435761 + {}) % {n})::int]",
                k * 40_503
            )
        };
        let cat = arr(&categories);
        let pri = arr(&priorities);
        let st = arr(&statuses);
        return format!(
            "SET synchronous_commit = off;
             INSERT INTO tickets (id, tenant_id, subject, category, priority, priority_rank, status, description,
               contact_email, plan_tier, sla_tier, sla_first_response_target, sla_priority_queue,
               first_response_due_at, charge_cents, charge_status, bounty_status, bounty_cents, email_status,
               message_count, created_at, updated_at, version, tags)
             SELECT (lpad(to_hex(1600000000000 + g * 10), 12, '0') || '7000' || '8000' || lpad(to_hex(g), 12, '0'))::uuid,
               '{tenant}', initcap({w1}) || ' ' || {w2} || ' ' || {w3} || ' issue',
               {cat}[1 + (g % 8)::int], p.v, CASE p.v WHEN 'low' THEN 0 WHEN 'normal' THEN 1 WHEN 'high' THEN 2 ELSE 3 END,
               {st}[1 + ((g / 7) % 10)::int],
               'Since ' || {w4} || ' the ' || {w5} || ' ' || {w6} || ' fails with ' || {w7} || ' and ' || {w8}
                 || CASE WHEN g % 100 = 0 THEN ' {RARE_WORD}' ELSE '' END || '; we tried ' || {w9} || ' ' || {w10} || '.',
               'bench@bench.test', 'enterprise', 'enterprise', '4 hours, 24/7 for urgent issues', true,
               to_timestamp((1600000000000 + g * 10) / 1000.0) + interval '4 hours', 0, 'none', 'none', 0, 'skipped',
               1, to_timestamp((1600000000000 + g * 10) / 1000.0), to_timestamp((1600000000000 + g * 10) / 1000.0), 1, ''
             FROM generate_series({from}::bigint, {to}::bigint) g
             CROSS JOIN LATERAL (SELECT {pri}[1 + ((g / 3) % 6)::int] AS v) p;\n",
            w1 = w(1), w2 = w(2), w3 = w(3), w4 = w(4), w5 = w(5), w6 = w(6), w7 = w(7), w8 = w(8), w9 = w(9), w10 = w(10),
        );
    }
    let mut sql = String::from(".timeout 60000\nPRAGMA synchronous = OFF;\n");
    let tenant_blob = format!("X'{}'", tenant.simple());
    let mut g = from;
    while g <= to {
        sql.push_str("BEGIN;\n");
        let end = (g + 50_000).min(to + 1);
        while g < end {
            let chunk_end = (g + 500).min(end);
            sql.push_str("INSERT INTO tickets (id, tenant_id, subject, category, priority, priority_rank, status, description, contact_email, plan_tier, sla_tier, sla_first_response_target, sla_priority_queue, first_response_due_at, charge_cents, charge_status, bounty_status, bounty_cents, email_status, message_count, created_at, updated_at, version, tags) VALUES\n");
            for i in g..chunk_end {
                let ms = 1_600_000_000_000 + i * 10;
                let id = format!("{ms:012x}70008000{i:012x}");
                let at = crate::sqlite_time(ms / 1000);
                let due = crate::sqlite_time(ms / 1000 + 4 * 3600);
                let priority = priorities[((i / 3) % 6) as usize];
                let rank = match priority {
                    "low" => 0,
                    "normal" => 1,
                    "high" => 2,
                    _ => 3,
                };
                let rare = if i % 100 == 0 {
                    format!(" {RARE_WORD}")
                } else {
                    String::new()
                };
                let sep = if i + 1 == chunk_end { ";\n" } else { ",\n" };
                sql.push_str(&format!(
                    "(X'{id}', {tenant_blob}, '{} {} {} issue', '{}', '{priority}', {rank}, '{}', 'Since {} the {} {} fails with {} and {}{rare}; we tried {} {}.', 'bench@bench.test', 'enterprise', 'enterprise', '4 hours, 24/7 for urgent issues', 1, '{due}', 0, 'none', 'none', 0, 'skipped', 1, '{at}', '{at}', 1, ''){sep}",
                    pick(i, 1), pick(i, 2), pick(i, 3),
                    categories[(i % 8) as usize],
                    statuses[((i / 7) % 10) as usize],
                    pick(i, 4), pick(i, 5), pick(i, 6), pick(i, 7), pick(i, 8), pick(i, 9), pick(i, 10),
                ));
            }
            g = chunk_end;
        }
        sql.push_str("COMMIT;\n");
    }
    sql
}

/// The statements one read sends (the secret key is cached by the server, so no key lookup),
/// as a pgbench script.
fn pgbench_script(read: &str, tenant: uuid::Uuid) -> String {
    let count = |filter: &str| {
        format!(
            "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM ticket_counts WHERE tenant_id = '{tenant}' AND tag = ''{filter};"
        )
    };
    match read {
        "list" => format!(
            "{}\nSELECT {COLUMNS} FROM tickets WHERE tenant_id = '{tenant}' ORDER BY id DESC LIMIT 51 OFFSET 0;\n",
            count("")
        ),
        "filtered" => format!(
            "{}\nSELECT {COLUMNS} FROM tickets WHERE tenant_id = '{tenant}' AND status = 'open' AND priority = 'high' ORDER BY id DESC LIMIT 51 OFFSET 0;\n",
            count(" AND status = 'open' AND priority = 'high'")
        ),
        "search" => {
            // The tenant's word, walked in ticket-id order (`ticket_words`).
            let word = format!(
                "w0.tenant_id = '{tenant}' AND w0.word = lower('{RARE_WORD}') COLLATE \"C\" AND w0.public"
            );
            let columns: Vec<String> = COLUMNS
                .split(", ")
                .map(|c| format!("tickets.{c}"))
                .collect();
            format!(
                "SELECT COUNT(*) FROM (SELECT 1 FROM ticket_words w0 WHERE {word} LIMIT 1001) capped;\nSELECT {} FROM tickets JOIN ticket_words w0 ON {word} AND w0.ticket_id = tickets.id WHERE tickets.tenant_id = '{tenant}' ORDER BY w0.ticket_id DESC LIMIT 51 OFFSET 0;\n",
                columns.join(", ")
            )
        }
        "inbox" => format!(
            "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM ticket_counts_all WHERE tag = '' AND status = 'open';\nSELECT {COLUMNS} FROM tickets WHERE status = 'open' ORDER BY inbox_rank ASC, inbox_due ASC, id ASC LIMIT 51 OFFSET 0;\n"
        ),
        _ => String::new(),
    }
}

async fn pgbench(url: &str, script: &str, concurrency: usize, seconds: f64) -> Result<f64> {
    let path = std::env::temp_dir().join(format!("helpline-scale-{}.sql", crate::run_tag()));
    std::fs::write(&path, script)?;
    let out = tokio::process::Command::new("pgbench")
        .args([
            "-n",
            "-M",
            "prepared",
            "-c",
            &concurrency.to_string(),
            "-j",
            "2",
            "-T",
        ])
        .arg(format!("{}", seconds.ceil() as u64))
        .arg("-f")
        .arg(&path)
        .arg(url)
        .output()
        .await
        .context("running pgbench")?;
    let _ = std::fs::remove_file(&path);
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| {
            format!(
                "pgbench printed no tps: {text} {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

pub async fn scenario_scale(ctx: &mut Ctx) -> Result<Vec<Outcome>> {
    let Some(seed) = ctx.args.seed_cmd.clone() else {
        bail!("scale needs --seed-cmd (the fill is bulk SQL)");
    };
    let pg = ctx.args.seed_dialect != "sqlite";
    let resp = ctx
        .client
        .post(ctx.url("/admin/tenants"))
        .bearer_auth(&ctx.args.admin_token)
        .json(&json!({"name": format!("Scale {}", crate::run_tag()), "email": "scale@bench.test", "plan": "enterprise", "balance_cents": 100_000_000}))
        .send()
        .await?;
    let body: Value = resp.json().await?;
    let key = body["secret_key"]
        .as_str()
        .context("secret_key")?
        .to_string();
    let tenant: uuid::Uuid = body["tenant"]["id"]
        .as_str()
        .context("tenant id")?
        .parse()?;
    // The ticket "get one" reads: created through the API, so it has its thread.
    let created: Value = ctx
        .client
        .post(ctx.url("/v1/support/tickets"))
        .bearer_auth(&key)
        .json(&crate::ticket_body(0))
        .send()
        .await?
        .json()
        .await?;
    let one = created["ticket"]["id"]
        .as_str()
        .context("ticket id")?
        .to_string();

    let mut rows = Vec::new();
    let mut filled = 1u64;
    for &size in &ctx.args.scale_sizes {
        if size > filled {
            let start = Instant::now();
            // Chunks of 100,000 keep each transaction (and SQL text) bounded.
            let mut from = filled;
            while from < size {
                let to = (from + 100_000).min(size);
                crate::run_seed(&seed, &fill_sql(pg, tenant, from, to - 1)).await?;
                from = to;
            }
            if pg {
                crate::run_seed(
                    &seed,
                    "VACUUM ANALYZE tickets; VACUUM ANALYZE ticket_words; ANALYZE ticket_counts; ANALYZE ticket_counts_all;\n",
                )
                .await?;
            } else {
                crate::run_seed(&seed, ".timeout 60000\nANALYZE;\n").await?;
            }
            eprintln!(
                "[bench] scale: filled to {size} tickets in {:.0} s",
                start.elapsed().as_secs_f64()
            );
            filled = size;
        }
        let base = ctx.base.clone();
        let reads: Vec<(&str, String)> = vec![
            ("list", "/v1/support/tickets?limit=50".into()),
            (
                "filtered",
                "/v1/support/tickets?limit=50&status=open&priority=high".into(),
            ),
            (
                "search",
                format!("/v1/support/tickets?limit=50&q={RARE_WORD}"),
            ),
            (
                "inbox",
                "/admin/support/tickets?limit=50&status=open".into(),
            ),
            ("get", format!("/v1/support/tickets/{one}")),
        ];
        for (read, path) in reads {
            let token = if read == "inbox" {
                ctx.args.admin_token.clone()
            } else {
                key.clone()
            };
            let url = format!("{base}{path}");
            let make: MakeRequest = Arc::new(move |c, _| c.get(&url).bearer_auth(&token));
            let mut runs = Vec::new();
            let mut baselines = Vec::new();
            for _ in 0..ctx.args.scale_repeats.max(1) {
                runs.push(
                    ctx.timed(None, make.clone(), 200, &format!("scale {read} @{size}"))
                        .await,
                );
                if let Some(url) = &ctx.args.pgbench_url {
                    let script = pgbench_script(read, tenant);
                    if !script.is_empty() {
                        baselines.push(
                            pgbench(url, &script, ctx.args.concurrency, ctx.args.duration).await?,
                        );
                    }
                }
            }
            let rps = median(runs.iter().map(|o| o.rps).collect());
            let mut out = runs
                .iter()
                .min_by(|a, b| (a.rps - rps).abs().total_cmp(&(b.rps - rps).abs()))
                .cloned()
                .unwrap_or_default();
            out.p99_ms = median(runs.iter().map(|o| o.p99_ms).collect());
            out.rps = rps;
            let mut extra = BTreeMap::new();
            extra.insert("tickets".into(), json!(size));
            extra.insert("read".into(), json!(read));
            extra.insert(
                "runs_rps".into(),
                json!(runs.iter().map(|o| o.rps).collect::<Vec<_>>()),
            );
            extra.insert(
                "runs_p99_ms".into(),
                json!(runs.iter().map(|o| o.p99_ms).collect::<Vec<_>>()),
            );
            if !baselines.is_empty() {
                let tps = median(baselines.clone());
                extra.insert("pgbench_tps".into(), json!(tps));
                extra.insert("pgbench_runs_tps".into(), json!(baselines));
                extra.insert("ratio_to_pgbench".into(), json!(rps / tps));
            }
            out.extra = extra;
            rows.push(out);
        }
    }
    // Flatness: each read at each size against the same read at the first size.
    let first = ctx.args.scale_sizes.first().copied().unwrap_or(0);
    let firsts: BTreeMap<String, f64> = rows
        .iter()
        .filter(|o| o.extra["tickets"] == json!(first))
        .map(|o| (o.extra["read"].to_string(), o.rps))
        .collect();
    for o in &mut rows {
        if let Some(base) = firsts.get(&o.extra["read"].to_string()) {
            let ratio = o.rps / base;
            o.extra.insert(format!("ratio_to_{first}"), json!(ratio));
        }
    }
    Ok(rows)
}
