//! Configuration from the environment (and an optional `helpline.toml` with the same keys),
//! validated once at start. A bad value is reported as one line naming the variable.
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::domain::sla::BusinessHours;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitBackend {
    Local,
    Redis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database_url: String,
    pub redis_url: Option<String>,
    /// Namespace of this deployment's Redis keys (`HELPLINE_REDIS_PREFIX`, default `helpline:`).
    pub redis_prefix: String,
    pub admin_token: Option<String>,
    pub resend_api_key: Option<String>,
    pub resend_base_url: String,
    pub support_inbox: String,
    pub email_from: String,
    pub ops_webhook_url: Option<String>,
    pub ops_webhook_secret: Option<String>,
    pub billing_url: Option<String>,
    pub webhook_retry_schedule: Vec<Duration>,
    pub allow_private_targets: bool,
    pub ticket_fee_cents: i64,
    pub bounty_cents: i64,
    pub start_balance_cents: i64,
    pub rate_limit_backend: RateLimitBackend,
    pub business_hours: BusinessHours,
    pub log_format: LogFormat,
    /// Peers whose `X-Forwarded-For` is believed; empty means the socket peer is the client.
    pub trusted_proxies: Vec<IpAddr>,
    /// How long a tenant actor may sit idle before it stops.
    pub actor_idle: Duration,
    /// How long a `429` waits while admitted requests are in flight (0 = never).
    pub refusal_pace: Duration,
    /// Database connections per process (default: 32 on PostgreSQL, 8 on SQLite).
    pub db_pool_size: Option<u32>,
    /// The embedded SQLite queue's file, used when `REDIS_URL` is unset.
    pub queue_url: String,
    /// First email retry delay (doubling after that).
    pub email_backoff: Duration,
    /// First billing-report retry delay (doubling after that).
    pub billing_backoff: Duration,
    /// Jobs each worker process runs at once, per queue other than webhooks.
    pub worker_concurrency: usize,
    /// Webhook deliveries each worker process makes at once (mostly waiting on receivers).
    pub webhook_concurrency: usize,
    /// How often the outbox relay sweeps for due rows when nothing nudges it.
    pub outbox_sweep: Duration,
    /// Work still pending this long after it was due is queued again.
    pub recovery_grace: Duration,
    /// Names this machine for telling dead processes from live ones (default: the boot id and
    /// pid namespace). Processes sharing one must see each other's pids.
    pub host_id: Option<String>,
    /// How long the event feed keeps events (streams resume within it).
    pub event_retention: Duration,
    /// Event streams one tenant may hold open on one node.
    pub streams_per_tenant: usize,
    /// A browser session unused this long is over (`HELPLINE_SESSION_IDLE`, default 12 h).
    pub session_idle: Duration,
    /// The base of links this service hands out (`HELPLINE_PUBLIC_URL`, e.g. the Support
    /// tab's portal links); unset: the address this process listens on
    /// ([`local_url`] of the bound socket).
    pub public_url: Option<String>,
}

/// One bad setting: `invalid <VAR>: <why>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {var}: {message}")]
pub struct ConfigError {
    pub var: String,
    pub message: String,
}

