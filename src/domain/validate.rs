//! Validated input values ("parse, don't validate"): each constructor is the
//! only way to build its type, so holding one proves the input was checked.
//! Lengths count Unicode scalar values (`char`s) after trimming.

use std::fmt;

use super::FieldError;

macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

pub(super) use string_newtype;

/// Characters that render as nothing: zero-width spaces and joiners, direction marks and
/// overrides, word joiners, the byte-order mark, soft hyphen, Hangul fillers, variation
/// selectors and tag characters. Text made of these alone would look empty.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
        | '\u{FFA0}' | '\u{E0000}'..='\u{E0FFF}')
        || c.is_control()
}

/// Trims `value` (whitespace and invisible characters at both ends) and checks its length
/// in characters, invisible ones not counting towards the minimum. NUL (U+0000) is refused:
/// PostgreSQL cannot store it in text, and no legitimate text needs it.
fn trimmed_text(
    value: &str,
    field: &'static str,
    min: usize,
    max: usize,
) -> Result<String, FieldError> {
    if value.contains('\0') {
        return Err(FieldError::new(field, "must not contain NUL characters"));
    }
    let value = value.trim_matches(|c: char| c.is_whitespace() || is_invisible(c));
    let len = value.chars().count();
    let visible = value.chars().filter(|c| !is_invisible(*c)).count();
    if len == 0 {
        Err(FieldError::new(field, "must not be empty"))
    } else if visible < min {
        Err(FieldError::new(
            field,
            format!("must be at least {min} characters"),
        ))
    } else if len > max {
        Err(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ))
    } else {
        Ok(value.to_owned())
    }
}

/// A ticket subject: 3–200 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Subject(String);
string_newtype!(Subject);

impl Subject {
    pub fn parse(value: &str) -> Result<Self, FieldError> {
        trimmed_text(value, "subject", 3, 200).map(Self)
    }
}

/// A ticket description: 10–5,000 characters. The field name is the caller's
/// because `body` is accepted as an alias of `description`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Description(String);
string_newtype!(Description);

impl Description {
    pub fn parse(value: &str, field: &'static str) -> Result<Self, FieldError> {
        trimmed_text(value, field, 10, 5000).map(Self)
    }
}

/// A thread message: 1–5,000 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MessageBody(String);
string_newtype!(MessageBody);

impl MessageBody {
    pub fn parse(value: &str) -> Result<Self, FieldError> {
        trimmed_text(value, "body", 1, 5000).map(Self)
    }
}

/// A short free-form reference such as `call_id` or `source_session_id`:
/// 1–128 characters. Absent or blank input means "no value": use
/// [`ShortRef::parse_optional`] for that, `parse` refuses it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ShortRef(String);
string_newtype!(ShortRef);

impl ShortRef {
    pub fn parse(value: &str, field: &'static str) -> Result<Self, FieldError> {
        trimmed_text(value, field, 1, 128).map(Self)
    }

    /// `None` or a blank string → `Ok(None)`; anything else must parse.
    pub fn parse_optional(
        value: Option<&str>,
        field: &'static str,
    ) -> Result<Option<Self>, FieldError> {
        value
            .filter(|v| !v.trim().is_empty())
            .map(|v| Self::parse(v, field))
            .transpose()
    }
}

/// A display name (tenant, agent, operator): 1–200 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Name(String);
string_newtype!(Name);

impl Name {
    pub fn parse(value: &str, field: &'static str) -> Result<Self, FieldError> {
        trimmed_text(value, field, 1, 200).map(Self)
    }
}

/// A pragmatic email address check (not full RFC 5322): `local@domain`, with
/// the domain lowercased and the local part kept as given.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);
string_newtype!(Email);

