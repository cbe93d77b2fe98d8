//! Ticket categories and priorities (docs/API.md §4).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::FieldError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Billing,
    VoiceQuality,
    Telephony,
    AgentPublishing,
    ApiSdk,
    Account,
    Bug,
    Other,
}

impl Category {
    pub const ALL: [Category; 8] = [
        Category::Billing,
        Category::VoiceQuality,
        Category::Telephony,
        Category::AgentPublishing,
        Category::ApiSdk,
        Category::Account,
        Category::Bug,
        Category::Other,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Category::Billing => "billing",
            Category::VoiceQuality => "voice_quality",
            Category::Telephony => "telephony",
            Category::AgentPublishing => "agent_publishing",
            Category::ApiSdk => "api_sdk",
            Category::Account => "account",
            Category::Bug => "bug",
            Category::Other => "other",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Category {
    type Err = FieldError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Category::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                FieldError::new(
                    "category",
                    "must be one of: billing, voice_quality, telephony, agent_publishing, \
                     api_sdk, account, bug, other",
                )
            })
    }
}

/// Variant order is rank order, so the derived `Ord` agrees with [`Priority::rank`].
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    #[default]
    Normal,
    High,
    Urgent,
}

impl Priority {
    pub const ALL: [Priority; 4] = [
        Priority::Low,
        Priority::Normal,
        Priority::High,
        Priority::Urgent,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }

    /// Inbox ordering weight: urgent = 3 … low = 0.
    pub const fn rank(self) -> u8 {
        match self {
            Priority::Low => 0,
            Priority::Normal => 1,
            Priority::High => 2,
            Priority::Urgent => 3,
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Priority {
    type Err = FieldError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Priority::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| FieldError::new("priority", "must be one of: low, normal, high, urgent"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_roundtrip() {
        for c in Category::ALL {
            assert_eq!(c.as_str().parse::<Category>(), Ok(c));
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{c}\""));
            assert_eq!(serde_json::from_str::<Category>(&json).unwrap(), c);
        }
        assert_eq!(
            serde_json::to_string(&Category::ApiSdk).unwrap(),
            "\"api_sdk\""
        );
    }

    #[test]
    fn category_error_lists_allowed_values() {
        let err = "ApiSdk".parse::<Category>().unwrap_err();
        assert_eq!(err.field, "category");
        for c in Category::ALL {
            assert!(err.message.contains(c.as_str()), "{}", err.message);
        }
    }

    #[test]
    fn priority_roundtrip() {
        for p in Priority::ALL {
            assert_eq!(p.as_str().parse::<Priority>(), Ok(p));
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("\"{p}\""));
            assert_eq!(serde_json::from_str::<Priority>(&json).unwrap(), p);
        }
    }

    #[test]
    fn priority_error_lists_allowed_values() {
        let err = "critical".parse::<Priority>().unwrap_err();
        assert_eq!(err.field, "priority");
        assert_eq!(err.message, "must be one of: low, normal, high, urgent");
    }

    #[test]
    fn priority_rank_and_order() {
        assert_eq!(Priority::default(), Priority::Normal);
        let ranks: Vec<u8> = Priority::ALL.iter().map(|p| p.rank()).collect();
        assert_eq!(ranks, [0, 1, 2, 3]);
        assert!(Priority::Urgent > Priority::High);
        assert!(Priority::Normal > Priority::Low);
    }
}
