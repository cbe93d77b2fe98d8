//! What a ticket operation can refuse, in the ticket's own words; `src/http/error.rs` maps
//! each to a status and code.
use sea_orm::DbErr;

use crate::domain::status::{TicketStatus, TransitionError};

#[derive(Debug, Clone, thiserror::Error)]
pub enum TicketError {
    #[error("no such ticket")]
    NotFound,
    /// The balance cannot pay the ticket fee: nothing was saved.
    #[error("insufficient credits to open a ticket")]
    InsufficientCredits,
    #[error("a closed ticket is final")]
    Closed,
    /// The ticket was merged into `into` (and so is closed).
    #[error("the ticket was merged into another")]
    Merged { into: uuid::Uuid },
    /// A merge needs two different tickets of one tenant.
    #[error("{0}")]
    InvalidMerge(&'static str),
    #[error("cannot change status from {from} to {to}")]
    InvalidTransition {
        from: TicketStatus,
        to: TicketStatus,
    },
    /// Another node kept changing the ticket under us.
    #[error("the ticket is being changed concurrently")]
    ConcurrentUpdate,
    /// `If-Match` named another version: nothing changed.
    #[error("the ticket is at version {current}")]
    PreconditionFailed { current: i64 },
    /// `macro_id` names no macro.
    #[error("no such macro")]
    UnknownMacro,
    /// What a macro produced on this ticket is invalid (a rendered body too long, too many tags).
    #[error("{0}")]
    Field(crate::domain::FieldError),
    /// `assignee_id` is not an active operator.
    #[error("no such operator")]
    UnknownAssignee,
    #[error("only bug tickets earn a bounty")]
    NotBountyEligible,
    #[error("the bounty was already awarded")]
    BountyAlreadyAwarded,
    /// The tenant's actor did not answer (stopped, or its mailbox timed out).
    #[error("the tenant is busy")]
    TenantBusy,
    /// Stored data this code cannot read, or a ledger refusal that cannot happen.
    #[error("{0}")]
    Corrupt(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl From<TransitionError> for TicketError {
    fn from(e: TransitionError) -> Self {
        match e {
            TransitionError::Closed => TicketError::Closed,
            TransitionError::InvalidTransition { from, to } => {
                TicketError::InvalidTransition { from, to }
            }
        }
    }
}
