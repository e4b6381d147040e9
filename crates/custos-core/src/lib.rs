//! Custos domain: the vault service (tenants, collections, subjects, records, API keys,
//! sealing), the access policy, schema validation, the `Store` trait every backend
//! implements, and the injected `Clock`. No I/O of its own.
#![forbid(unsafe_code)]

pub mod audit;
pub mod clock;
pub mod error;
pub mod ids;
pub mod keyring;
pub mod policy;
pub mod schema;
pub mod service;
pub mod store;

pub use clock::{Clock, SystemClock, Timestamp};
pub use error::CoreError;
pub use service::Vault;
