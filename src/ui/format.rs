//! How numbers and times read on a page.
use chrono::{DateTime, Utc};

/// `3d 4h`, `2h 05m`, `12m`, `40s`: the largest two units of a duration.
pub fn span(seconds: i64) -> String {
    let s = seconds.unsigned_abs();
    let (d, h, m) = (s / 86_400, (s % 86_400) / 3_600, (s % 3_600) / 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m:02}m")
    } else if m > 0 {
        format!("{m}m")
    } else {
        format!("{s}s")
    }
}

/// `in 2h 05m` or `5m ago`, relative to `now`.
pub fn relative(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (at - now).num_seconds();
    if secs >= 0 {
        format!("in {}", span(secs))
    } else {
        format!("{} ago", span(secs))
    }
}

/// `2026-12-01 17:05 UTC`.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The machine-readable form for `<time datetime>` and the script.
pub fn iso(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `$12.34`, `−$0.50`.
pub fn money(cents: i64) -> String {
    let sign = if cents < 0 { "−" } else { "" };
    let c = cents.unsigned_abs();
    format!("{sign}${}.{:02}", c / 100, c % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_and_money_read_well() {
        assert_eq!(span(40), "40s");
        assert_eq!(span(12 * 60 + 5), "12m");
        assert_eq!(span(2 * 3600 + 5 * 60), "2h 05m");
        assert_eq!(span(-(3 * 86_400 + 4 * 3600)), "3d 4h");
        assert_eq!(money(1234), "$12.34");
        assert_eq!(money(-50), "−$0.50");
    }
}