impl ConfigError {
    fn new(var: &str, message: impl Into<String>) -> Self {
        Self {
            var: var.to_string(),
            message: message.into(),
        }
    }
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite://helpline-data/helpline.db?mode=rwc";

impl Config {
    /// Reads the process environment, then `helpline.toml` in the working directory if present.
    pub fn from_env() -> Result<Self, ConfigError> {
        let file = read_toml_file("helpline.toml")?;
        Self::from_lookup(|key| std::env::var(key).ok().or_else(|| file.get(key).cloned()))
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |key: &str| lookup(key).filter(|v| !v.trim().is_empty());
        let text = |key: &str, default: &str| get(key).unwrap_or_else(|| default.to_string());

        let listen = parse_or(&get, "HELPLINE_LISTEN", "127.0.0.1:8080", |v| {
            v.parse::<SocketAddr>()
                .map_err(|_| "expected host:port, e.g. 127.0.0.1:8080".to_string())
        })?;
        let database_url = text("DATABASE_URL", DEFAULT_DATABASE_URL);
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(ConfigError::new(
                "DATABASE_URL",
                "expected a sqlite:// or postgres:// URL",
            ));
        }
        let queue_url =
            get("HELPLINE_QUEUE_URL").unwrap_or_else(|| default_queue_url(&database_url));
        let redis_url = get("REDIS_URL");
        if let Some(url) = &redis_url
            && !(url.starts_with("redis://") || url.starts_with("rediss://"))
        {
            return Err(ConfigError::new(
                "REDIS_URL",
                "expected a redis:// or rediss:// URL",
            ));
        }
        let resend_base_url =
            parse_or(&get, "RESEND_BASE_URL", "https://api.resend.com", http_url)?;
        let ops_webhook_url = get("HELPLINE_OPS_WEBHOOK_URL")
            .map(|v| http_url(&v).map_err(|m| ConfigError::new("HELPLINE_OPS_WEBHOOK_URL", m)))
            .transpose()?;
        let ops_webhook_secret = get("HELPLINE_OPS_WEBHOOK_SECRET");
        let public_url = get("HELPLINE_PUBLIC_URL")
            .map(|v| public_base(&v).map_err(|m| ConfigError::new("HELPLINE_PUBLIC_URL", m)))
            .transpose()?;
        if ops_webhook_url.is_some() && ops_webhook_secret.is_none() {
            return Err(ConfigError::new(
                "HELPLINE_OPS_WEBHOOK_SECRET",
                "required when HELPLINE_OPS_WEBHOOK_URL is set",
            ));
        }
        let billing_url = get("HELPLINE_BILLING_URL")
            .map(|v| http_url(&v).map_err(|m| ConfigError::new("HELPLINE_BILLING_URL", m)))
            .transpose()?;
        let webhook_retry_schedule = parse_or(
            &get,
            "HELPLINE_WEBHOOK_RETRY_SCHEDULE",
            "0s,5s,5m,30m,2h,5h,10h,10h",
            parse_schedule,
        )?;
        let rate_limit_backend =
            parse_or(&get, "HELPLINE_RATE_LIMIT_BACKEND", "local", |v| match v {
                "local" => Ok(RateLimitBackend::Local),
                "redis" => Ok(RateLimitBackend::Redis),
                _ => Err("expected `local` or `redis`".to_string()),
            })?;
        if rate_limit_backend == RateLimitBackend::Redis && redis_url.is_none() {
            return Err(ConfigError::new(
                "HELPLINE_RATE_LIMIT_BACKEND",
                "`redis` needs REDIS_URL to be set",
            ));
        }
        let log_format = parse_or(&get, "HELPLINE_LOG_FORMAT", "text", |v| match v {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err("expected `text` or `json`".to_string()),
        })?;
        let trusted_proxies = parse_or(&get, "HELPLINE_TRUSTED_PROXIES", "", |v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.parse::<IpAddr>()
                        .map_err(|_| format!("`{s}` is not an IP address"))
                })
                .collect()
        })?;

        Ok(Self {
            listen,
            database_url,
            redis_url,
            redis_prefix: text("HELPLINE_REDIS_PREFIX", "helpline:"),
            admin_token: get("HELPLINE_ADMIN_TOKEN"),
            resend_api_key: get("RESEND_API_KEY"),
            resend_base_url,
            support_inbox: text("HELPLINE_SUPPORT_INBOX", "support@localhost"),
            email_from: text("HELPLINE_EMAIL_FROM", "Helpline <support@localhost>"),
            ops_webhook_url,
            ops_webhook_secret,
            billing_url,
            webhook_retry_schedule,
            allow_private_targets: parse_or(
                &get,
                "HELPLINE_ALLOW_PRIVATE_TARGETS",
                "false",
                parse_bool,
            )?,
            ticket_fee_cents: parse_or(&get, "HELPLINE_TICKET_FEE_CENTS", "1", cents)?,
            bounty_cents: parse_or(&get, "HELPLINE_BOUNTY_CENTS", "100", cents)?,
            start_balance_cents: parse_or(&get, "HELPLINE_START_BALANCE_CENTS", "100", cents)?,
            rate_limit_backend,
            business_hours: parse_or(
                &get,
                "HELPLINE_BUSINESS_HOURS",
                "Mon-Fri 09:00-17:00 UTC",
                |v| v.parse::<BusinessHours>(),
            )?
            .with_hour(parse_or(&get, "HELPLINE_SLA_HOUR", "1h", |v| {
                parse_duration(v).and_then(|d| {
                    if d.is_zero() {
                        Err("must be longer than 0s".to_string())
                    } else {
                        Ok(d)
                    }
                })
            })?),
            log_format,
            trusted_proxies,
            actor_idle: parse_or(&get, "HELPLINE_ACTOR_IDLE", "60s", parse_duration)?,
            refusal_pace: parse_or(&get, "HELPLINE_REFUSAL_PACE", "10ms", parse_duration)?,
            queue_url,
            email_backoff: parse_or(&get, "HELPLINE_EMAIL_BACKOFF", "2s", parse_duration)?,
            billing_backoff: parse_or(&get, "HELPLINE_BILLING_BACKOFF", "5s", parse_duration)?,
            worker_concurrency: parse_or(&get, "HELPLINE_WORKER_CONCURRENCY", "16", concurrency)?,
            webhook_concurrency: parse_or(
                &get,
                "HELPLINE_WEBHOOK_CONCURRENCY",
                "128",
                concurrency,
            )?,
            outbox_sweep: parse_or(&get, "HELPLINE_OUTBOX_SWEEP", "250ms", parse_duration)?,
            recovery_grace: parse_or(&get, "HELPLINE_RECOVERY_GRACE", "60s", parse_duration)?,
            host_id: get("HELPLINE_HOST_ID")
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty()),
            event_retention: parse_or(&get, "HELPLINE_EVENT_RETENTION", "7d", |v| {
                parse_duration(v).and_then(|d| {
                    if d.is_zero() {
                        Err("the feed must keep events for some time".to_string())
                    } else {
                        Ok(d)
                    }
                })
            })?,
            streams_per_tenant: parse_or(&get, "HELPLINE_STREAMS_PER_TENANT", "20", concurrency)?,
            session_idle: parse_or(&get, "HELPLINE_SESSION_IDLE", "12h", |v| {
                parse_duration(v).and_then(|d| {
                    if d.is_zero() {
                        Err("a session must last some time".to_string())
                    } else {
                        Ok(d)
                    }
                })
            })?,
            public_url,
            db_pool_size: get("HELPLINE_DB_POOL_SIZE")
                .map(|v| match v.trim().parse::<u32>() {
                    Ok(n) if (1..=1000).contains(&n) => Ok(n),
                    _ => Err(ConfigError::new(
                        "HELPLINE_DB_POOL_SIZE",
                        "expected a number from 1 to 1000",
                    )),
                })
                .transpose()?,
        })
    }
}