impl Email {
    pub fn parse(value: &str, field: &'static str) -> Result<Self, FieldError> {
        let value = value.trim();
        if value.is_empty() {
            return Err(FieldError::new(field, "must not be empty"));
        }
        if value.chars().count() > 254 {
            return Err(FieldError::new(field, "must be at most 254 characters"));
        }
        let invalid = || FieldError::new(field, "must be a valid email address");
        let (local, domain) = value.split_once('@').ok_or_else(invalid)?;
        if domain.contains('@') || !valid_local_part(local) || !valid_domain(domain) {
            return Err(invalid());
        }
        Ok(Self(format!("{local}@{}", domain.to_ascii_lowercase())))
    }
}

fn valid_local_part(local: &str) -> bool {
    !local.is_empty()
        && local.chars().count() <= 64
        && !local.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn valid_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    let valid_label = |label: &&str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    let valid_tld = |tld: &&str| tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic());
    labels.len() >= 2 && labels.iter().all(valid_label) && labels.last().is_some_and(valid_tld)
}

/// A phone number in E.164 form: `+` then 2–15 digits, the first not `0`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct E164Number(String);
string_newtype!(E164Number);

impl E164Number {
    pub fn parse(value: &str) -> Result<Self, FieldError> {
        let value = value.trim();
        let valid = value.strip_prefix('+').is_some_and(|digits| {
            (2..=15).contains(&digits.len())
                && digits.bytes().all(|b| b.is_ascii_digit())
                && !digits.starts_with('0')
        });
        if valid {
            Ok(Self(value.to_owned()))
        } else {
            Err(FieldError::new(
                "number",
                "must be in E.164 format: + followed by 2-15 digits, the first not 0",
            ))
        }
    }
}

/// An `Idempotency-Key` header value: 1–255 printable ASCII characters, taken as is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);
string_newtype!(IdempotencyKey);

