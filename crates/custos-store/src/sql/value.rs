//! Values crossing the facade: parameters (borrowed `Val`, owned `Value`) and column
//! reads (`FromSql`), each converted for SQLite and for PostgreSQL.

use super::{Error, Result};
use bytes::BytesMut;
use postgres::types::{IsNull, Type, to_sql_checked};

/// A parameter value, borrowed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Val<'a> {
    Null,
    Int(i64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// A parameter value, owned (dynamic parameter lists).
#[derive(Debug, Clone)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Self::Blob(v)
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}

impl From<Option<String>> for Value {
    fn from(v: Option<String>) -> Self {
        v.map_or(Self::Null, Self::Text)
    }
}

/// Something that binds as a parameter.
pub(crate) trait ToSql {
    fn val(&self) -> Val<'_>;
}

impl ToSql for Value {
    fn val(&self) -> Val<'_> {
        match self {
            Self::Null => Val::Null,
            Self::Int(i) => Val::Int(*i),
            Self::Text(s) => Val::Text(s),
            Self::Blob(b) => Val::Blob(b),
        }
    }
}

impl ToSql for i64 {
    fn val(&self) -> Val<'_> {
        Val::Int(*self)
    }
}

impl ToSql for u32 {
    fn val(&self) -> Val<'_> {
        Val::Int(i64::from(*self))
    }
}

impl ToSql for usize {
    fn val(&self) -> Val<'_> {
        Val::Int(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}

impl ToSql for i32 {
    fn val(&self) -> Val<'_> {
        Val::Int(i64::from(*self))
    }
}

impl ToSql for bool {
    fn val(&self) -> Val<'_> {
        Val::Int(i64::from(*self))
    }
}

impl ToSql for str {
    fn val(&self) -> Val<'_> {
        Val::Text(self)
    }
}

impl ToSql for String {
    fn val(&self) -> Val<'_> {
        Val::Text(self)
    }
}

impl ToSql for [u8] {
    fn val(&self) -> Val<'_> {
        Val::Blob(self)
    }
}

impl ToSql for Vec<u8> {
    fn val(&self) -> Val<'_> {
        Val::Blob(self)
    }
}

impl<T: ToSql + ?Sized> ToSql for &T {
    fn val(&self) -> Val<'_> {
        (**self).val()
    }
}

impl<T: ToSql> ToSql for Option<T> {
    fn val(&self) -> Val<'_> {
        self.as_ref().map_or(Val::Null, ToSql::val)
    }
}

impl rusqlite::ToSql for Val<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Self::Null => ValueRef::Null,
            Self::Int(i) => ValueRef::Integer(*i),
            Self::Text(s) => ValueRef::Text(s.as_bytes()),
            Self::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

impl postgres::types::ToSql for Val<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Self::Null => Ok(IsNull::Yes),
            Self::Int(i) if *ty == Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
            Self::Int(i) if *ty == Type::BOOL => (*i != 0).to_sql(ty, out),
            Self::Int(i) => i.to_sql(ty, out),
            Self::Text(s) => s.to_sql(ty, out),
            Self::Blob(b) => b.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// A column type the queries read.
pub(crate) trait FromSql: Sized {
    fn from_lite(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Self>;
    fn from_pg(r: &postgres::Row, i: usize) -> Result<Self>;
}

macro_rules! both {
    ($($t:ty),*) => {$(
        impl FromSql for $t {
            fn from_lite(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Self> {
                r.get(i)
            }
            fn from_pg(r: &postgres::Row, i: usize) -> Result<Self> {
                r.try_get(i).map_err(Error::Pg)
            }
        }
    )*};
}

both!(String, Vec<u8>, i64, Option<String>, Option<Vec<u8>>, Option<i64>);

impl FromSql for bool {
    fn from_lite(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Self> {
        r.get(i)
    }

    fn from_pg(r: &postgres::Row, i: usize) -> Result<Self> {
        if r.columns().get(i).is_some_and(|c| *c.type_() == Type::BOOL) {
            r.try_get(i).map_err(Error::Pg)
        } else {
            Ok(r.try_get::<_, i64>(i).map_err(Error::Pg)? != 0)
        }
    }
}

impl FromSql for u32 {
    fn from_lite(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Self> {
        r.get(i)
    }

    fn from_pg(r: &postgres::Row, i: usize) -> Result<Self> {
        let v: i64 = r.try_get(i).map_err(Error::Pg)?;
        u32::try_from(v).map_err(|_| Error::OutOfRange(v))
    }
}
