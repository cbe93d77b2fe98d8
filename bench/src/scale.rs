//! `scale` (issue 15): a database filled to each size of `--scale-sizes` (default 1,000,
//! 100,000, then 1,000,000 tickets in all) over 1,000 tenants, and at each size the reads of
//! the table by the big tenant, which holds a fifth of the tickets at every size: a list
//! of 50, a status + priority filter, a `q` search for a word in ~1% of tickets, the operator
//! inbox (`status=open`, across every tenant) and one ticket. Each read runs `--scale-repeats`
//! times (median kept); on PostgreSQL the SQL the handler sends for it runs through pgbench at
//! the same concurrency in the same minute, so every read has its own baseline.
//!
//! Tenants: the big one is created through `POST /admin/tenants` (enterprise), the other 999
//! are seeded like `tenants` (a tenant row and a hashed secret key, as `helpline tenants
//! create` makes them) with a mix of plans. Ticket number `g` (1, 2, …) belongs to the big
//! tenant when `g % 5 == 0`, else to one of the 999 by a hash of `g`; the one ticket created
//! through the API (the "get one" read, with its thread) counts in the size, so at size `N`
//! the database holds `N` tickets and the big tenant `N / 5`.
//!
//! The fill is bulk SQL through `--seed-cmd` (like `tenants`): `INSERT … SELECT
//! generate_series` on PostgreSQL, multi-row `INSERT`s on SQLite. Ticket rows go into
//! `tickets` only; the database's triggers keep the kept counts and the search index exactly
//! as for an API create, and each fill ends with a check of them (per tenant, status,
//! category and priority, against the rows). The text reads like support tickets: 4,999
//! generated subject/description pairs of varied length (one to six sentences, some with a
//! log excerpt) over the eight categories, with per-ticket reference numbers; the rare word
//! is in 1% of each tenant's tickets. Filled tickets have no thread rows.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::{Ctx, MakeRequest, Outcome, SeedTenant, sql_text, sql_uuid};

/// The rare word: in one ticket of every hundred, in every tenant.
pub const RARE_WORD: &str = "zirconium";
const RARE_SENTENCE: &str = "It started right after the zirconium rollout on our side.";

/// Tenants besides the big one; they share the tickets the big tenant does not hold.
const SMALL_TENANTS: u64 = 999;
/// Every fifth ticket number is the big tenant's: it holds 20% of the tickets at every size.
const BIG_EVERY: u64 = 5;
/// Distinct generated texts; ticket `g` takes text `g % TEXTS` (prime, so every tenant gets all).
const TEXTS: u64 = 4999;
/// Filled ticket `g` is created at `BASE_S + g * STEP_S` (from 2020-09-13, one every 30 s:
/// 1,000,000 tickets span 347 days).
const BASE_S: u64 = 1_600_000_000;
const STEP_S: u64 = 30;
/// Tickets per `INSERT` (PostgreSQL) or per transaction (SQLite).
const CHUNK: u64 = 100_000;
/// What an API create stores without a Resend key.
const EMAIL_REASON: &str = "RESEND_API_KEY is not configured";

const STATUSES: [&str; 10] = [
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
const PRIORITIES: [&str; 6] = ["low", "normal", "normal", "normal", "high", "urgent"];

/// The SLA snapshot an API create copies from the tenant's plan (src/domain/plan.rs; business
/// hours are counted as plain hours here).
struct PlanSla {
    plan: &'static str,
    tier: &'static str,
    target: &'static str,
    hours: Option<u64>,
    queue: bool,
}

const PLANS: [PlanSla; 4] = [
    PlanSla {
        plan: "free",
        tier: "community",
        target: "Best effort, community support",
        hours: None,
        queue: false,
    },
    PlanSla {
        plan: "base",
        tier: "standard",
        target: "1 business day",
        hours: Some(8),
        queue: false,
    },
    PlanSla {
        plan: "pilot",
        tier: "priority",
        target: "4 business hours",
        hours: Some(4),
        queue: true,
    },
    PlanSla {
        plan: "enterprise",
        tier: "enterprise",
        target: "4 hours, 24/7 for urgent issues",
        hours: Some(4),
        queue: true,
    },
];

/// Small tenant `slot`'s plan: 40% free, 30% base, 20% pilot, 10% enterprise.
fn small_plan(slot: u64) -> &'static PlanSla {
    match slot % 10 {
        0..=3 => &PLANS[0],
        4..=6 => &PLANS[1],
        7 | 8 => &PLANS[2],
        _ => &PLANS[3],
    }
}

/// A tenant tickets are filled into; slot 0 is the big tenant.
struct FillTenant {
    id: uuid::Uuid,
    email: String,
    sla: &'static PlanSla,
}

// Ticket number `g` → its attributes. The PostgreSQL fill computes the same in SQL
// (`pg_insert`); the unit tests below pin the two together where they can.

fn tenant_slot(g: u64) -> u64 {
    if g.is_multiple_of(BIG_EVERY) {
        0
    } else {
        1 + ((g * 2_654_435_761) % 4_294_967_296) / 256 % SMALL_TENANTS
    }
}

