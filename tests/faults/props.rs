//! Hostile input, property-tested (issue 10 "Hostile input"): every parser of untrusted input
//! never panics on anything, and what it accepts satisfies the documented rules and
//! round-trips. Parsers: E.164 numbers, emails, `Idempotency-Key`s, list cursors, prefixed
//! path ids, JSON bodies, webhook URLs (and the SSRF address check), webhook signatures.
use helpline::domain::ids::TicketId;
use helpline::domain::validate::{E164Number, Email, IdempotencyKey};
use helpline::http::json::parse_json;
use helpline::pagination::{decode_cursor, encode_cursor};
use proptest::prelude::*;
use serde::Deserialize;
use serde_json::Value;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 1024,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Any string, biased toward the characters these parsers care about.
fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[+0-9 @.\\-a-zA-Z_%:/\\[\\]\\t\\n\\u{0}\\u{202e}\\u{ff10}]{0,40}",
        ".{0,300}",
    ]
}

/// The documented E.164 rule, written independently: `+` then 2–15 ASCII digits, first not 0.
fn is_e164(s: &str) -> bool {
    let Some(digits) = s.strip_prefix('+') else {
        return false;
    };
    (2..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn e164_accepts_exactly_the_documented_shape(raw in hostile_text()) {
        match E164Number::parse(&raw) {
            Ok(n) => {
                prop_assert_eq!(n.as_str(), raw.trim());
                prop_assert!(is_e164(n.as_str()), "accepted {:?}", n.as_str());
                prop_assert_eq!(E164Number::parse(n.as_str()).ok(), Some(n.clone()));
            }
            Err(e) => {
                prop_assert!(!is_e164(raw.trim()), "refused {:?}", raw);
                prop_assert_eq!(e.field, "number");
            }
        }
    }

    #[test]
    fn e164_accepts_every_valid_number(raw in "\\+[1-9][0-9]{1,14}") {
        prop_assert_eq!(E164Number::parse(&raw).map(|n| n.into_inner()).ok(), Some(raw));
    }

    #[test]
    fn e164_refuses_near_misses(raw in "\\+?[0-9]{0,17}|\\+0[0-9]{1,14}|\\+[1-9][0-9]{15,20}|\\+[1-9][0-9 a-]{1,14}") {
        prop_assert_eq!(E164Number::parse(&raw).is_ok(), is_e164(raw.trim()));
    }

    #[test]
    fn email_never_panics_and_accepted_addresses_are_well_formed(raw in hostile_text()) {
        if let Ok(email) = Email::parse(&raw, "contact_email") {
            let s = email.as_str();
            prop_assert!(s.chars().count() <= 254);
            prop_assert_eq!(s.matches('@').count(), 1, "{}", s);
            let (local, domain) = s.split_once('@').expect("one @");
            prop_assert!(!local.is_empty() && local.chars().count() <= 64);
            prop_assert!(!local.chars().any(|c| c.is_whitespace() || c.is_control()));
            prop_assert!(domain.contains('.'));
            prop_assert!(domain.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-'));
            // Parsing is idempotent: a stored address parses to itself.
            prop_assert_eq!(Email::parse(s, "contact_email").ok(), Some(email.clone()));
        }
    }

    #[test]
    fn email_accepts_ordinary_addresses(
        local in "[a-zA-Z0-9._%+]{1,30}",
        labels in proptest::collection::vec("[a-zA-Z0-9]{1,12}", 1..4),
        tld in "[a-zA-Z]{2,8}",
    ) {
        let raw = format!("{local}@{}.{tld}", labels.join("."));
        let parsed = Email::parse(&raw, "email").expect("an ordinary address");
        prop_assert_eq!(parsed.as_str(), format!("{local}@{}", raw.split_once('@').expect("@").1.to_ascii_lowercase()));
    }

    #[test]
    fn idempotency_keys_are_1_to_255_printable_ascii(raw in prop_oneof![hostile_text(), "[ -~]{250,260}"]) {
        let documented = !raw.is_empty() && raw.len() <= 255 && raw.bytes().all(|b| (b' '..=b'~').contains(&b));
        match IdempotencyKey::parse(&raw) {
            Ok(key) => {
                prop_assert!(documented, "accepted {:?}", raw);
                prop_assert_eq!(key.as_str(), raw.as_str());
            }
            Err(e) => {
                prop_assert!(!documented, "refused {:?}", raw);
                prop_assert_eq!(e.field, "Idempotency-Key");
            }
        }
    }

    #[test]
    fn cursors_never_panic_and_only_canonical_ones_decode(raw in prop_oneof![hostile_text(), "[A-Za-z0-9_\\-]{20,24}"]) {
        match decode_cursor(&raw) {
            Ok(id) => prop_assert_eq!(encode_cursor(id), raw),
            Err(e) => {
                let e = helpline::http::error::ApiError::from(e);
                prop_assert_eq!(e.status.as_u16(), 400);
                prop_assert_eq!(e.detail.as_deref(), Some("cursor"));
            }
        }
    }

    #[test]
    fn cursors_round_trip(bytes in any::<[u8; 16]>()) {
        let id = uuid::Uuid::from_bytes(bytes);
        prop_assert_eq!(decode_cursor(&encode_cursor(id)).ok(), Some(id));
    }

    #[test]
    fn path_ids_never_panic_and_round_trip(raw in prop_oneof![hostile_text(), "tkt_[0-9a-fA-F]{30,34}", "tkt_.{32}"]) {
        if let Ok(id) = raw.parse::<TicketId>() {
            // Only the exact form ids are shown in is accepted.
            prop_assert_eq!(id.to_string(), raw);
        }
    }

    #[test]
    fn json_bodies_never_panic_on_arbitrary_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        check_json_outcome(&body)?;
    }

    #[test]
    fn json_bodies_never_panic_on_json_like_text(body in json_like()) {
        check_json_outcome(body.as_bytes())?;
    }

    #[test]
    fn json_bodies_never_panic_on_arbitrary_json(value in arbitrary_json()) {
        check_json_outcome(value.to_string().as_bytes())?;
    }

    #[test]
    fn webhook_urls_never_panic_and_accepted_ones_are_http_with_a_host(raw in prop_oneof![
        hostile_text(),
        "(https?|ftp|file|gopher|javascript|data)://[a-z0-9.:@\\[\\]%\\-]{0,30}(/[ -~]{0,20})?",
    ]) {
        if let Ok(url) = workers::ssrf::parse(&raw) {
            prop_assert!(matches!(url.scheme(), "http" | "https"), "{}", url);
            prop_assert!(url.host().is_some(), "{}", url);
        }
    }

    #[test]
    fn private_and_loopback_addresses_are_always_forbidden(
        kind in 0..8u8, a in any::<u8>(), b in any::<u8>(), c in any::<u8>(), wrap in 0..5u8,
    ) {
        let v4 = match kind {
            0 => [127, a, b, c],
            1 => [10, a, b, c],
            2 => [172, 16 + (a % 16), b, c],
            3 => [192, 168, b, c],
            4 => [169, 254, b, c],
            5 => [100, 64 + (a % 64), b, c],
            6 => [198, 18 + (a % 2), b, c],
            _ => [0, a, b, c],
        };
        let ip = std::net::Ipv4Addr::from(v4);
        let [hi, lo] = [u16::from_be_bytes([v4[0], v4[1]]), u16::from_be_bytes([v4[2], v4[3]])];
        // Every way IPv6 embeds an IPv4 address: mapped, NAT64, IPv4-compatible, 6to4.
        let ip = match wrap {
            0 => std::net::IpAddr::V4(ip),
            1 => std::net::IpAddr::V6(ip.to_ipv6_mapped()),
            2 => std::net::IpAddr::V6(std::net::Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, hi, lo)),
            3 => std::net::IpAddr::V6(std::net::Ipv6Addr::new(0, 0, 0, 0, 0, 0, hi, lo)),
            _ => std::net::IpAddr::V6(std::net::Ipv6Addr::new(0x2002, hi, lo, 0, 0, 0, 0, 1)),
        };
        prop_assert!(workers::ssrf::is_forbidden(ip), "{}", ip);
    }

    #[test]
    fn signature_checks_never_panic(
        secret in prop_oneof![hostile_text(), "whsec_[A-Za-z0-9+/=]{0,48}"],
        header in prop_oneof![hostile_text(), "(v1,[A-Za-z0-9+/=]{0,50} ?){0,3}"],
        body in proptest::collection::vec(any::<u8>(), 0..64),
        ts in any::<i64>(),
    ) {
        let _ = workers::signing::verify(&secret, "evt_x", ts, &body, &header);
        let _ = workers::signing::sign(&secret, "evt_x", ts, &body);
    }
}