/// The SQLite queue lives next to a SQLite database, else in `helpline-data/`.
fn default_queue_url(database_url: &str) -> String {
    let dir = database_url
        .strip_prefix("sqlite://")
        .and_then(|rest| rest.split('?').next())
        .filter(|path| !path.is_empty() && !path.contains(":memory:"))
        .and_then(|path| std::path::Path::new(path).parent())
        .map(|dir| dir.display().to_string())
        .filter(|dir| !dir.is_empty())
        .unwrap_or_else(|| "helpline-data".to_string());
    format!("sqlite://{dir}/queue.db?mode=rwc")
}

fn concurrency(v: &str) -> Result<usize, String> {
    match v.parse::<usize>() {
        Ok(n) if (1..=1024).contains(&n) => Ok(n),
        _ => Err("expected a number from 1 to 1024".into()),
    }
}

fn parse_or<T>(
    get: &impl Fn(&str) -> Option<String>,
    var: &str,
    default: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<T, ConfigError> {
    let raw = get(var).unwrap_or_else(|| default.to_string());
    parse(raw.trim()).map_err(|m| ConfigError::new(var, m))
}

fn read_toml_file(path: &str) -> Result<HashMap<String, String>, ConfigError> {
    let Ok(raw) = std::fs::read_to_string(path) else {
        return Ok(HashMap::new());
    };
    let table: toml::Table =
        toml::from_str(&raw).map_err(|e| ConfigError::new(path, e.message().to_string()))?;
    table
        .into_iter()
        .map(|(key, value)| {
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => {
                    return Err(ConfigError::new(
                        &key,
                        format!("unsupported value in {path}: {other}"),
                    ));
                }
            };
            Ok((key, text))
        })
        .collect()
}

fn http_url(v: &str) -> Result<String, String> {
    let url = url::Url::parse(v).map_err(|e| format!("not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("expected an http:// or https:// URL".into());
    }
    Ok(v.trim_end_matches('/').to_string())
}

/// A base URL links are built on: `http(s)://host[:port][/prefix]`, no query or fragment.
fn public_base(v: &str) -> Result<String, String> {
    let base = http_url(v.trim())?;
    let url = url::Url::parse(&base).map_err(|e| format!("not a URL ({e})"))?;
    if url.host().is_none() || url.query().is_some() || url.fragment().is_some() {
        return Err("expected a base URL like https://support.example.com".into());
    }
    Ok(base)
}

/// The URL a process listening on `bound` answers on, for a person on this machine: a
/// wildcard bind is reached through loopback.
pub fn local_url(bound: SocketAddr) -> String {
    use std::net::{Ipv4Addr, Ipv6Addr};
    let ip = match bound.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, bound.port()))
}

