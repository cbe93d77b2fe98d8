//! Ticket status lifecycle (docs/API.md §4): a pure state machine.
//!
//! Every function takes the current status and returns the next one, or why
//! the change is refused. `Closed` is final: nothing leaves it, and any
//! attempt is [`TransitionError::Closed`] (`409 ticket_closed`);
//! [`TransitionError::InvalidTransition`] maps to `400 invalid_transition`.

use std::fmt;

use TicketStatus::{AwaitingUser, Closed, InProgress, Open, Resolved};
pub use entities::values::TicketStatus;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransitionError {
    InvalidTransition {
        from: TicketStatus,
        to: TicketStatus,
    },
    Closed,
}

impl fmt::Display for TransitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransitionError::InvalidTransition { from, to } => {
                write!(f, "cannot change status from {from} to {to}")
            }
            TransitionError::Closed => {
                f.write_str("A closed ticket is final — open a new ticket instead")
            }
        }
    }
}

impl std::error::Error for TransitionError {}

/// Tenant `PATCH`: to `resolved` or `closed` from any other non-closed status,
/// or back to `open` from `resolved`/`awaiting_user`.
///
/// Setting the status a ticket already has is refused as an invalid
/// transition (it is not a change the tenant is allowed to make).
pub fn tenant_set(from: TicketStatus, to: TicketStatus) -> Result<TicketStatus, TransitionError> {
    let allowed = match (from, to) {
        (Closed, _) => return Err(TransitionError::Closed),
        _ if from == to => false,
        (_, Resolved | Closed) => true,
        (Resolved | AwaitingUser, Open) => true,
        _ => false,
    };
    if allowed {
        Ok(to)
    } else {
        Err(TransitionError::InvalidTransition { from, to })
    }
}

/// A tenant's reply: the ball is back in support's court.
pub fn customer_reply(from: TicketStatus) -> Result<TicketStatus, TransitionError> {
    match from {
        Closed => Err(TransitionError::Closed),
        Resolved | AwaitingUser => Ok(Open),
        Open | InProgress => Ok(from),
    }
}

/// A bot's message never moves the ticket; only a closed ticket refuses it.
pub fn bot_reply(from: TicketStatus) -> Result<TicketStatus, TransitionError> {
    match from {
        Closed => Err(TransitionError::Closed),
        _ => Ok(from),
    }
}

/// An operator's reply. An explicitly requested status wins (even on an
/// internal note); otherwise an internal note changes nothing and a public
/// reply hands the ticket to the tenant (`open`/`in_progress` → `awaiting_user`).
pub fn operator_reply(
    from: TicketStatus,
    internal: bool,
    requested: Option<TicketStatus>,
) -> Result<TicketStatus, TransitionError> {
    match (from, requested) {
        (Closed, _) => Err(TransitionError::Closed),
        (_, Some(to)) => Ok(to),
        _ if internal => Ok(from),
        (Open | InProgress, None) => Ok(AwaitingUser),
        (_, None) => Ok(from),
    }
}