fn has_rare_word(g: u64) -> bool {
    (g / BIG_EVERY) % 100 == 1
}

fn ref_number(g: u64) -> u64 {
    (g * 7919) % 9_000_000 + 1_000_000
}

fn status_of(g: u64) -> &'static str {
    STATUSES[((g / 7) % 10) as usize]
}

fn priority_of(g: u64) -> &'static str {
    PRIORITIES[((g / 3) % 6) as usize]
}

fn rank(priority: &str) -> u8 {
    match priority {
        "low" => 0,
        "normal" => 1,
        "high" => 2,
        _ => 3,
    }
}

/// Hours after creation of the first response, the resolution and the closing, by status.
fn milestones(status: &str) -> [Option<u64>; 3] {
    match status {
        "open" => [None, None, None],
        "awaiting_user" | "in_progress" => [Some(1), None, None],
        "resolved" => [Some(1), Some(26), None],
        _ => [Some(1), Some(26), Some(74)],
    }
}

/// A ticket's generated text (`{ref}` is replaced by the ticket's reference number).
struct Text {
    category: &'static str,
    subject: String,
    description: String,
    tags: &'static str,
}

/// (category, [(subject, opening sentence)]).
type Topic = (&'static str, &'static [(&'static str, &'static str)]);

const TOPICS: [Topic; 8] = [
    (
        "billing",
        &[
            (
                "Charged twice for {month}",
                "We were charged twice for {month} and the second charge is still pending on our card.",
            ),
            (
                "Invoice INV-{ref} shows the wrong amount",
                "Invoice INV-{ref} lists {n} hours of outbound calls, but our dashboard shows about half of that.",
            ),
            (
                "Card declined when renewing the plan",
                "Our card was declined when the plan renewed this morning, although the bank says nothing was blocked.",
            ),
            (
                "Why did our bill go up in {month}?",
                "The bill for {month} is almost double the previous one and nothing changed in how we use the service.",
            ),
            (
                "Need our VAT number on the invoices",
                "Please add our VAT number to the invoices; our finance team cannot book them without it.",
            ),
            (
                "Refund for unused minutes in {month}",
                "We paid for a bundle of minutes in {month} and used less than half; can the rest be refunded?",
            ),
        ],
    ),
    (
        "voice_quality",
        &[
            (
                "Echo on outbound calls to {country}",
                "Since {weekday} our customers in {country} hear a strong echo on every outbound call.",
            ),
            (
                "Choppy audio on calls from {country}",
                "The audio breaks up every few seconds on calls from {country}; call CA{ref} is a good example.",
            ),
            (
                "Agent voice sounds robotic since {weekday}",
                "The agent's voice became metallic and robotic after {weekday}'s update.",
            ),
            (
                "Long silence before the agent answers",
                "Callers wait {n} seconds in silence before the agent says anything, and many hang up.",
            ),
            (
                "Callers hear their own voice back",
                "Several callers complained that they hear themselves with a delay of about a second.",
            ),
            (
                "Background noise ruins the transcripts",
                "Background noise from the caller's side ends up in the transcript as random words.",
            ),
        ],
    ),
    (
        "telephony",
        &[
            (
                "Calls to {country} drop after {n} seconds",
                "Every call to {country} drops after about {n} seconds, always at the same point in the conversation.",
            ),
            (
                "Cannot port number +{phone}",
                "The port request for our number +{phone} has been pending for two weeks without an update.",
            ),
            (
                "SIP trunk registration fails",
                "Our SIP trunk stopped registering with a 403 at {time} and has not recovered since.",
            ),
            (
                "Inbound calls not reaching the agent",
                "Inbound calls ring on your side but never reach the agent; the caller only hears silence.",
            ),
            (
                "Caller ID shows the wrong number",
                "Outbound calls show an unknown number as caller ID instead of ours.",
            ),
            (
                "Transfer to a human agent fails",
                "When the agent transfers a call to our support line, the caller is disconnected.",
            ),
        ],
    ),
    (
        "agent_publishing",
        &[
            (
                "Publishing the agent fails with a timeout",
                "Publishing our agent fails with a timeout after about a minute, every time since {weekday}.",
            ),
            (
                "Prompt changes are not live after publishing",
                "We changed the prompt and published, but calls still follow the old instructions.",
            ),
            (
                "Agent ignores the new greeting",
                "The new greeting is saved, but the agent keeps saying the old one.",
            ),
            (
                "Cannot roll back to the previous version",
                "We need to roll back to yesterday's version and the button does nothing.",
            ),
            (
                "Knowledge base upload stuck at processing",
                "The PDF we uploaded to the knowledge base has been processing for {n} hours.",
            ),
        ],
    ),
    (
        "api_sdk",
        &[
            (
                "{sdk} SDK times out creating a call",
                "Creating a call with the {sdk} SDK times out after 30 seconds; request id req_{ref}.",
            ),
            (
                "Webhook signature does not verify",
                "The signatures on your webhooks stopped verifying with our secret at {time}.",
            ),
            (
                "429 from the calls API under light load",
                "We get 429 responses from the calls API at only {n} requests a minute.",
            ),
            (
                "Missing fields in the call webhook payload",
                "The call.ended webhook no longer includes the recording URL.",
            ),
            (
                "{sdk} SDK throws on a call without transcript",
                "The {sdk} SDK throws a null reference error when a call has no transcript.",
            ),
            (
                "How do we page through the calls list?",
                "The calls list only returns the first page and we cannot find how to get the next one.",
            ),
        ],
    ),
    (
        "account",
        &[
            (
                "Cannot log in after a password reset",
                "After resetting my password the login page says the link has expired.",
            ),
            (
                "Add a teammate to our workspace",
                "How do I invite a teammate with read-only access to the dashboard?",
            ),
            (
                "Two-factor codes not arriving",
                "The two-factor codes by SMS stopped arriving on {weekday}.",
            ),
            (
                "Change the account owner",
                "Our account owner left the company; please move the ownership to me.",
            ),
            (
                "Delete our old test workspace",
                "Please delete our old test workspace and all of its recordings.",
            ),
        ],
    ),
    (
        "bug",
        &[
            (
                "Dashboard shows every call twice",
                "The dashboard lists every call from {weekday} twice, with the same id.",
            ),
            (
                "Transcript missing the last minute",
                "Transcripts stop about a minute before the call ends, for instance on call CA{ref}.",
            ),
            (
                "CSV export is empty",
                "Exporting {month}'s calls to CSV downloads a file with only the header row.",
            ),
            (
                "Call duration is wrong in the report",
                "The report says calls last {n} minutes on average, but the recordings are much shorter.",
            ),
            (
                "Search in the call log returns nothing",
                "Searching the call log for a number we called yesterday returns nothing.",
            ),
            (
                "Wrong time zone on the analytics page",
                "The analytics page shows times in UTC although our workspace is set to {tz}.",
            ),
        ],
    ),
    (
        "other",
        &[
            (
                "Question about data retention",
                "How long do you keep call recordings and transcripts, and can we shorten that?",
            ),
            (
                "Feature request: export recordings in bulk",
                "We would like to export all recordings of {month} at once instead of one by one.",
            ),
            (
                "Do you offer numbers in {country}?",
                "We are expanding to {country}; can we buy local numbers there?",
            ),
            (
                "Security questionnaire for our procurement",
                "Our procurement team needs the attached security questionnaire filled in by {weekday}.",
            ),
            (
                "Partnership inquiry",
                "We resell voice agents to clinics and would like to talk about a partnership.",
            ),
        ],
    ),
];

