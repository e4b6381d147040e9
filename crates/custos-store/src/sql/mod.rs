//! One small SQL interface over both engines, so every query and write is written once:
//! a connection is SQLite (rusqlite) or PostgreSQL (the synchronous `postgres` client).
//! The surface mirrors the part of rusqlite the queries use (`prepare_cached`,
//! `query_row`, `query_map`, `params!`); SQL is written with `?N` placeholders and
//! translated for PostgreSQL. Integers are 64-bit on both, booleans are stored as
//! integers, bytes as BLOB/BYTEA.

mod pg;
mod value;

pub(crate) use pg::PgConn;
pub(crate) use value::{FromSql, ToSql, Val, Value};

/// Errors of the facade.
#[derive(Debug)]
pub(crate) enum Error {
    /// SQLite said no.
    Lite(rusqlite::Error),
    /// PostgreSQL said no.
    Pg(postgres::Error),
    /// PostgreSQL refused to prepare a statement (the SQL, never values, is kept).
    Prepare(postgres::Error, String),
    /// `query_row` found nothing.
    NoRows,
    /// A stored integer does not fit the type read.
    OutOfRange(i64),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Lite(e) => e.fmt(f),
            Self::Pg(e) => pg_message(e, f),
            Self::Prepare(e, sql) => {
                pg_message(e, f)?;
                write!(f, " in: {sql}")
            }
            Self::NoRows => f.write_str("query returned no rows"),
            Self::OutOfRange(v) => write!(f, "stored integer {v} is out of range"),
        }
    }
}

fn pg_message(e: &postgres::Error, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    match e.as_db_error() {
        Some(db) => write!(f, "{}: {}", db.code().code(), db.message()),
        None => std::fmt::Display::fmt(e, f),
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        match e {
            rusqlite::Error::QueryReturnedNoRows => Self::NoRows,
            e => Self::Lite(e),
        }
    }
}

impl From<postgres::Error> for Error {
    fn from(e: postgres::Error) -> Self {
        Self::Pg(e)
    }
}

impl Error {
    /// A unique, foreign-key or check constraint refused the statement.
    pub(crate) fn is_constraint(&self) -> bool {
        match self {
            Self::Lite(e) => e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation),
            // SQLSTATE class 23: integrity constraint violation.
            Self::Pg(e) | Self::Prepare(e, _) => e.code().is_some_and(|c| c.code().starts_with("23")),
            Self::NoRows | Self::OutOfRange(_) => false,
        }
    }
}

/// Facade result.
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

/// `query_row(..).optional()`: no row is `None`, not an error.
pub(crate) trait OptionalExtension<T> {
    fn optional(self) -> Result<Option<T>>;
}

impl<T> OptionalExtension<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(Error::NoRows) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Statement parameters.
pub(crate) trait Params {
    fn vals(&self) -> Vec<Val<'_>>;
}

impl Params for &[&dyn ToSql] {
    fn vals(&self) -> Vec<Val<'_>> {
        self.iter().map(|p| p.val()).collect()
    }
}

impl<T: ToSql, const N: usize> Params for [T; N] {
    fn vals(&self) -> Vec<Val<'_>> {
        self.iter().map(ToSql::val).collect()
    }
}

impl Params for () {
    fn vals(&self) -> Vec<Val<'_>> {
        Vec::new()
    }
}

/// Owned parameters built at run time (dynamic filters).
pub(crate) struct ParamsFromIter<'a>(&'a [Value]);

impl Params for ParamsFromIter<'_> {
    fn vals(&self) -> Vec<Val<'_>> {
        self.0.iter().map(ToSql::val).collect()
    }
}

pub(crate) fn params_from_iter(it: std::slice::Iter<'_, Value>) -> ParamsFromIter<'_> {
    ParamsFromIter(it.as_slice())
}

/// `params![a, b, c]`, as rusqlite's.
macro_rules! params {
    () => { &[] as &[&dyn $crate::sql::ToSql] };
    ($($p:expr),+ $(,)?) => { &[$(&$p as &dyn $crate::sql::ToSql),+] as &[&dyn $crate::sql::ToSql] };
}
pub(crate) use params;

/// Column index (`usize` only; kept generic so `get::<_, T>(i)` reads as in rusqlite).
pub(crate) trait ColIdx {
    fn idx(self) -> usize;
}

impl ColIdx for usize {
    fn idx(self) -> usize {
        self
    }
}

/// One result row.
pub(crate) enum Row<'a> {
    Lite(&'a rusqlite::Row<'a>),
    Pg(postgres::Row),
}

impl Row<'_> {
    /// Column `i` as `T`.
    pub(crate) fn get<I: ColIdx, T: FromSql>(&self, i: I) -> Result<T> {
        match self {
            Self::Lite(r) => T::from_lite(r, i.idx()).map_err(Error::from),
            Self::Pg(r) => T::from_pg(r, i.idx()),
        }
    }
}

