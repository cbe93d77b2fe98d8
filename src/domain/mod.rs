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

pub use entities::values::FieldError;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_error_display() {
        let e = FieldError::new("subject", "must be at least 3 characters");
        assert_eq!(e.to_string(), "subject: must be at least 3 characters");
    }
}