const FILLERS: &[&str] = &[
    "It happens on about {pct}% of calls.",
    "We tried again from another network with the same result.",
    "This is blocking our launch on {weekday}.",
    "Nothing changed in our configuration.",
    "We are on the {sdk} SDK, version {ver}.",
    "Our account id is AC{ref}.",
    "Could you look into it today?",
    "A colleague saw the same thing last week, but it went away by itself.",
    "We restarted everything on our side.",
    "The problem started around {time} UTC.",
    "Our customers are getting impatient and some have already cancelled.",
    "Please let me know if you need logs or call ids.",
    "The status page shows everything as operational.",
    "This worked fine until {month}.",
    "We can reproduce it every time.",
    "It only happens with some callers, not all of them.",
    "Happy to jump on a call to show you.",
    "We have about {n} agents live, so this affects a lot of calls.",
];

const SIGN_OFFS: &[&str] = &[
    "",
    "",
    "\n\nThanks,\nthe ops team",
    "\n\nThanks in advance.",
    "\n\nBest regards",
];

const SLOTS: &[(&str, &[&str])] = &[
    (
        "{month}",
        &[
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ],
    ),
    (
        "{country}",
        &[
            "Germany",
            "Brazil",
            "Japan",
            "India",
            "Mexico",
            "France",
            "Canada",
            "Nigeria",
            "Spain",
            "Australia",
        ],
    ),
    (
        "{weekday}",
        &[
            "Monday",
            "Tuesday",
            "Wednesday",
            "Thursday",
            "Friday",
            "Saturday",
            "Sunday",
        ],
    ),
    ("{n}", &["3", "5", "12", "15", "20", "30", "45", "60", "90"]),
    ("{sdk}", &["Node", "Python", "Go", "Java", "Ruby", ".NET"]),
    (
        "{phone}",
        &[
            "49 30 5557 1234",
            "33 1 5550 2211",
            "1 415 555 0199",
            "44 20 5550 7788",
        ],
    ),
    (
        "{time}",
        &[
            "02:10", "07:45", "09:30", "11:05", "14:20", "16:55", "19:40", "23:15",
        ],
    ),
    ("{pct}", &["2", "5", "10", "20", "30", "40"]),
    ("{ver}", &["1.9.8", "2.3.1", "2.4.0", "3.0.2", "3.1.0"]),
    (
        "{tz}",
        &[
            "Europe/Berlin",
            "America/Sao_Paulo",
            "Asia/Tokyo",
            "America/New_York",
        ],
    ),
];