/// A DTO shaped like the API's (unknown fields refused, optional strings, a nested object,
/// a list, a number), so every error path of `parse_json` is reachable.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Probe {
    subject: Option<String>,
    description: Option<String>,
    events: Option<Vec<String>>,
    limits: Option<Limits>,
    enabled: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Limits {
    requests_per_minute: Option<u32>,
    burst: Option<u32>,
}

/// Any body: parsed, or refused with a documented 400 code that names a field when it
/// should. Never a panic, never another status.
fn check_json_outcome(body: &[u8]) -> Result<(), TestCaseError> {
    let as_probe = parse_json::<Probe>(body);
    let as_value = parse_json::<Value>(body);
    for err in [as_probe.err(), as_value.err()].into_iter().flatten() {
        prop_assert_eq!(err.status.as_u16(), 400, "{:?}", err);
        prop_assert!(
            matches!(
                &*err.code,
                "invalid_json" | "validation_failed" | "unknown_field"
            ),
            "{:?}",
            err
        );
        match &*err.code {
            // The unknown key itself, which may be `""`.
            "unknown_field" => prop_assert!(err.detail.is_some(), "{:?}", err),
            "validation_failed" => {
                prop_assert!(
                    err.detail.as_deref().is_some_and(|d| !d.is_empty()),
                    "{:?}",
                    err
                )
            }
            _ => {}
        }
    }
    Ok(())
}

fn json_like() -> impl Strategy<Value = String> {
    "[{}\\[\\]\",:0-9a-z_ .\\-\\\\eE+ntrufals\\u{0}\\u{80}-\\u{10ffff}]{0,120}".prop_map(|s| s)
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("subject".to_string()),
        Just("description".to_string()),
        Just("events".to_string()),
        Just("limits".to_string()),
        Just("burst".to_string()),
        Just("requests_per_minute".to_string()),
        Just("enabled".to_string()),
        "[a-z_`]{0,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 8, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
