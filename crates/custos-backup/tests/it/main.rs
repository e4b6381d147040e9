//! Backups over real SQLite files, real age encryption and the real `age` tool: round
//! trip, erasure replay, tamper refusal, retention on a manual clock, drills, and a
//! backup under sustained writes.

#![allow(unreachable_pub)] // test support items are shared between test modules only
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failed unwrap is a failed test

mod support;

mod drill;
mod load;
mod postgres;
mod retention;
mod roundtrip;
mod s3;
mod tamper;