const LOG_EXCERPT: &str = "\n\nLog excerpt:\n{time}:01 ERROR request req_{ref} failed: upstream timeout after 30000 ms\n{time}:01 WARN retrying (attempt 2 of 3)\n{time}:31 ERROR request req_{ref} failed: upstream timeout after 30000 ms\n{time}:31 WARN giving up after 3 attempts";

/// A deterministic 64-bit hash of `(k, salt)` (splitmix64's finalizer).
fn h(k: u64, salt: u64) -> u64 {
    let mut x = k
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(salt.wrapping_mul(0xC2B2_AE3D_27D4_EB4F));
    x ^= x >> 30;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn pick<'a>(items: &[&'a str], k: u64, salt: u64) -> &'a str {
    items[(h(k, salt) % items.len() as u64) as usize]
}

/// Fills the slots of `template` for text `k` (`{ref}` stays: it is per ticket).
fn fill_slots(template: &str, k: u64, salt: u64) -> String {
    let mut out = template.to_string();
    for (i, (slot, values)) in SLOTS.iter().enumerate() {
        if out.contains(slot) {
            out = out.replace(slot, pick(values, k, salt * 100 + i as u64));
        }
    }
    out
}

/// Generated text `k`: a topic (category), a subject and its opening sentence, 0–5 more sentences,
/// sometimes a log excerpt and a sign-off; about one in five carries a tag or two.
fn text(k: u64) -> Text {
    let (category, pairs) = TOPICS[(h(k, 1) % TOPICS.len() as u64) as usize];
    let (subject, opening) = pairs[(h(k, 2) % pairs.len() as u64) as usize];
    // One salt for the whole text: a slot reads the same in the subject and every sentence.
    let fill = |template: &str| fill_slots(template, k, 3);
    let subject = fill(subject);
    let mut description = fill(opening);
    for j in 0..h(k, 6) % 6 {
        description.push(' ');
        description.push_str(&fill(pick(FILLERS, k, 10 + j)));
    }
    if h(k, 7).is_multiple_of(12) {
        description.push_str(&fill(LOG_EXCERPT));
    }
    description.push_str(pick(SIGN_OFFS, k, 9));
    let tags = match h(k, 11) % 20 {
        0 => ",vip,",
        1 => ",outage,",
        2 => ",follow-up,",
        3 => ",follow-up,vip,",
        _ => "",
    };
    Text {
        category,
        subject,
        description,
        tags,
    }
}

/// The fill of tickets `from..=to` on PostgreSQL: one `psql` session; the tenants and texts
/// go into temporary tables, then one `INSERT … SELECT generate_series` per `CHUNK`.
fn pg_fill(tenants: &[FillTenant], texts: &[Text], from: u64, to: u64) -> String {
    let mut sql = String::from(
        "SET synchronous_commit = off;
CREATE TEMP TABLE fill_tenants (slot int PRIMARY KEY, id uuid NOT NULL, email text NOT NULL,
  plan text NOT NULL, sla_tier text NOT NULL, target text NOT NULL, hours int, queue boolean NOT NULL);
INSERT INTO fill_tenants VALUES\n",
    );
    for (slot, t) in tenants.iter().enumerate() {
        let sep = if slot + 1 == tenants.len() {
            ";\n"
        } else {
            ",\n"
        };
        sql.push_str(&format!(
            "({slot}, '{}', {}, '{}', '{}', {}, {}, {}){sep}",
            t.id,
            sql_text(&t.email),
            t.sla.plan,
            t.sla.tier,
            sql_text(t.sla.target),
            t.sla.hours.map_or("NULL".into(), |h| h.to_string()),
            t.sla.queue
        ));
    }
    sql.push_str(
        "CREATE TEMP TABLE fill_texts (k int PRIMARY KEY, category text NOT NULL,
  subject text NOT NULL, description text NOT NULL, tags text NOT NULL);
INSERT INTO fill_texts VALUES\n",
    );
    for (k, t) in texts.iter().enumerate() {
        let sep = if k + 1 == texts.len() { ";\n" } else { ",\n" };
        sql.push_str(&format!(
            "({k}, '{}', {}, {}, '{}'){sep}",
            t.category,
            sql_text(&t.subject),
            sql_text(&t.description),
            t.tags
        ));
    }
    sql.push_str("ANALYZE fill_tenants;\nANALYZE fill_texts;\n");
    let mut a = from;
    while a <= to {
        let b = (a + CHUNK - 1).min(to);
        sql.push_str(&pg_insert(a, b));
        a = b + 1;
    }
    sql
}

fn pg_array(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|w| format!("'{w}'")).collect();
    format!("(ARRAY[{}])", quoted.join(","))
}

/// `CASE c.st WHEN … THEN c.at + interval 'h hours' … END` for milestone `i`.
fn pg_milestone(i: usize) -> String {
    let mut seen = Vec::new();
    let mut case = String::from("CASE c.st");
    for st in STATUSES {
        if seen.contains(&st) {
            continue;
        }
        seen.push(st);
        if let Some(hours) = milestones(st)[i] {
            case.push_str(&format!(
                " WHEN '{st}' THEN c.at + interval '{hours} hours'"
            ));
        }
    }
    case.push_str(" END");
    case
}

