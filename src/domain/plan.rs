//! Plans and their limits and SLA terms (docs/API.md §3).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::FieldError;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    #[default]
    Free,
    Base,
    Pilot,
    Enterprise,
}

/// What a plan grants. Operators may override the rate limits per tenant;
/// the SLA part is copied onto each ticket at creation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanSpec {
    /// `None` means unlimited.
    pub requests_per_minute: Option<u32>,
    /// `None` when unlimited.
    pub burst: Option<u32>,
    pub sla_tier: &'static str,
    pub first_response_target: &'static str,
    /// `None` means best effort (no due date).
    pub target_hours: Option<u32>,
    pub priority_queue: bool,
}

static FREE: PlanSpec = PlanSpec {
    requests_per_minute: Some(60),
    burst: Some(5),
    sla_tier: "community",
    first_response_target: "Best effort, community support",
    target_hours: None,
    priority_queue: false,
};

static BASE: PlanSpec = PlanSpec {
    requests_per_minute: Some(300),
    burst: Some(25),
    sla_tier: "standard",
    first_response_target: "1 business day",
    target_hours: Some(8),
    priority_queue: false,
};

static PILOT: PlanSpec = PlanSpec {
    requests_per_minute: Some(1000),
    burst: Some(100),
    sla_tier: "priority",
    first_response_target: "4 business hours",
    target_hours: Some(4),
    priority_queue: true,
};

static ENTERPRISE: PlanSpec = PlanSpec {
    requests_per_minute: None,
    burst: None,
    sla_tier: "enterprise",
    first_response_target: "4 hours, 24/7 for urgent issues",
    target_hours: Some(4),
    priority_queue: true,
};

impl Plan {
    /// A stored plan name; a value written by a newer version reads as `free`.
    pub fn from_stored(raw: &str) -> Plan {
        raw.parse().unwrap_or(Plan::Free)
    }

    pub const ALL: [Plan; 4] = [Plan::Free, Plan::Base, Plan::Pilot, Plan::Enterprise];

    pub const fn as_str(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::Base => "base",
            Plan::Pilot => "pilot",
            Plan::Enterprise => "enterprise",
        }
    }

    pub fn spec(self) -> &'static PlanSpec {
        match self {
            Plan::Free => &FREE,
            Plan::Base => &BASE,
            Plan::Pilot => &PILOT,
            Plan::Enterprise => &ENTERPRISE,
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Plan {
    type Err = FieldError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Plan::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| FieldError::new("plan", "must be one of: free, base, pilot, enterprise"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_roundtrip() {
        for plan in Plan::ALL {
            assert_eq!(plan.as_str().parse::<Plan>(), Ok(plan));
            assert_eq!(plan.to_string(), plan.as_str());
            let json = serde_json::to_string(&plan).unwrap();
            assert_eq!(json, format!("\"{}\"", plan.as_str()));
            assert_eq!(serde_json::from_str::<Plan>(&json).unwrap(), plan);
        }
    }

    #[test]
    fn unknown_plan_is_a_field_error() {
        let err = "Gold".parse::<Plan>().unwrap_err();
        assert_eq!(err.field, "plan");
        assert!(err.message.contains("free, base, pilot, enterprise"));
        assert!("Free".parse::<Plan>().is_err());
        assert!(serde_json::from_str::<Plan>("\"gold\"").is_err());
    }

    #[test]
    fn default_is_free() {
        assert_eq!(Plan::default(), Plan::Free);
    }

    #[test]
    fn spec_table_matches_contract() {
        let rows = [
            (
                Plan::Free,
                Some(60),
                Some(5),
                "community",
                "Best effort, community support",
                None,
                false,
            ),
            (
                Plan::Base,
                Some(300),
                Some(25),
                "standard",
                "1 business day",
                Some(8),
                false,
            ),
            (
                Plan::Pilot,
                Some(1000),
                Some(100),
                "priority",
                "4 business hours",
                Some(4),
                true,
            ),
            (
                Plan::Enterprise,
                None,
                None,
                "enterprise",
                "4 hours, 24/7 for urgent issues",
                Some(4),
                true,
            ),
        ];
        for (plan, rpm, burst, tier, target, hours, queue) in rows {
            let spec = plan.spec();
            assert_eq!(spec.requests_per_minute, rpm, "{plan}");
            assert_eq!(spec.burst, burst, "{plan}");
            assert_eq!(spec.sla_tier, tier, "{plan}");
            assert_eq!(spec.first_response_target, target, "{plan}");
            assert_eq!(spec.target_hours, hours, "{plan}");
            assert_eq!(spec.priority_queue, queue, "{plan}");
        }
    }
}