impl IdempotencyKey {
    pub fn parse(value: &str) -> Result<Self, FieldError> {
        const FIELD: &str = "Idempotency-Key";
        if value.is_empty() {
            return Err(FieldError::new(FIELD, "must not be empty"));
        }
        if !value.bytes().all(|b| matches!(b, b' '..=b'~')) {
            return Err(FieldError::new(
                FIELD,
                "must contain only printable ASCII characters",
            ));
        }
        if value.len() > 255 {
            return Err(FieldError::new(FIELD, "must be at most 255 characters"));
        }
        Ok(Self(value.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message<T: fmt::Debug>(result: Result<T, FieldError>) -> (&'static str, String) {
        let err = result.unwrap_err();
        (err.field, err.message)
    }

    #[test]
    fn subject_length_bounds() {
        assert_eq!(Subject::parse("abc").unwrap().as_str(), "abc");
        assert_eq!(
            Subject::parse(&"a".repeat(200)).unwrap().as_str().len(),
            200
        );
        assert_eq!(
            message(Subject::parse("ab")),
            ("subject", "must be at least 3 characters".into())
        );
        assert_eq!(
            message(Subject::parse(&"a".repeat(201))),
            ("subject", "must be at most 200 characters".into())
        );
    }

    #[test]
    fn text_never_holds_nul() {
        assert_eq!(
            message(Subject::parse("a\0bc")),
            ("subject", "must not contain NUL characters".into())
        );
        assert!(Description::parse("ten chars \0 here", "body").is_err());
        assert!(MessageBody::parse("\0").is_err());
        assert!(ShortRef::parse("call\0", "call_id").is_err());
        assert!(Name::parse("Acme\0", "name").is_err());
    }

    #[test]
    fn subject_is_trimmed_and_counts_chars_not_bytes() {
        assert_eq!(
            Subject::parse("  Help me \n").unwrap().into_inner(),
            "Help me"
        );
        assert_eq!(Subject::parse("  ab  ").unwrap_err().field, "subject");
        assert!(Subject::parse("🔥🔥🔥").is_ok());
        assert!(Subject::parse("🔥🔥").is_err());
        assert!(Subject::parse("日本語").is_ok());
        assert!(Subject::parse(&"é".repeat(200)).is_ok());
        assert!(Subject::parse(&"é".repeat(201)).is_err());
    }

    #[test]
    fn text_made_of_invisible_characters_is_empty() {
        for invisible in [
            "\u{200B}\u{200B}\u{200B}\u{200B}",
            "\u{FEFF}\u{2060}\u{200D}\u{202E}",
            "\u{3164}\u{3164}\u{3164}",
            " \u{00AD}\u{00AD}\u{00AD} ",
        ] {
            let err = Subject::parse(invisible).unwrap_err();
            assert_eq!(err.field, "subject");
            assert!(MessageBody::parse(invisible).is_err());
        }
        // Invisible characters do not count towards the minimum, and go at the ends.
        assert!(Subject::parse("a\u{200B}\u{200B}\u{200B}").is_err());
        assert_eq!(
            Subject::parse("\u{200B}Help\u{FEFF}").unwrap().into_inner(),
            "Help"
        );
        // Inside, they stay (an emoji family is joined with U+200D).
        assert!(Subject::parse("👨\u{200D}👩\u{200D}👧 ok").is_ok());
    }

    #[test]
    fn whitespace_only_is_empty() {
        assert_eq!(
            message(Subject::parse(" \t\n ")),
            ("subject", "must not be empty".into())
        );
        assert_eq!(message(MessageBody::parse("   ")).1, "must not be empty");
        assert_eq!(message(Name::parse("  ", "name")).1, "must not be empty");
        assert_eq!(
            message(Description::parse("\n\n", "description")).1,
            "must not be empty"
        );
        assert_eq!(
            message(ShortRef::parse(" ", "call_id")).1,
            "must not be empty"
        );
        assert_eq!(
            message(Email::parse("  ", "contact_email")).1,
            "must not be empty"
        );
    }

    #[test]
    fn description_bounds_and_field_alias() {
        assert!(Description::parse("0123456789", "description").is_ok());
        assert_eq!(
            message(Description::parse("  too short  ", "body")),
            ("body", "must be at least 10 characters".into())
        );
        assert!(Description::parse(&"x".repeat(5000), "description").is_ok());
        assert_eq!(
            message(Description::parse(&"x".repeat(5001), "description")),
            ("description", "must be at most 5000 characters".into())
        );
        assert!(Description::parse(&"🐛".repeat(10), "description").is_ok());
        assert!(Description::parse(&"🐛".repeat(9), "description").is_err());
    }

    #[test]
    fn message_body_bounds() {
        assert_eq!(MessageBody::parse(" k ").unwrap().as_str(), "k");
        assert!(MessageBody::parse(&"ü".repeat(5000)).is_ok());
        assert_eq!(
            message(MessageBody::parse(&"ü".repeat(5001))),
            ("body", "must be at most 5000 characters".into())
        );
    }

    #[test]
    fn short_ref() {
        assert_eq!(
            ShortRef::parse(" call-123 ", "call_id").unwrap().as_str(),
            "call-123"
        );
        assert!(ShortRef::parse(&"a".repeat(128), "call_id").is_ok());
        assert_eq!(
            message(ShortRef::parse(&"a".repeat(129), "source_session_id")),
            ("source_session_id", "must be at most 128 characters".into())
        );
        assert_eq!(ShortRef::parse_optional(None, "call_id"), Ok(None));
        assert_eq!(ShortRef::parse_optional(Some("  "), "call_id"), Ok(None));
        assert_eq!(
            ShortRef::parse_optional(Some("abc"), "call_id")
                .unwrap()
                .unwrap()
                .as_str(),
            "abc"
        );
        assert!(ShortRef::parse_optional(Some(&"a".repeat(129)), "call_id").is_err());
    }

    #[test]
    fn name_bounds() {
        assert_eq!(Name::parse(" Acme ", "name").unwrap().to_string(), "Acme");
        assert!(Name::parse("A", "name").is_ok());
        assert!(Name::parse(&"n".repeat(200), "name").is_ok());
        assert_eq!(
            message(Name::parse(&"n".repeat(201), "label")),
            ("label", "must be at most 200 characters".into())
        );
    }

    #[test]
    fn email_accepts_and_normalizes() {
        let ok = |s: &str| Email::parse(s, "email").unwrap().into_inner();
        assert_eq!(ok("engineer@acme.com"), "engineer@acme.com");
        assert_eq!(
            ok("  Jane.Doe+tag@Mail.ACME.co.uk "),
            "Jane.Doe+tag@mail.acme.co.uk"
        );
        assert_eq!(ok("a@b-c.io"), "a@b-c.io");
        assert_eq!(ok("x@123.example"), "x@123.example");
        assert_eq!(ok("josé@example.com"), "josé@example.com");
        let local = "l".repeat(64);
        assert_eq!(
            ok(&format!("{local}@example.com")),
            format!("{local}@example.com")
        );
    }

    #[test]
    fn email_rejects_malformed() {
        let bad = [
            "plainaddress",
            "@example.com",
            "a@@example.com",
            "a@b@example.com",
            "a b@example.com",
            "a\tb@example.com",
            "a\u{7}@example.com",
            "a@example",
            "a@example.c",
            "a@example.c0m",
            "a@example.123",
            "a@-example.com",
            "a@example-.com",
            "a@exa_mple.com",
            "a@example..com",
            "a@.example.com",
            "a@example.com.",
            "a@exämple.com",
            "a@ex ample.com",
            "a@",
        ];
        for input in bad {
            assert_eq!(
                message(Email::parse(input, "contact_email")),
                ("contact_email", "must be a valid email address".into()),
                "{input:?}"
            );
        }
        let long_local = format!("{}@example.com", "l".repeat(65));
        assert!(Email::parse(&long_local, "email").is_err());
        let long_label = format!("a@{}.com", "d".repeat(64));
        assert!(Email::parse(&long_label, "email").is_err());
    }

    #[test]
    fn email_total_length() {
        let domain = format!(
            "{}.{}.{}.com",
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63)
        );
        let at_limit = format!("{}@{domain}", "l".repeat(254 - 1 - domain.len()));
        assert!(Email::parse(&at_limit, "email").is_ok());
        let over = format!("l{at_limit}");
        assert_eq!(
            message(Email::parse(&over, "email")).1,
            "must be at most 254 characters"
        );
    }

    #[test]
    fn e164() {
        assert_eq!(
            E164Number::parse("+15551234567").unwrap().as_str(),
            "+15551234567"
        );
        assert!(E164Number::parse("+12").is_ok());
        assert!(E164Number::parse(&format!("+1{}", "2".repeat(14))).is_ok());
        assert!(E164Number::parse(" +4930123456 ").is_ok());
        let bad = [
            "",
            "+",
            "+1",
            "+0123456",
            "15551234567",
            "++15551234567",
            "+1555 123 4567",
            "+1-555-123-4567",
            "+1555abc",
            "+1２３",
        ];
        for input in bad {
            assert_eq!(message(E164Number::parse(input)).0, "number", "{input:?}");
        }
        assert!(E164Number::parse(&format!("+1{}", "2".repeat(15))).is_err());
    }

    #[test]
    fn idempotency_key() {
        assert_eq!(
            IdempotencyKey::parse("abc-123").unwrap().as_str(),
            "abc-123"
        );
        assert!(IdempotencyKey::parse("a key with spaces ~!").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
        assert_eq!(
            message(IdempotencyKey::parse(&"k".repeat(256))),
            ("Idempotency-Key", "must be at most 255 characters".into())
        );
        assert_eq!(message(IdempotencyKey::parse("")).1, "must not be empty");
        for bad in ["tab\there", "new\nline", "del\u{7f}", "ключ", "emoji🔑"] {
            assert_eq!(
                message(IdempotencyKey::parse(bad)).1,
                "must contain only printable ASCII characters",
                "{bad:?}"
            );
        }
    }
}
