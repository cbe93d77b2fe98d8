//! What a tenant may send for an endpoint: a URL that is not ours to call (SSRF), event
//! types it may subscribe to, a short description.
use serde_json::{Value, json};
use workers::ssrf;

use super::events::SUBSCRIBABLE;
use crate::domain::FieldError;

/// Longest endpoint description, in characters.
pub const MAX_DESCRIPTION: usize = 500;

/// A URL deliveries may go to; `allow_private` admits loopback and private hosts (tests,
/// development).
pub async fn url(raw: &str, allow_private: bool) -> Result<String, FieldError> {
    let url = ssrf::parse(raw).map_err(|e| FieldError::new("url", format!("`url`: {e}")))?;
    match ssrf::check(&url, allow_private).await {
        // A name that does not resolve yet is accepted (its DNS may come later); every
        // delivery checks it again.
        Ok(()) | Err(ssrf::TargetError::Unresolvable) => Ok(url.to_string()),
        Err(e) => Err(FieldError::new("url", format!("`url` is refused: {e}"))),
    }
}

/// The subscribed event types as stored: a sorted JSON array without repeats.
pub fn events(events: Option<Vec<String>>) -> Result<Value, FieldError> {
    let events = events.unwrap_or_default();
    if let Some(bad) = events.iter().find(|e| !SUBSCRIBABLE.contains(&e.as_str())) {
        return Err(FieldError::new(
            "events",
            format!(
                "unknown event type `{bad}`; expected any of {}",
                SUBSCRIBABLE.join(", ")
            ),
        ));
    }
    let mut unique = events;
    unique.sort();
    unique.dedup();
    Ok(json!(unique))
}

/// A trimmed description, `None` when blank.
pub fn description(description: Option<String>) -> Result<Option<String>, FieldError> {
    let description = description
        .map(|d| d.trim().to_string())
        .filter(|d| !d.is_empty());
    if description
        .as_ref()
        .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION)
    {
        return Err(FieldError::new(
            "description",
            format!("`description` must be at most {MAX_DESCRIPTION} characters"),
        ));
    }
    Ok(description)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_known_sorted_and_unique() {
        let events = events(Some(vec![
            "support.ticket_created".into(),
            "support.bounty_awarded".into(),
            "support.ticket_created".into(),
        ]));
        assert_eq!(
            events.ok(),
            Some(json!(["support.bounty_awarded", "support.ticket_created"]))
        );
        let unknown = super::events(Some(vec!["webhook.test".into()])).err();
        assert_eq!(unknown.map(|e| e.field), Some("events"));
    }

    #[test]
    fn descriptions_are_trimmed_and_bounded() {
        assert_eq!(
            description(Some("  ops ".into())).ok(),
            Some(Some("ops".into()))
        );
        assert_eq!(description(Some("   ".into())).ok(), Some(None));
        let long = "x".repeat(MAX_DESCRIPTION + 1);
        assert!(description(Some(long)).is_err());
    }
}