/// Operator `PATCH`: any status (the same one is a no-op), but nothing leaves `closed`.
pub fn operator_set(from: TicketStatus, to: TicketStatus) -> Result<TicketStatus, TransitionError> {
    match from {
        Closed => Err(TransitionError::Closed),
        _ => Ok(to),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(from: TicketStatus, to: TicketStatus) -> Result<TicketStatus, TransitionError> {
        Err(TransitionError::InvalidTransition { from, to })
    }

    #[test]
    fn status_strings_roundtrip() {
        for s in TicketStatus::ALL {
            assert_eq!(s.as_str().parse::<TicketStatus>(), Ok(s));
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{s}\""));
            assert_eq!(serde_json::from_str::<TicketStatus>(&json).unwrap(), s);
        }
        let err = "reopened".parse::<TicketStatus>().unwrap_err();
        assert_eq!(err.field, "status");
    }

    #[test]
    fn tenant_set_all_pairs() {
        let ok = Ok;
        let closed = Err(TransitionError::Closed);
        let table = [
            (Open, Open, invalid(Open, Open)),
            (Open, AwaitingUser, invalid(Open, AwaitingUser)),
            (Open, InProgress, invalid(Open, InProgress)),
            (Open, Resolved, ok(Resolved)),
            (Open, Closed, ok(Closed)),
            (AwaitingUser, Open, ok(Open)),
            (
                AwaitingUser,
                AwaitingUser,
                invalid(AwaitingUser, AwaitingUser),
            ),
            (AwaitingUser, InProgress, invalid(AwaitingUser, InProgress)),
            (AwaitingUser, Resolved, ok(Resolved)),
            (AwaitingUser, Closed, ok(Closed)),
            (InProgress, Open, invalid(InProgress, Open)),
            (InProgress, AwaitingUser, invalid(InProgress, AwaitingUser)),
            (InProgress, InProgress, invalid(InProgress, InProgress)),
            (InProgress, Resolved, ok(Resolved)),
            (InProgress, Closed, ok(Closed)),
            (Resolved, Open, ok(Open)),
            (Resolved, AwaitingUser, invalid(Resolved, AwaitingUser)),
            (Resolved, InProgress, invalid(Resolved, InProgress)),
            (Resolved, Resolved, invalid(Resolved, Resolved)),
            (Resolved, Closed, ok(Closed)),
            (Closed, Open, closed),
            (Closed, AwaitingUser, closed),
            (Closed, InProgress, closed),
            (Closed, Resolved, closed),
            (Closed, Closed, closed),
        ];
        assert_eq!(table.len(), 25);
        for (from, to, expected) in table {
            assert_eq!(tenant_set(from, to), expected, "tenant {from} -> {to}");
        }
    }

    #[test]
    fn operator_set_all_pairs() {
        for from in TicketStatus::ALL {
            for to in TicketStatus::ALL {
                let expected = if from == Closed {
                    Err(TransitionError::Closed)
                } else {
                    Ok(to)
                };
                assert_eq!(operator_set(from, to), expected, "operator {from} -> {to}");
            }
        }
    }

    #[test]
    fn customer_reply_transitions() {
        assert_eq!(customer_reply(Open), Ok(Open));
        assert_eq!(customer_reply(AwaitingUser), Ok(Open));
        assert_eq!(customer_reply(InProgress), Ok(InProgress));
        assert_eq!(customer_reply(Resolved), Ok(Open));
        assert_eq!(customer_reply(Closed), Err(TransitionError::Closed));
    }

    #[test]
    fn operator_public_reply_without_status() {
        assert_eq!(operator_reply(Open, false, None), Ok(AwaitingUser));
        assert_eq!(operator_reply(InProgress, false, None), Ok(AwaitingUser));
        assert_eq!(operator_reply(AwaitingUser, false, None), Ok(AwaitingUser));
        assert_eq!(operator_reply(Resolved, false, None), Ok(Resolved));
        assert_eq!(
            operator_reply(Closed, false, None),
            Err(TransitionError::Closed)
        );
    }

    #[test]
    fn operator_internal_note_changes_nothing() {
        for from in [Open, AwaitingUser, InProgress, Resolved] {
            assert_eq!(operator_reply(from, true, None), Ok(from));
        }
        assert_eq!(
            operator_reply(Closed, true, None),
            Err(TransitionError::Closed)
        );
    }

    #[test]
    fn bot_reply_keeps_the_status() {
        for from in [Open, AwaitingUser, InProgress, Resolved] {
            assert_eq!(bot_reply(from), Ok(from));
        }
        assert_eq!(bot_reply(Closed), Err(TransitionError::Closed));
    }

    #[test]
    fn operator_reply_with_requested_status() {
        for internal in [false, true] {
            for from in [Open, AwaitingUser, InProgress, Resolved] {
                for to in TicketStatus::ALL {
                    assert_eq!(operator_reply(from, internal, Some(to)), Ok(to));
                }
            }
            for to in TicketStatus::ALL {
                assert_eq!(
                    operator_reply(Closed, internal, Some(to)),
                    Err(TransitionError::Closed)
                );
            }
        }
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            invalid(InProgress, Open).unwrap_err().to_string(),
            "cannot change status from in_progress to open"
        );
        assert_eq!(
            TransitionError::Closed.to_string(),
            "A closed ticket is final — open a new ticket instead"
        );
    }
}
