//! Background work: the outbox's queues, what each job records of its fate, and money.
use sea_orm::sea_query::StringLen;

vocabulary! {
    /// The five job queues (`outbox.queue`).
    pub enum Queue {
        Email = "email",
        Webhook = "webhook",
        Billing = "billing",
        Privacy = "privacy",
        Sla = "sla",
    }
}

vocabulary! {
    /// The SLA alerts of a ticket's first-response window (`sla_alerts.kind`).
    pub enum SlaAlert {
        /// 80 % of the window has passed.
        Warning = "warning",
        /// The first response is due now.
        Breached = "breached",
    }
}

vocabulary! {
    /// The fate of one outgoing message: a webhook delivery or an email.
    pub enum DeliveryStatus {
        Pending = "pending",
        Delivered = "delivered",
        /// Out of attempts.
        Failed = "failed",
    }
}

vocabulary! {
    /// Why an email is sent (`emails.kind`).
    pub enum EmailKind {
        NewTicket = "new_ticket",
        CustomerReply = "customer_reply",
        OperatorReply = "operator_reply",
        StatusChanged = "status_changed",
    }
}

vocabulary! {
    /// What changed a tenant's balance (`ledger_entries.kind`).
    pub enum LedgerKind {
        TicketFee = "ticket_fee",
        BountyCredit = "bounty_credit",
        TopUp = "top_up",
        Refund = "refund",
    }
}

vocabulary! {
    /// Settlement of a ledger entry by the billing job.
    pub enum LedgerStatus {
        Pending = "pending",
        Settled = "settled",
        /// The billing endpoint kept refusing it.
        Failed = "failed",
    }
}

vocabulary! {
    /// A tenant's erasure request.
    pub enum ErasureStatus {
        Pending = "pending",
        Running = "running",
        Done = "done",
    }
}

vocabulary! {
    /// An idempotency key's request: still running, or its answer is stored.
    pub enum IdempotencyState {
        InProgress = "in_progress",
        Done = "done",
    }
}
