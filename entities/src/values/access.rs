//! Who and what: keys, sessions, processes, limits and the status banner.
use sea_orm::sea_query::StringLen;

vocabulary! {
    /// The kind of a tenant key.
    #[derive(utoipa::ToSchema)]
    pub enum KeyKind {
        Secret = "secret",
        Publishable = "publishable",
    }
}

vocabulary! {
    /// Who a web session acts for (`web_sessions.principal_kind`).
    pub enum PrincipalKind {
        Operator = "operator",
        Tenant = "tenant",
    }
}

vocabulary! {
    /// The kind of a registered process (`worker_instances.kind`).
    pub enum WorkerKind {
        Serve = "serve",
        Api = "api",
        Worker = "worker",
    }
}

vocabulary! {
    /// Where a tenant's rate limits come from (`tenants.limits_mode`).
    pub enum LimitsMode {
        Plan = "plan",
        Custom = "custom",
        Unlimited = "unlimited",
    }
}

vocabulary! {
    #[derive(utoipa::ToSchema)]
    pub enum Level {
        Operational = "operational",
        Degraded = "degraded",
        Outage = "outage",
    }
}