fn parse_bool(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

fn cents(v: &str) -> Result<i64, String> {
    match v.parse::<i64>() {
        Ok(n) if n >= 0 => Ok(n),
        _ => Err("expected a whole number of cents, 0 or more".into()),
    }
}

/// `90s`, `5m`, `2h`, `1d` or a bare number of seconds.
pub fn parse_duration(v: &str) -> Result<Duration, String> {
    let v = v.trim();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (digits, unit) = v.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{v}` is not a duration like 30s, 5m or 2h"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        "ms" => return Ok(Duration::from_millis(n)),
        _ => return Err(format!("`{v}` is not a duration like 30s, 5m or 2h")),
    };
    Ok(Duration::from_secs(secs))
}

fn parse_schedule(v: &str) -> Result<Vec<Duration>, String> {
    let schedule = v
        .split(',')
        .map(parse_duration)
        .collect::<Result<Vec<_>, _>>()?;
    if schedule.is_empty() {
        return Err("needs at least one delay".into());
    }
    Ok(schedule)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_match_the_spec() {
        let c = config(&[]).expect("defaults are valid");
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(c.ticket_fee_cents, 1);
        assert_eq!(c.bounty_cents, 100);
        assert_eq!(c.start_balance_cents, 100);
        assert_eq!(c.webhook_retry_schedule.len(), 8);
        assert_eq!(c.webhook_retry_schedule[3], Duration::from_secs(1800));
        assert_eq!(c.rate_limit_backend, RateLimitBackend::Local);
        assert!(!c.allow_private_targets);
        assert_eq!(c.event_retention, Duration::from_secs(7 * 86_400));
        assert_eq!(c.streams_per_tenant, 20);
        assert_eq!(c.public_url, None);
    }

    #[test]
    fn the_public_url_is_a_base_without_trailing_slash() {
        let c = config(&[("HELPLINE_PUBLIC_URL", "https://support.example.com/")]).expect("ok");
        assert_eq!(c.public_url.as_deref(), Some("https://support.example.com"));
        assert_eq!(
            local_url("0.0.0.0:8080".parse().expect("addr")),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            local_url("[::]:80".parse().expect("addr")),
            "http://[::1]:80"
        );
    }

    #[test]
    fn each_bad_value_names_its_variable() {
        for (var, value) in [
            ("HELPLINE_LISTEN", "nope"),
            ("DATABASE_URL", "mysql://x"),
            ("REDIS_URL", "http://x"),
            ("HELPLINE_TICKET_FEE_CENTS", "-1"),
            ("HELPLINE_BOUNTY_CENTS", "1.5"),
            ("HELPLINE_WEBHOOK_RETRY_SCHEDULE", "5s,soon"),
            ("HELPLINE_ALLOW_PRIVATE_TARGETS", "maybe"),
            ("HELPLINE_RATE_LIMIT_BACKEND", "memcached"),
            ("HELPLINE_BUSINESS_HOURS", "Mon-Fri 17:00-09:00 UTC"),
            ("RESEND_BASE_URL", "ftp://x"),
            ("HELPLINE_PUBLIC_URL", "support.example.com"),
            ("HELPLINE_PUBLIC_URL", "https://support.example.com/?x=1"),
        ] {
            let err = config(&[(var, value)]).expect_err(var);
            assert_eq!(err.var, var);
            assert!(err.to_string().starts_with(&format!("invalid {var}: ")));
        }
    }

    #[test]
    fn redis_rate_limits_need_redis() {
        let err = config(&[("HELPLINE_RATE_LIMIT_BACKEND", "redis")]).expect_err("no redis");
        assert_eq!(err.var, "HELPLINE_RATE_LIMIT_BACKEND");
        assert!(
            config(&[
                ("HELPLINE_RATE_LIMIT_BACKEND", "redis"),
                ("REDIS_URL", "redis://127.0.0.1:6379")
            ])
            .is_ok()
        );
    }

    #[test]
    fn the_queue_file_sits_next_to_a_sqlite_database() {
        assert_eq!(
            default_queue_url(DEFAULT_DATABASE_URL),
            "sqlite://helpline-data/queue.db?mode=rwc"
        );
        assert_eq!(
            default_queue_url("sqlite:///var/lib/h/h.db"),
            "sqlite:///var/lib/h/queue.db?mode=rwc"
        );
        assert_eq!(
            default_queue_url("postgres://x/y"),
            "sqlite://helpline-data/queue.db?mode=rwc"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("10h"), Ok(Duration::from_secs(36_000)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("h").is_err());
    }
}
