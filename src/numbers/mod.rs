//! Agents and bring-your-own-carrier numbers (SPEC §8): storage and the API objects.
//!
//! Numbers and agents are not tickets or balance, so their mutations go straight to the
//! database instead of through the tenant's actor; the schema enforces what must hold
//! across nodes (a number has one owner — it is the primary key; a number never points at
//! a deleted agent — foreign key).
pub mod agents;
pub mod registry;
pub mod view;

use actix_web::http::StatusCode;

use crate::error::ApiError;

/// `404` naming the missing thing; a foreign object is reported exactly like an unknown one.
pub fn no_such(what: &'static str, field: &'static str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("No such {what}"),
    )
    .with_detail(field)
}

pub fn no_such_agent() -> ApiError {
    no_such("agent", "agent_id")
}

pub fn no_such_number() -> ApiError {
    no_such("number", "number")
}