/// Rows of a query, walked with `next`.
pub(crate) enum Rows<'s> {
    Lite(rusqlite::Rows<'s>),
    Pg(std::vec::IntoIter<postgres::Row>),
}

impl Rows<'_> {
    pub(crate) fn next(&mut self) -> Result<Option<Row<'_>>> {
        match self {
            Self::Lite(r) => Ok(r.next()?.map(Row::Lite)),
            Self::Pg(r) => Ok(r.next().map(Row::Pg)),
        }
    }
}

/// A connection to either engine.
pub(crate) enum Connection {
    Lite(rusqlite::Connection),
    Pg(Box<PgConn>),
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Lite(_) => "Connection::Sqlite",
            Self::Pg(_) => "Connection::Postgres",
        })
    }
}

/// A prepared (and cached) statement.
pub(crate) enum Stmt<'c> {
    Lite(rusqlite::CachedStatement<'c>),
    Pg(&'c PgConn, postgres::Statement),
}

fn lite_params<'a>(v: &'a [Val<'a>]) -> rusqlite::ParamsFromIter<std::slice::Iter<'a, Val<'a>>> {
    rusqlite::params_from_iter(v.iter())
}

impl Stmt<'_> {
    pub(crate) fn execute<P: Params>(&mut self, p: P) -> Result<usize> {
        let v = p.vals();
        match self {
            Self::Lite(s) => Ok(s.execute(lite_params(&v))?),
            Self::Pg(c, s) => c.execute(s, &v),
        }
    }

    pub(crate) fn query<P: Params>(&mut self, p: P) -> Result<Rows<'_>> {
        let v = p.vals();
        match self {
            Self::Lite(s) => {
                // rusqlite binds the values at once, so they need not outlive the call.
                let rows = s.query(lite_params(&v))?;
                Ok(Rows::Lite(rows))
            }
            Self::Pg(c, s) => Ok(Rows::Pg(c.query(s, &v)?.into_iter())),
        }
    }

    pub(crate) fn query_row<P: Params, T, F: FnOnce(&Row<'_>) -> Result<T>>(&mut self, p: P, f: F) -> Result<T> {
        let mut rows = self.query(p)?;
        match rows.next()? {
            Some(r) => f(&r),
            None => Err(Error::NoRows),
        }
    }

    pub(crate) fn query_map<P: Params, T, F: FnMut(&Row<'_>) -> Result<T>>(
        &mut self,
        p: P,
        mut f: F,
    ) -> Result<std::vec::IntoIter<Result<T>>> {
        let mut rows = self.query(p)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(f(&r));
        }
        Ok(out.into_iter())
    }
}

impl Connection {
    pub(crate) fn prepare_cached(&self, sql: &str) -> Result<Stmt<'_>> {
        match self {
            Self::Lite(c) => Ok(Stmt::Lite(c.prepare_cached(sql)?)),
            Self::Pg(c) => Ok(Stmt::Pg(c, c.prepare(sql)?)),
        }
    }

    pub(crate) fn execute<P: Params>(&self, sql: &str, p: P) -> Result<usize> {
        self.prepare_cached(sql)?.execute(p)
    }

    pub(crate) fn query_row<P: Params, T, F: FnOnce(&Row<'_>) -> Result<T>>(&self, sql: &str, p: P, f: F) -> Result<T> {
        self.prepare_cached(sql)?.query_row(p, f)
    }

    /// Statements without parameters or results (transaction control, DDL).
    pub(crate) fn execute_batch(&self, sql: &str) -> Result<()> {
        match self {
            Self::Lite(c) => Ok(c.execute_batch(sql)?),
            Self::Pg(c) => c.batch(sql),
        }
    }

    /// Start a write transaction. SQLite takes its one write lock at once; PostgreSQL
    /// nodes take a transaction-scoped advisory lock, so write transactions of every
    /// node on one database follow one another exactly as on SQLite: the audit chain
    /// gets one next sequence number and every precondition reads committed state.
    pub(crate) fn begin_write(&self) -> Result<()> {
        match self {
            Self::Lite(c) => Ok(c.execute_batch("BEGIN IMMEDIATE")?),
            Self::Pg(c) => c.batch(&format!("BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})")),
        }
    }

    /// Whether the connection can no longer be used.
    pub(crate) fn is_closed(&self) -> bool {
        match self {
            Self::Lite(_) => false,
            Self::Pg(c) => c.is_closed(),
        }
    }
}

/// The advisory lock key every node's writer takes for a write transaction.
pub(crate) const WRITE_LOCK: i64 = 0x4375_7374_6f73; // "Custos"

/// A facade error as a store error; details go to the log only.
pub(crate) fn backend(e: Error) -> custos_core::store::StoreError {
    custos_core::store::StoreError::Backend(e.to_string())
}
