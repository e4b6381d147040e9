//! Every query and write of the zone store, written once against the SQL facade and
//! run unchanged on SQLite and PostgreSQL.

pub(crate) mod apply;
pub(crate) mod identity_apply;
pub(crate) mod identity_read;
pub(crate) mod privacy_apply;
pub(crate) mod privacy_read;
pub(crate) mod read;
