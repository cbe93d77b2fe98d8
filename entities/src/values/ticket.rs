//! A ticket's columns and those of its messages and events (docs/API.md §4).
use sea_orm::sea_query::StringLen;

use super::FieldError;

vocabulary! {
    #[derive(utoipa::ToSchema)]
    pub enum TicketStatus {
        Open = "open",
        AwaitingUser = "awaiting_user",
        InProgress = "in_progress",
        Resolved = "resolved",
        Closed = "closed",
    }
}

parsed_from_field!(TicketStatus, "status");

vocabulary! {
    #[derive(utoipa::ToSchema)]
    pub enum Category {
        Billing = "billing",
        VoiceQuality = "voice_quality",
        Telephony = "telephony",
        AgentPublishing = "agent_publishing",
        ApiSdk = "api_sdk",
        Account = "account",
        Bug = "bug",
        Other = "other",
    }
}

parsed_from_field!(Category, "category");

vocabulary! {
    /// Variant order is rank order, so the derived `Ord` agrees with [`Priority::rank`].
    #[derive(PartialOrd, Ord, Default, utoipa::ToSchema)]
    pub enum Priority {
        Low = "low",
        #[default]
        Normal = "normal",
        High = "high",
        Urgent = "urgent",
    }
}

impl Priority {
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

parsed_from_field!(Priority, "priority");

vocabulary! {
    /// Settlement of the ticket fee: `none` when there was no fee.
    pub enum ChargeStatus {
        None = "none",
        Pending = "pending",
        Settled = "settled",
    }
}

vocabulary! {
    /// The bug bounty: awarded at most once.
    pub enum BountyStatus {
        None = "none",
        Awarded = "awarded",
    }
}

vocabulary! {
    /// The new-ticket email to the support inbox.
    pub enum TicketEmailStatus {
        Queued = "queued",
        Delivered = "delivered",
        Failed = "failed",
        Skipped = "skipped",
    }
}

vocabulary! {
    /// Who wrote a message (`messages.author`); a bot's messages are `triage_bot`'s.
    pub enum MessageAuthor {
        Customer = "customer",
        Operator = "operator",
        TriageBot = "triage_bot",
        System = "system",
    }
}

vocabulary! {
    /// What a ticket event records (`ticket_events.kind`).
    pub enum TicketEventKind {
        Created = "created",
        MessageAdded = "message_added",
        StatusChanged = "status_changed",
        PriorityChanged = "priority_changed",
        Assigned = "assigned",
        TagsChanged = "tags_changed",
        BountyAwarded = "bounty_awarded",
        Merged = "merged",
        SlaWarning = "sla_warning",
        SlaBreached = "sla_breached",
        Erased = "erased",
    }
}

vocabulary! {
    /// What an in-app notification tells the tenant about (`notifications.kind`).
    pub enum NotificationKind {
        OperatorReply = "operator_reply",
        StatusChanged = "status_changed",
        BountyAwarded = "bounty_awarded",
        LowBalance = "low_balance",
    }
}
