//! ctxfw: a Citrix deployment topology in, firewall rule sets out.
//!
//! The pipeline is the module layout: [`catalogue`] and [`topology`] are read and checked,
//! [`resolve`] binds them into [`flow::Flow`]s, and the output modules render them.

pub mod catalogue;
pub mod cond;
pub mod diag;
pub mod doc;
pub mod flow;
