//! Money: the ledger every balance change goes through (fees, credits, bounties), and the
//! spend report over it.
pub mod ledger;
pub mod spend;
