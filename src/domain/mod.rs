//! Pure domain types and rules: no I/O, no database, no HTTP.

pub mod agent;
pub mod ids;
pub mod plan;
pub mod sla;
pub mod status;
pub mod tags;
pub mod template;
pub mod ticket;
pub mod validate;
pub mod web;

use std::fmt;

/// A validation failure for one input field; the HTTP layer maps it to
/// `400 validation_failed` with `field` in `detail`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for FieldError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_error_display() {
        let e = FieldError::new("subject", "must be at least 3 characters");
        assert_eq!(e.to_string(), "subject: must be at least 3 characters");
    }
}
