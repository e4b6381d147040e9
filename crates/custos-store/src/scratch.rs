//! Scratch PostgreSQL databases for tests: `CUSTOS_TEST_POSTGRES` names a server (an
//! administrator's URL); each call creates a new, empty database on it and returns its
//! URL. Without the variable there is no server to test against: `Ok(None)`, unless
//! `CUSTOS_REQUIRE_POSTGRES=1` says one must be there (the test command sets both).

use custos_core::store::StoreError;

/// The variable naming the test server.
pub const SERVER_VAR: &str = "CUSTOS_TEST_POSTGRES";

/// A new empty database on the test server, as a URL.
pub async fn scratch_postgres() -> Result<Option<String>, StoreError> {
    let Ok(admin) = std::env::var(SERVER_VAR) else {
        if std::env::var("CUSTOS_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
            return Err(StoreError::Backend(format!("{SERVER_VAR} is not set but PostgreSQL is required")));
        }
        return Ok(None);
    };
    create_database(&admin).await.map(Some)
}

/// Create a new, empty database (named `t_<random>`) on the server `admin` names (an
/// administrator's `postgres://` URL); its URL.
pub async fn create_database(admin: &str) -> Result<String, StoreError> {
    let admin = admin.to_owned();
    tokio::task::spawn_blocking(move || create(&admin))
        .await
        .map_err(|e| StoreError::Backend(format!("scratch task failed: {e}")))?
}

fn create(admin: &str) -> Result<String, StoreError> {
    let fail = |e: postgres::Error| StoreError::Backend(format!("scratch database: {e}"));
    let mut client = postgres::Client::connect(admin, postgres::NoTls).map_err(fail)?;
    let name = format!("t_{}", custos_crypto::random_hex(8).map_err(|_| StoreError::Backend("no randomness".into()))?);
    client.batch_execute(&format!("CREATE DATABASE {name}")).map_err(fail)?;
    let (base, _) =
        admin.rsplit_once('/').ok_or_else(|| StoreError::Backend(format!("{SERVER_VAR} must be a postgres:// URL")))?;
    Ok(format!("{base}/{name}"))
}
