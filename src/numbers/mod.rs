//! Agents and bring-your-own-carrier numbers (docs/API.md §8): storage and the API objects.
//!
//! Numbers and agents are not tickets or balance, so their mutations go straight to the
//! database instead of through the tenant's actor; the schema enforces what must hold
//! across nodes (a number has one owner — it is the primary key; a number never points at
//! a deleted agent — foreign key).
pub mod agents;
pub mod registrations;
pub mod view;

use sea_orm::DbErr;

/// What a number or agent operation can refuse; a foreign object is reported exactly like
/// an unknown one.
#[derive(Debug, thiserror::Error)]
pub enum NumberError {
    #[error("no such agent")]
    NoSuchAgent,
    #[error("no such number")]
    NoSuchNumber,
    #[error("the number is registered to another account")]
    NumberTaken,
    /// Kept losing the insert race for the number.
    #[error("the number is being registered concurrently")]
    ConcurrentUpdate,
    /// The tenant holds as many agents or numbers as it may.
    #[error(transparent)]
    Capped(crate::caps::Error),
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl From<crate::caps::Error> for NumberError {
    fn from(e: crate::caps::Error) -> Self {
        match e {
            crate::caps::Error::Db(db) => NumberError::Db(db),
            reached => NumberError::Capped(reached),
        }
    }
}
