//! The fixed vocabularies of text columns, typed: each enum is both the entity's column type
//! and the domain's value, stored and shown as exactly the text its variants name.
//!
//! [`vocabulary!`] declares one: a sea-orm `ActiveEnum` over a text column, serde with the
//! same spelling, and `ALL`, `as_str`, `parse` and `Display`.
use std::fmt;

macro_rules! vocabulary {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $value:tt, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug,
            Clone,
            Copy,
            PartialEq,
            Eq,
            Hash,
            sea_orm::EnumIter,
            sea_orm::DeriveActiveEnum,
            serde::Serialize,
            serde::Deserialize,
        )]
        #[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
        pub enum $name {
            $(
                $(#[$vmeta])*
                #[sea_orm(string_value = $value)]
                #[serde(rename = $value)]
                $variant,
            )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: [$name; [$($value),+].len()] = [$($name::$variant),+];

            /// The stored (and shown) text.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $value,)+
                }
            }

            /// The value spelled exactly `raw`.
            pub fn parse(raw: &str) -> Option<Self> {
                match raw {
                    $($value => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// `FromStr` for a vocabulary a request names: an unknown word is a [`FieldError`] on `field`
/// that lists the allowed ones.
macro_rules! parsed_from_field {
    ($name:ident, $field:literal) => {
        impl std::str::FromStr for $name {
            type Err = FieldError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::parse(s).ok_or_else(|| {
                    let allowed: Vec<&str> = $name::ALL.iter().map(|v| v.as_str()).collect();
                    FieldError::new($field, format!("must be one of: {}", allowed.join(", ")))
                })
            }
        }
    };
}

mod access;
mod ticket;
mod work;

pub use access::{KeyKind, Level, LimitsMode, PrincipalKind, WorkerKind};
pub use ticket::{
    BountyStatus, Category, ChargeStatus, MessageAuthor, NotificationKind, Priority,
    TicketEmailStatus, TicketEventKind, TicketStatus,
};
pub use work::{
    DeliveryStatus, EmailKind, ErasureStatus, IdempotencyState, LedgerKind, LedgerStatus, Queue,
    SlaAlert,
};

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