fn pg_insert(a: u64, b: u64) -> String {
    let statuses = pg_array(&STATUSES);
    let priorities = pg_array(&PRIORITIES);
    let (fr, rs, cl) = (pg_milestone(0), pg_milestone(1), pg_milestone(2));
    format!(
        "INSERT INTO tickets (id, tenant_id, subject, category, priority, priority_rank, status,
  description, contact_email, plan_tier, sla_tier, sla_first_response_target, sla_priority_queue,
  first_response_due_at, first_response_at, charge_cents, charge_status, bounty_status,
  bounty_cents, email_status, email_reason, message_count, created_at, updated_at, resolved_at,
  closed_at, version, tags)
SELECT (lpad(to_hex(({BASE_S} + g * {STEP_S}) * 1000), 12, '0') || '70008000' || lpad(to_hex(g), 12, '0'))::uuid,
  t.id, replace(x.subject, '{{ref}}', c.ref), x.category, c.pr,
  CASE c.pr WHEN 'low' THEN 0 WHEN 'normal' THEN 1 WHEN 'high' THEN 2 ELSE 3 END, c.st,
  replace(x.description, '{{ref}}', c.ref)
    || CASE WHEN (g / {BIG_EVERY}) % 100 = 1 THEN ' {RARE_SENTENCE}' ELSE '' END,
  t.email, t.plan, t.sla_tier, t.target, t.queue, c.at + t.hours * interval '1 hour', m.fr,
  0, 'none', 'none', 0, 'skipped', '{EMAIL_REASON}', 1, c.at, COALESCE(m.cl, m.rs, m.fr, c.at),
  m.rs, m.cl, 1, x.tags
FROM generate_series({a}::bigint, {b}::bigint) g
CROSS JOIN LATERAL (SELECT to_timestamp({BASE_S} + g * {STEP_S}) AS at,
  ((g * 7919) % 9000000 + 1000000)::text AS ref,
  {statuses}[1 + ((g / 7) % 10)::int] AS st, {priorities}[1 + ((g / 3) % 6)::int] AS pr) c
CROSS JOIN LATERAL (SELECT {fr} AS fr, {rs} AS rs, {cl} AS cl) m
JOIN fill_texts x ON x.k = g % {TEXTS}
JOIN fill_tenants t ON t.slot = CASE WHEN g % {BIG_EVERY} = 0 THEN 0
  ELSE 1 + ((g * 2654435761) % 4294967296) / 256 % {SMALL_TENANTS} END;\n"
    )
}

/// The fill of tickets `from..=to` on SQLite: 500-row `INSERT`s, `CHUNK` per transaction.
fn sqlite_fill(tenants: &[FillTenant], texts: &[Text], from: u64, to: u64) -> String {
    // A page cache of 512 MB keeps the pages `ticket_words` is written to (a word's rows
    // per tenant, all over the index) in memory for the whole chunk.
    let mut sql =
        String::from(".timeout 60000\nPRAGMA synchronous = OFF;\nPRAGMA cache_size = -524288;\n");
    let time = |s: u64| format!("'{}'", crate::sqlite_time(s));
    let mut g = from;
    while g <= to {
        sql.push_str("BEGIN;\n");
        let end = (g + CHUNK).min(to + 1);
        while g < end {
            let chunk_end = (g + 500).min(end);
            sql.push_str("INSERT INTO tickets (id, tenant_id, subject, category, priority, priority_rank, status, description, contact_email, plan_tier, sla_tier, sla_first_response_target, sla_priority_queue, first_response_due_at, first_response_at, charge_cents, charge_status, bounty_status, bounty_cents, email_status, email_reason, message_count, created_at, updated_at, resolved_at, closed_at, version, tags) VALUES\n");
            for i in g..chunk_end {
                let at = BASE_S + i * STEP_S;
                let id = format!("{:012x}70008000{i:012x}", at * 1000);
                let t = &tenants[tenant_slot(i) as usize];
                let x = &texts[(i % TEXTS) as usize];
                let reference = ref_number(i).to_string();
                let mut description = x.description.replace("{ref}", &reference);
                if has_rare_word(i) {
                    description.push(' ');
                    description.push_str(RARE_SENTENCE);
                }
                let (priority, status) = (priority_of(i), status_of(i));
                let [fr, rs, cl] = milestones(status).map(|m| m.map(|h| at + h * 3600));
                let updated = cl.or(rs).or(fr).unwrap_or(at);
                let opt = |v: Option<u64>| v.map_or("NULL".to_string(), time);
                let sep = if i + 1 == chunk_end { ";\n" } else { ",\n" };
                sql.push_str(&format!(
                    "(X'{id}', {}, {}, '{}', '{priority}', {}, '{status}', {}, {}, '{}', '{}', {}, {}, {}, {}, 0, 'none', 'none', 0, 'skipped', '{EMAIL_REASON}', 1, {}, {}, {}, {}, 1, '{}'){sep}",
                    sql_uuid(false, t.id),
                    sql_text(&x.subject.replace("{ref}", &reference)),
                    x.category,
                    rank(priority),
                    sql_text(&description),
                    sql_text(&t.email),
                    t.sla.plan,
                    t.sla.tier,
                    sql_text(t.sla.target),
                    u8::from(t.sla.queue),
                    opt(t.sla.hours.map(|h| at + h * 3600)),
                    opt(fr),
                    time(at),
                    time(updated),
                    opt(rs),
                    opt(cl),
                    x.tags,
                ));
            }
            g = chunk_end;
        }
        sql.push_str("COMMIT;\n");
    }
    sql
}

