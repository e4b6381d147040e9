//! End-to-end tests: each starts the real `custos` binary on loopback and talks HTTPS to
//! it, or drives its CLI, with real SQLite files in a temporary directory.

#![allow(unreachable_pub)] // test support items are shared between test modules only
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failed unwrap is a failed test

mod alerts;
mod audit;
mod backup;
mod bad_input;
mod cli;
mod crash;
mod export;
mod identity;
mod isolation;
mod keys_review;
mod nodes;
mod oidc;
mod privacy;
mod privacy_export;
mod privacy_locked;
mod records;
mod reset;
mod role_matrix;
mod seal;
mod staff;
mod support;
mod tamper;
mod zones;
