//! Money: the ledger every balance change goes through (fees, credits, bounties).
pub mod ledger;