/// What the check after a fill found.
struct Check {
    /// (tenant, status, category, priority) buckets whose kept count differs from the rows.
    tenant_mismatches: u64,
    /// (status, category, priority) buckets of the cross-tenant counts that differ.
    all_mismatches: u64,
    tickets: u64,
    big: u64,
    /// Tickets in the search index, and those the index finds the rare word in.
    indexed: u64,
    indexed_rare: u64,
    /// Tickets whose description holds the rare word.
    rare: u64,
}

/// The check of the kept counts and the search index against the rows, printed as one line
/// `a|b|c|…` by `psql` (unaligned, tuples only) or `sqlite3` (list mode).
fn check_sql(pg: bool, big: uuid::Uuid) -> String {
    let mismatches = |keys: &str, table: &str| {
        format!(
            "(SELECT count(*) FROM (SELECT {keys} FROM (
               SELECT {keys}, count(*) AS n FROM tickets GROUP BY {keys}
               UNION ALL
               SELECT {keys}, -sum(n) FROM {table} WHERE tag = '' GROUP BY {keys}) d
             GROUP BY {keys} HAVING sum(n) <> 0) e)"
        )
    };
    let (prelude, indexed, indexed_rare) = if pg {
        (
            "\\pset tuples_only on\n\\pset format unaligned\n",
            "(SELECT count(*) FROM tickets WHERE search_public <> ''::tsvector)".to_string(),
            format!(
                "(SELECT count(*) FROM tickets WHERE search_public @@ to_tsquery('simple', '{RARE_WORD}'))"
            ),
        )
    } else {
        (
            ".timeout 60000\n",
            "(SELECT count(*) FROM ticket_search_rows)".to_string(),
            // Both indexes must find it: FTS5 (every tenant's search, relevance) and each
            // tenant's `ticket_words`.
            format!(
                "min((SELECT count(*) FROM ticket_search WHERE ticket_search MATCH 'public:{RARE_WORD}'),
                     (SELECT count(*) FROM tenants n JOIN ticket_words w
                      ON w.tenant_id = n.id AND w.word = '{RARE_WORD}' AND w.public))"
            ),
        )
    };
    format!(
        "{prelude}SELECT {}, {}, (SELECT count(*) FROM tickets),
  (SELECT count(*) FROM tickets WHERE tenant_id = {}), {indexed}, {indexed_rare},
  (SELECT count(*) FROM tickets WHERE description LIKE '%{RARE_WORD}%');\n",
        mismatches("tenant_id, status, category, priority", "ticket_counts"),
        mismatches("status, category, priority", "ticket_counts_all"),
        sql_uuid(pg, big),
    )
}

fn parse_check(out: &str) -> Result<Check> {
    let line = out
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .context("the count check printed nothing")?;
    let v: Vec<u64> = line
        .split('|')
        .map(|f| f.trim().parse::<u64>())
        .collect::<Result<_, _>>()
        .with_context(|| format!("the count check printed {line:?}"))?;
    let &[
        tenant_mismatches,
        all_mismatches,
        tickets,
        big,
        indexed,
        indexed_rare,
        rare,
    ] = v.as_slice()
    else {
        bail!("the count check printed {line:?}");
    };
    Ok(Check {
        tenant_mismatches,
        all_mismatches,
        tickets,
        big,
        indexed,
        indexed_rare,
        rare,
    })
}

/// The ticket columns the API reads (not the search documents).
const COLUMNS: &str = "id, tenant_id, subject, category, priority, priority_rank, status, description, call_id, source_session_id, contact_email, plan_tier, sla_tier, sla_first_response_target, sla_priority_queue, first_response_due_at, first_response_at, charge_cents, charge_status, charge_entry_id, bounty_status, bounty_cents, email_status, email_reason, message_count, created_at, updated_at, resolved_at, closed_at, version, assignee_id, tags, merged_into";

/// The message columns the API reads.
const MESSAGE_COLUMNS: &str =
    "id, ticket_id, tenant_id, author, author_name, body, internal, created_at, merged_from";

