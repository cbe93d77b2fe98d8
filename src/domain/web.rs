//! Browser-facing values: the web origins a publishable key may be used from, and the URL a
//! Support-tab visitor goes back to.
use std::fmt;

use url::{Host, Url};

use super::FieldError;
use super::validate::string_newtype;

/// Most origins one publishable key may list.
pub const MAX_ALLOWED_ORIGINS: usize = 20;
/// Longest origin or return URL accepted, in bytes.
const MAX_ORIGIN_LEN: usize = 255;
const MAX_RETURN_URL_LEN: usize = 2048;

/// A web origin as browsers send it in `Origin`: `scheme://host[:port]`, `http` or `https`,
/// no path, query, fragment or credentials. Held in the browsers' own serialization (lower
/// case, IDN hosts in punycode, the scheme's default port left out), so comparing with the
/// `Origin` header is plain string equality.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WebOrigin(String);

impl WebOrigin {
    pub fn parse(value: &str, field: &'static str) -> Result<Self, FieldError> {
        let invalid = |why: &str| {
            FieldError::new(
                field,
                format!(
                    "`{value}` is not a web origin: {why} (expected e.g. https://acme.example)"
                ),
            )
        };
        let raw = value.trim();
        if raw.is_empty() || raw.len() > MAX_ORIGIN_LEN {
            return Err(FieldError::new(
                field,
                format!("each origin must be 1–{MAX_ORIGIN_LEN} characters"),
            ));
        }
        if raw.contains('*') {
            return Err(invalid("wildcards are not supported; list each origin"));
        }
        let url = Url::parse(raw).map_err(|_| invalid("not a URL"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("the scheme must be http or https"));
        }
        if url.host().is_none() {
            return Err(invalid("it has no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("it must not carry credentials"));
        }
        // `https://acme.example/` is the same origin written with the root path; anything
        // longer is a page, not an origin.
        let after_authority = raw
            .split_once("://")
            .map(|(_, rest)| rest.find(['/', '?', '#']).map_or("", |at| &rest[at..]))
            .unwrap_or_default();
        if !after_authority.is_empty() && after_authority != "/" {
            return Err(invalid("it must not have a path, query or fragment"));
        }
        Ok(Self(url.origin().ascii_serialization()))
    }
}
string_newtype!(WebOrigin);

/// The origins a publishable key is restricted to: 1–[`MAX_ALLOWED_ORIGINS`] distinct ones.
/// A key without a list ("any origin") holds no `AllowedOrigins` at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedOrigins(Vec<WebOrigin>);

impl AllowedOrigins {
    pub fn parse<S: AsRef<str>>(values: &[S], field: &'static str) -> Result<Self, FieldError> {
        if values.is_empty() {
            return Err(FieldError::new(
                field,
                "list at least one origin, or leave the field out to allow any origin",
            ));
        }
        if values.len() > MAX_ALLOWED_ORIGINS {
            return Err(FieldError::new(
                field,
                format!("at most {MAX_ALLOWED_ORIGINS} origins"),
            ));
        }
        let mut origins: Vec<WebOrigin> = Vec::with_capacity(values.len());
        for value in values {
            let origin = WebOrigin::parse(value.as_ref(), field)?;
            if !origins.contains(&origin) {
                origins.push(origin);
            }
        }
        Ok(Self(origins))
    }

    /// Whether a browser's `Origin` header value names one of these origins.
    pub fn permits(&self, origin: &str) -> bool {
        self.0.iter().any(|o| o.as_str() == origin)
    }

    pub fn iter(&self) -> impl Iterator<Item = &WebOrigin> {
        self.0.iter()
    }

    /// The stored form: the origins separated by single spaces (an origin has none).
    pub fn to_stored(&self) -> String {
        self.0
            .iter()
            .map(WebOrigin::as_str)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Reads the stored form back. It was written by [`Self::to_stored`]; should an entry
    /// ever fail to parse it is left out, so a damaged list permits less, never more.
    pub fn from_stored(stored: &str) -> Self {
        Self(
            stored
                .split_whitespace()
                .filter_map(|v| WebOrigin::parse(v, "allowed_origins").ok())
                .collect(),
        )
    }
}

/// Where the Support tab's "back" link leads: an absolute `https` URL, or `http` on this
/// machine (`localhost`, `127.0.0.1`, `[::1]`) for development.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnUrl(String);

impl ReturnUrl {
    pub fn parse(value: &str, field: &'static str) -> Result<Self, FieldError> {
        let raw = value.trim();
        if raw.is_empty() || raw.len() > MAX_RETURN_URL_LEN {
            return Err(FieldError::new(
                field,
                format!("must be 1–{MAX_RETURN_URL_LEN} characters"),
            ));
        }
        let invalid = |why: &str| FieldError::new(field, format!("must be {why}"));
        let url = Url::parse(raw).map_err(|_| invalid("an absolute URL"))?;
        let local = match url.host() {
            Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(Host::Ipv4(ip)) => ip.is_loopback(),
            Some(Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        match url.scheme() {
            "https" if url.host().is_some() => {}
            "http" if local => {}
            _ => return Err(invalid("an https URL (http only on localhost)")),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("a URL without credentials"));
        }
        Ok(Self(url.to_string()))
    }
}
string_newtype!(ReturnUrl);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_held_as_browsers_send_them() {
        let ok = |v: &str| WebOrigin::parse(v, "allowed_origins").map(|o| o.0);
        assert_eq!(
            ok("https://acme.example").as_deref(),
            Ok("https://acme.example")
        );
        assert_eq!(
            ok("https://ACME.example/").as_deref(),
            Ok("https://acme.example")
        );
        assert_eq!(
            ok("https://acme.example:443").as_deref(),
            Ok("https://acme.example")
        );
        assert_eq!(
            ok("http://localhost:3000").as_deref(),
            Ok("http://localhost:3000")
        );
        assert_eq!(
            ok("https://bücher.example").as_deref(),
            Ok("https://xn--bcher-kva.example")
        );
        for bad in [
            "",
            "acme.example",
            "ftp://acme.example",
            "https://acme.example/app",
            "https://acme.example?x=1",
            "https://acme.example#top",
            "https://user:pw@acme.example",
            "https://*.acme.example",
            "null",
            "file:///tmp/x",
        ] {
            assert!(ok(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn allowed_origins_dedupe_cap_and_round_trip() {
        let list = AllowedOrigins::parse(
            &[
                "https://a.example",
                "https://A.example/",
                "http://127.0.0.1:9000",
            ],
            "allowed_origins",
        )
        .expect("valid");
        assert_eq!(list.iter().count(), 2);
        assert!(list.permits("https://a.example"));
        assert!(list.permits("http://127.0.0.1:9000"));
        assert!(!list.permits("https://b.example"));
        assert!(!list.permits("null"));
        assert_eq!(AllowedOrigins::from_stored(&list.to_stored()), list);
        assert!(!AllowedOrigins::from_stored("garbage").permits("garbage"));
        assert!(AllowedOrigins::parse::<&str>(&[], "allowed_origins").is_err());
        let many: Vec<String> = (0..21).map(|i| format!("https://s{i}.example")).collect();
        let err = AllowedOrigins::parse(&many, "allowed_origins").expect_err("21");
        assert_eq!(err.field, "allowed_origins");
    }

    #[test]
    fn return_urls_are_https_or_local_http() {
        let ok = |v: &str| ReturnUrl::parse(v, "return_url").is_ok();
        assert!(ok("https://console.acme.example/settings?tab=support"));
        assert!(ok("http://localhost:3000/back"));
        assert!(ok("http://127.0.0.1:3000/"));
        assert!(ok("http://[::1]:8000/"));
        assert!(!ok("http://acme.example/back"));
        assert!(!ok("javascript:alert(1)"));
        assert!(!ok("/relative"));
        assert!(!ok("https://u:p@acme.example/"));
        assert!(!ok(""));
    }
}
