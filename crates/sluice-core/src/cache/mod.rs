//! The edge cache of rewritten responses: every decision it needs, with no
//! Fastly type.
//!
//! The rewrite is paid once per page instead of once per view: the
//! rewritten response itself is the cached object (Fastly's core cache;
//! its read-through cache would only hold the origin's bytes). The adapter
//! owns the core cache calls; this module decides:
//!
//! | module | decides |
//! | --- | --- |
//! | [`request`] | whether a request looks up (and may fill), only reads, or bypasses |
//! | [`key`] | the primary key: everything the rewritten bytes depend on |
//! | [`vary`] | the headers every lookup carries, and a response's vary rule |
//! | [`policy`] | whether a response may be stored, for how long, how stale |
//! | [`stored_head`] | the status and headers replayed on a hit (`user_metadata`) |
//! | [`surrogate`] | the entry's surrogate keys (fill key, path key, origin keys) |
//! | [`fill`] | the size budget of a fill, and dead-fill detection |
//! | [`freshness`] | what to do with a found entry (hit, stale, refresh, pass) |
//! | [`conditional`] | `304` answers from a cached entry |
//! | [`delivery`] | `X-Cache`, `Age`, `Server-Timing` on the way out |
//! | [`purge`] | the authenticated `POST /_sluice/purge` route |
//! | [`found`] | what a lookup's answer becomes, and a found entry's head |
//! | [`inserter`] | the fill's committer: insert at the first byte, stream back, purge a broken fill |
//! | [`flow`] | one request's steps over the platform cache: look up, then store or pass |
//!
//! The adapter implements [`flow::CacheRead`] and [`inserter::CacheWrite`]
//! with Fastly's calls; [`flow`] and [`inserter`] run every step over
//! them, natively tested against a recording fake (docs/ARCHITECTURE.md,
//! "Edge cache").

pub mod conditional;
pub mod delivery;
mod directives;
pub mod fill;
pub mod flow;
pub mod found;
pub mod freshness;
pub mod inserter;
pub mod key;
pub mod policy;
pub mod purge;
pub mod request;
pub mod stored_head;
pub mod surrogate;
pub mod vary;

pub use directives::{Directives, Seconds};
pub use key::{CacheKey, CodingClass, KeyInput, RewriteFingerprint};
pub use policy::{decide, Decision, NotStored, RequestFacts, ResponseFacts, Store};
pub use stored_head::{Entry, StoredHead};