/// The statement one read sends (the secret key is cached by the server, so no key lookup),
/// as a pgbench script (checked against the PostgreSQL statement log); `one` is the ticket of
/// "get one". A list reads its total in its page's statement (`list_total`).
fn pgbench_script(read: &str, tenant: uuid::Uuid, one: uuid::Uuid) -> String {
    let kept = |filter: &str| {
        format!(
            "(SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM ticket_counts WHERE tenant_id = '{tenant}' AND tag = ''{filter}) AS list_total"
        )
    };
    let qualified = |table: &str| -> String {
        COLUMNS
            .split(", ")
            .map(|c| format!("{table}.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match read {
        "list" => format!(
            "SELECT {COLUMNS}, {} FROM tickets WHERE tenant_id = '{tenant}' ORDER BY id DESC LIMIT 51 OFFSET 0;\n",
            kept("")
        ),
        "filtered" => format!(
            "SELECT {COLUMNS}, {} FROM tickets WHERE tenant_id = '{tenant}' AND status = 'open' AND priority = 'high' ORDER BY id DESC LIMIT 51 OFFSET 0;\n",
            kept(" AND status = 'open' AND priority = 'high'")
        ),
        "search" => {
            // The tenant's word, counted up to the cap and walked in ticket-id order
            // (`ticket_words`).
            let word = format!(
                "w0.tenant_id = '{tenant}' AND w0.word = lower('{RARE_WORD}') COLLATE \"C\" AND w0.public"
            );
            format!(
                "SELECT {}, (SELECT COUNT(*) FROM (SELECT 1 FROM ticket_words w0 WHERE {word} LIMIT 1001) capped) AS list_total FROM tickets JOIN ticket_words w0 ON {word} AND w0.ticket_id = tickets.id WHERE tickets.tenant_id = '{tenant}' ORDER BY w0.ticket_id DESC LIMIT 51 OFFSET 0;\n",
                qualified("tickets")
            )
        }
        "inbox" => format!(
            "SELECT {COLUMNS}, (SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM ticket_counts_all WHERE tag = '' AND status = 'open') AS list_total FROM tickets WHERE status = 'open' ORDER BY inbox_rank ASC, inbox_due ASC, id ASC LIMIT 51 OFFSET 0;\n"
        ),
        "get" => {
            // The ticket left-joined to its thread's first messages (`ticket_with_thread`).
            let message_columns = MESSAGE_COLUMNS
                .split(", ")
                .map(|c| format!("messages.{c}"))
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "SELECT {}, {message_columns} FROM tickets LEFT JOIN messages ON messages.ticket_id = tickets.id AND messages.id IN (SELECT messages.id FROM messages WHERE messages.ticket_id = '{one}' AND messages.internal = false ORDER BY messages.id ASC LIMIT 51) WHERE tickets.id = '{one}' AND tickets.tenant_id = '{tenant}' ORDER BY messages.id ASC;\n",
                qualified("tickets")
            )
        }
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
    let tag = crate::run_tag();
    let resp = ctx
        .client
        .post(ctx.url("/admin/tenants"))
        .bearer_auth(&ctx.args.admin_token)
        .json(&json!({"name": format!("Scale {tag}"), "email": "scale@bench.test", "plan": "enterprise", "balance_cents": 100_000_000}))
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
    let one_id: uuid::Uuid = one
        .strip_prefix("tkt_")
        .unwrap_or(&one)
        .parse()
        .with_context(|| format!("ticket id {one}"))?;

    // The 999 other tenants, seeded like `tenants`.
    let small: Vec<SeedTenant> = (1..=SMALL_TENANTS)
        .map(|slot| SeedTenant {
            id: uuid::Uuid::now_v7(),
            name: format!("Scale tenant {slot} {tag}"),
            email: format!("s{slot}@{tag}.scale.bench.test").to_lowercase(),
            plan: small_plan(slot).plan,
            token: crate::tenant_token(&tag, slot as usize),
        })
        .collect();
    crate::run_seed(&seed, &crate::seed_tenants_sql(pg, &small)?).await?;
    let tenants: Vec<FillTenant> = std::iter::once(FillTenant {
        id: tenant,
        email: "scale@bench.test".into(),
        sla: &PLANS[3],
    })
    .chain(small.iter().enumerate().map(|(i, t)| FillTenant {
        id: t.id,
        email: t.email.clone(),
        sla: small_plan(i as u64 + 1),
    }))
    .collect();
    let texts: Vec<Text> = (0..TEXTS).map(text).collect();

    let mut rows = Vec::new();
    // Ticket numbers filled so far (the API's ticket is the first of the size).
    let mut filled = 1u64;
    for &size in &ctx.args.scale_sizes {
        let mut fill = BTreeMap::new();
        if size > filled {
            let start = Instant::now();
            let (from, to) = (filled, size - 1);
            if pg {
                crate::run_seed(&seed, &pg_fill(&tenants, &texts, from, to)).await?;
                crate::run_seed(
                    &seed,
                    // The checkpoint writes the fill's dirty pages out now, not during the
                    // reads measured next.
                    "VACUUM ANALYZE tickets; VACUUM ANALYZE ticket_words; ANALYZE ticket_counts; ANALYZE ticket_counts_all; CHECKPOINT;\n",
                )
                .await?;
            } else {
                // One `sqlite3` per chunk keeps the SQL text bounded.
                let mut a = from;
                while a <= to {
                    let b = (a + CHUNK - 1).min(to);
                    crate::run_seed(&seed, &sqlite_fill(&tenants, &texts, a, b)).await?;
                    a = b + 1;
                }
                crate::run_seed(&seed, ".timeout 60000\nANALYZE;\n").await?;
            }
            let fill_s = start.elapsed().as_secs_f64();
            let start = Instant::now();
            let check = parse_check(&crate::seed_output(&seed, &check_sql(pg, tenant)).await?)?;
            let check_s = start.elapsed().as_secs_f64();
            if check.tenant_mismatches + check.all_mismatches > 0 {
                bail!(
                    "kept counts differ from the rows after the fill to {size}: {} tenant buckets, {} cross-tenant buckets",
                    check.tenant_mismatches,
                    check.all_mismatches
                );
            }
            if check.indexed != check.tickets || check.indexed_rare != check.rare {
                bail!(
                    "search index differs from the rows after the fill to {size}: {} of {} tickets indexed, the rare word found in {} of {}",
                    check.indexed,
                    check.tickets,
                    check.indexed_rare,
                    check.rare
                );
            }
            eprintln!(
                "[bench] scale: filled to {size} tickets in {fill_s:.0} s ({} in the database, {} in the big tenant, the rare word in {}); counts and search index checked in {check_s:.1} s",
                check.tickets, check.big, check.rare
            );
            fill.insert("fill_s".to_string(), json!(fill_s));
            fill.insert("check_s".to_string(), json!(check_s));
            fill.insert("tickets_in_db".to_string(), json!(check.tickets));
            fill.insert("big_tenant_tickets".to_string(), json!(check.big));
            fill.insert("rare_word_tickets".to_string(), json!(check.rare));
            filled = size;
        }
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
            let req = crate::wire::Request::get(path.as_str()).bearer(token.as_str());
            let make: MakeRequest = Arc::new(move |_| req.clone());
            let mut runs = Vec::new();
            let mut baselines = Vec::new();
            for _ in 0..ctx.args.scale_repeats.max(1) {
                runs.push(
                    ctx.timed(None, make.clone(), 200, &format!("scale {read} @{size}"))
                        .await,
                );
                if let Some(url) = &ctx.args.pgbench_url {
                    let script = pgbench_script(read, tenant, one_id);
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
            extra.extend(fill.clone());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_big_tenant_holds_a_fifth_at_every_size() {
        for size in [1_000u64, 100_000, 1_000_000] {
            // Ticket numbers 1..size plus the API's ticket, which is the big tenant's.
            let big = (1..size).filter(|&g| tenant_slot(g) == 0).count() as u64 + 1;
            assert_eq!(big, size / 5, "size {size}");
        }
        let mut per_slot = vec![0u64; SMALL_TENANTS as usize + 1];
        for g in 1..1_000_000 {
            per_slot[tenant_slot(g) as usize] += 1;
        }
        let small = &per_slot[1..];
        let (min, max) = (small.iter().min(), small.iter().max());
        // 800,000 over 999 tenants: every tenant has tickets, none more than ~2x the mean.
        assert!(min.is_some_and(|&m| m > 400), "{min:?}");
        assert!(max.is_some_and(|&m| m < 1_600), "{max:?}");
    }

    #[test]
    fn the_rare_word_is_in_one_ticket_in_a_hundred_of_every_tenant() {
        let n = 1_000_000u64;
        let big: Vec<u64> = (1..n).filter(|&g| tenant_slot(g) == 0).collect();
        let big_rare = big.iter().filter(|&&g| has_rare_word(g)).count();
        assert_eq!(big_rare, big.len().div_ceil(100));
        let others = (1..n).filter(|&g| tenant_slot(g) != 0);
        let (all, rare) = others.fold((0u64, 0u64), |(a, r), g| {
            (a + 1, r + u64::from(has_rare_word(g)))
        });
        assert_eq!(rare * 100, all);
    }

    #[test]
    fn texts_read_like_tickets_and_vary_in_length() {
        let texts: Vec<Text> = (0..TEXTS).map(text).collect();
        let lengths: Vec<usize> = texts.iter().map(|t| t.description.len()).collect();
        assert!(lengths.iter().min().is_some_and(|&l| l < 120));
        assert!(lengths.iter().max().is_some_and(|&l| l > 600));
        for (category, _) in TOPICS {
            assert!(texts.iter().any(|t| t.category == category), "{category}");
        }
        for t in &texts {
            for s in [&t.subject, &t.description] {
                assert!(!s.contains(RARE_WORD), "{s}");
                // Only the per-ticket reference is left to fill.
                assert!(!s.replace("{ref}", "").contains('{'), "{s}");
            }
        }
        let tagged = texts.iter().filter(|t| !t.tags.is_empty()).count();
        assert!((500..1500).contains(&tagged), "{tagged}");
    }

    #[test]
    fn the_check_line_parses_and_refuses_garbage() {
        let c = parse_check("Tuples only is on.\n0|0|1000|200|1000|10|10\n")
            .expect("a full check line");
        assert_eq!(
            (c.tenant_mismatches, c.all_mismatches, c.tickets, c.big),
            (0, 0, 1000, 200)
        );
        assert_eq!((c.indexed, c.indexed_rare, c.rare), (1000, 10, 10));
        assert!(parse_check("0|0|1000\n").is_err());
        assert!(parse_check("").is_err());
    }
}
