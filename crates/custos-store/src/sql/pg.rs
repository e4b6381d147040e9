//! A PostgreSQL connection behind the facade: the synchronous client, a cache of
//! prepared statements (one round trip per execution after the first), and the
//! translation of `?N` placeholders to `$N`.

use super::{Result, Val};
use std::cell::RefCell;
use std::collections::HashMap;

/// One PostgreSQL session. Used from one thread at a time (a pool hands it out).
pub(crate) struct PgConn {
    client: RefCell<postgres::Client>,
    cache: RefCell<HashMap<String, postgres::Statement>>,
}

impl PgConn {
    pub(crate) fn new(client: postgres::Client) -> Self {
        Self { client: RefCell::new(client), cache: RefCell::new(HashMap::new()) }
    }

    pub(crate) fn prepare(&self, sql: &str) -> Result<postgres::Statement> {
        if let Some(s) = self.cache.borrow().get(sql) {
            return Ok(s.clone());
        }
        let st =
            self.client.borrow_mut().prepare(&translate(sql)).map_err(|e| super::Error::Prepare(e, sql.to_owned()))?;
        let mut cache = self.cache.borrow_mut();
        // Dynamic filters make a bounded number of shapes; the bound is a guard only.
        if cache.len() >= 512 {
            cache.clear();
        }
        cache.insert(sql.to_owned(), st.clone());
        Ok(st)
    }

    fn refs<'a>(v: &'a [Val<'a>]) -> Vec<&'a (dyn postgres::types::ToSql + Sync)> {
        v.iter().map(|x| x as &(dyn postgres::types::ToSql + Sync)).collect()
    }

    pub(crate) fn execute(&self, st: &postgres::Statement, v: &[Val<'_>]) -> Result<usize> {
        let n = self.client.borrow_mut().execute(st, &Self::refs(v))?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    pub(crate) fn query(&self, st: &postgres::Statement, v: &[Val<'_>]) -> Result<Vec<postgres::Row>> {
        Ok(self.client.borrow_mut().query(st, &Self::refs(v))?)
    }

    pub(crate) fn batch(&self, sql: &str) -> Result<()> {
        Ok(self.client.borrow_mut().batch_execute(sql)?)
    }

    /// The client itself, for what the facade does not cover (snapshots).
    pub(crate) fn client(&self) -> std::cell::RefMut<'_, postgres::Client> {
        self.client.borrow_mut()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.client.borrow().is_closed()
    }
}

/// `?N` → `$N`, and a bare `?` → the next number. Quoted text is left alone.
pub(crate) fn translate(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut next = 1u32;
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted => {
                out.push('$');
                if chars.peek().is_some_and(char::is_ascii_digit) {
                    while let Some(d) = chars.next_if(char::is_ascii_digit) {
                        out.push(d);
                    }
                } else {
                    out.push_str(&next.to_string());
                    next += 1;
                }
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_translate_and_literals_stay() {
        assert_eq!(super::translate("a = ?1 AND b = ?12 AND c = '?'"), "a = $1 AND b = $12 AND c = '?'");
        assert_eq!(super::translate("IN (?, ?)"), "IN ($1, $2)");
    }
}
