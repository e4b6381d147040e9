//! Collection schemas and record validation: typed fields with `pii`, `searchable` and
//! `required` flags, allowed purposes, and the normal form of searchable values that
//! feeds the blind index.

use crate::CoreError;
use crate::ids::{FieldName, Purpose};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Largest string field, in bytes.
pub const MAX_STRING_BYTES: usize = 65_536;
/// Largest `json` field, encoded, in bytes.
pub const MAX_JSON_BYTES: usize = 262_144;
/// Most fields in one schema.
pub const MAX_FIELDS: usize = 128;
/// Most purposes in one schema.
pub const MAX_PURPOSES: usize = 32;
/// Longest retention period, in days (a hundred years).
pub const MAX_RETENTION_DAYS: u32 = 36_500;

/// A field's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    /// UTF-8 text.
    String,
    /// A signed 64-bit integer.
    Integer,
    /// A finite double.
    Number,
    /// true or false.
    Boolean,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// An email address.
    Email,
    /// Any JSON value.
    Json,
}

/// One field of a schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// The field's type.
    #[serde(rename = "type")]
    pub kind: FieldType,
    /// Personal data: sealed under the subject key when the record has a subject, and
    /// readable only with an allowed purpose.
    #[serde(default)]
    pub pii: bool,
    /// Exact-match lookups through a blind index.
    #[serde(default)]
    pub searchable: bool,
    /// Must be present on create and cannot be removed.
    #[serde(default)]
    pub required: bool,
    /// Says who the subject is (name, email, national id): implies `pii`, and is returned
    /// only to principals allowed to re-identify; each such read is audited.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub identifying: bool,
    /// Shared content (a course review's text) kept when its subject is erased, under a
    /// tombstone pseudonym instead of the subject's, unless the erasure asks to delete it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub anonymise_on_erasure: bool,
}

/// A collection's schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CollectionSchema {
    /// Field name to field spec.
    #[schema(value_type = BTreeMap<String, FieldSpec>)]
    pub fields: BTreeMap<FieldName, FieldSpec>,
    /// Purposes for which personal data of this collection may be read.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub purposes: Vec<Purpose>,
    /// Records are purged this many days after they were created (none: kept until
    /// deleted or erased).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<u32>,
}

/// A validated field value ready to be sealed.
#[derive(Debug)]
pub struct CheckedValue<'a> {
    /// The field.
    pub name: FieldName,
    /// Its spec.
    pub spec: &'a FieldSpec,
    /// The value; `None` removes the field (patch only).
    pub value: Option<Value>,
}

impl CollectionSchema {
    /// Check the schema itself.
    pub fn check(&self) -> Result<(), CoreError> {
        if self.fields.is_empty() || self.fields.len() > MAX_FIELDS {
            return Err(CoreError::invalid("fields", format!("a schema has 1 to {MAX_FIELDS} fields")));
        }
        for (name, spec) in &self.fields {
            if spec.searchable && matches!(spec.kind, FieldType::Json | FieldType::Number) {
                return Err(CoreError::invalid(
                    format!("fields.{name}"),
                    "json and number fields cannot be searchable",
                ));
            }
        }
        for (name, spec) in &self.fields {
            if spec.identifying && !spec.pii {
                return Err(CoreError::invalid(format!("fields.{name}"), "an identifying field must be pii"));
            }
            if spec.anonymise_on_erasure && spec.identifying {
                return Err(CoreError::invalid(
                    format!("fields.{name}"),
                    "an identifying field cannot be kept after erasure",
                ));
            }
        }
        if self.retention_days.is_some_and(|d| d == 0 || d > MAX_RETENTION_DAYS) {
            return Err(CoreError::invalid("retention_days", format!("1 to {MAX_RETENTION_DAYS} days")));
        }
        if self.purposes.len() > MAX_PURPOSES {
            return Err(CoreError::invalid("purposes", format!("at most {MAX_PURPOSES} purposes")));
        }
        let mut seen = std::collections::BTreeSet::new();
        if !self.purposes.iter().all(|p| seen.insert(p)) {
            return Err(CoreError::invalid("purposes", "duplicate purpose"));
        }
        Ok(())
    }

    /// Whether replacing `self` by `new` keeps every stored record valid and readable:
    /// existing fields keep their type, pii and searchable flags; new fields are optional;
    /// a field may stop being required but not start.
    pub fn check_compatible(&self, new: &CollectionSchema) -> Result<(), CoreError> {
        for (name, old) in &self.fields {
            let Some(n) = new.fields.get(name) else {
                return Err(CoreError::Conflict(format!("field {name} cannot be removed from a schema")));
            };
            if n.kind != old.kind || n.pii != old.pii || n.searchable != old.searchable {
                return Err(CoreError::Conflict(format!("field {name} cannot change type, pii or searchable")));
            }
            if n.required && !old.required {
                return Err(CoreError::Conflict(format!("field {name} cannot become required")));
            }
        }
        for (name, n) in &new.fields {
            if n.required && !self.fields.contains_key(name) {
                return Err(CoreError::Conflict(format!("new field {name} cannot be required")));
            }
        }
        Ok(())
    }

    /// Whether any field is personal data.
    pub fn has_pii(&self) -> bool {
        self.fields.values().any(|f| f.pii)
    }

    /// Whether any field says who the subject is.
    pub fn has_identifying(&self) -> bool {
        self.fields.values().any(|f| f.identifying)
    }

    /// Whether `purpose` is allowed.
    pub fn allows(&self, purpose: &Purpose) -> bool {
        self.purposes.contains(purpose)
    }

    /// Validate the fields of a new record: no unknown fields, every required one present.
    pub fn validate_new<'a>(&'a self, input: Map<String, Value>) -> Result<Vec<CheckedValue<'a>>, CoreError> {
        let checked = self.validate_fields(input, false)?;
        for (name, spec) in &self.fields {
            if spec.required && !checked.iter().any(|c| &c.name == name) {
                return Err(CoreError::invalid(format!("fields.{name}"), "required field missing"));
            }
        }
        Ok(checked)
    }

    /// Validate a patch: no unknown fields; `null` removes an optional field.
    pub fn validate_patch<'a>(&'a self, input: Map<String, Value>) -> Result<Vec<CheckedValue<'a>>, CoreError> {
        if input.is_empty() {
            return Err(CoreError::invalid("fields", "a patch changes at least one field"));
        }
        self.validate_fields(input, true)
    }

    fn validate_fields<'a>(
        &'a self,
        input: Map<String, Value>,
        patch: bool,
    ) -> Result<Vec<CheckedValue<'a>>, CoreError> {
        let mut out = Vec::with_capacity(input.len());
        for (key, value) in input {
            let name = FieldName::parse(&key).map_err(|_| CoreError::invalid("fields", "unknown field"))?;
            let Some((name, spec)) = self.fields.get_key_value(&name) else {
                return Err(CoreError::invalid(format!("fields.{name}"), "unknown field"));
            };
            if value.is_null() {
                if spec.required {
                    return Err(CoreError::invalid(format!("fields.{name}"), "required field cannot be null"));
                }
                if patch {
                    out.push(CheckedValue { name: name.clone(), spec, value: None });
                }
                continue;
            }
            check_value(spec.kind, &value).map_err(|reason| CoreError::invalid(format!("fields.{name}"), reason))?;
            out.push(CheckedValue { name: name.clone(), spec, value: Some(value) });
        }
        Ok(out)
    }

    /// Parse and normalise a lookup value for a searchable field.
    pub fn search_key(&self, field: &FieldName, value: &Value) -> Result<Vec<u8>, CoreError> {
        let Some(spec) = self.fields.get(field) else {
            return Err(CoreError::invalid("field", "unknown field"));
        };
        if !spec.searchable {
            return Err(CoreError::invalid("field", "field is not searchable"));
        }
        check_value(spec.kind, value).map_err(|reason| CoreError::invalid("equals", reason))?;
        Ok(normalise(spec.kind, value))
    }
}

/// Check a non-null value against a type. The reason never echoes the value.
fn check_value(kind: FieldType, v: &Value) -> Result<(), String> {
    match kind {
        FieldType::String => match v.as_str() {
            Some(s) if s.len() <= MAX_STRING_BYTES => Ok(()),
            Some(_) => Err(format!("string longer than {MAX_STRING_BYTES} bytes")),
            None => Err("expected a string".into()),
        },
        FieldType::Integer => v.as_i64().map(|_| ()).ok_or_else(|| "expected an integer".into()),
        FieldType::Number => match v.as_f64() {
            Some(f) if f.is_finite() => Ok(()),
            _ => Err("expected a number".into()),
        },
        FieldType::Boolean => v.as_bool().map(|_| ()).ok_or_else(|| "expected true or false".into()),
        FieldType::Date => match v.as_str() {
            Some(s) if is_date(s) => Ok(()),
            _ => Err("expected a date YYYY-MM-DD".into()),
        },
        FieldType::Email => match v.as_str() {
            Some(s) if is_email(s) => Ok(()),
            _ => Err("expected an email address".into()),
        },
        FieldType::Json => {
            let len = serde_json::to_vec(v).map(|b| b.len()).unwrap_or(usize::MAX);
            if len <= MAX_JSON_BYTES { Ok(()) } else { Err(format!("json larger than {MAX_JSON_BYTES} bytes")) }
        }
    }
}

fn is_date(s: &str) -> bool {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    s.len() == 10 && time::Date::parse(s, &fmt).is_ok()
}

fn is_email(s: &str) -> bool {
    if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && !local.contains('@')
        && domain.len() >= 3
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && domain.chars().all(|c| c.is_alphanumeric() || c == '.' || c == '-')
}

/// The normal form of a value for the blind index: emails lower-cased, others as their
/// canonical JSON text.
pub fn normalise(kind: FieldType, v: &Value) -> Vec<u8> {
    match (kind, v) {
        (FieldType::Email, Value::String(s)) => s.to_lowercase().into_bytes(),
        (_, Value::String(s)) => s.as_bytes().to_vec(),
        (_, other) => other.to_string().into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> CollectionSchema {
        serde_json::from_value(json!({
            "fields": {
                "email": {"type": "email", "pii": true, "searchable": true, "required": true},
                "name": {"type": "string", "pii": true},
                "score": {"type": "integer"},
                "born": {"type": "date"},
                "extra": {"type": "json"}
            },
            "purposes": ["grading"]
        }))
        .unwrap()
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn validates_types_required_and_unknown() {
        let s = schema();
        s.check().unwrap();
        assert!(s.validate_new(obj(json!({"email": "kari@example.no", "score": 3}))).is_ok());
        assert!(s.validate_new(obj(json!({"score": 3}))).is_err());
        assert!(s.validate_new(obj(json!({"email": "kari@example.no", "bogus": 1}))).is_err());
        assert!(s.validate_new(obj(json!({"email": "not-an-email"}))).is_err());
        assert!(s.validate_new(obj(json!({"email": "kari@example.no", "score": "3"}))).is_err());
        assert!(s.validate_new(obj(json!({"email": "kari@example.no", "score": 1.5}))).is_err());
        assert!(s.validate_new(obj(json!({"email": "kari@example.no", "born": "2001-02-30"}))).is_err());
        assert!(s.validate_new(obj(json!({"email": "kari@example.no", "born": "2001-02-28"}))).is_ok());
        assert!(s.validate_patch(obj(json!({"email": null}))).is_err());
        assert_eq!(s.validate_patch(obj(json!({"name": null}))).unwrap()[0].value, None);
    }

    #[test]
    fn errors_never_echo_values() {
        let s = schema();
        let err = s.validate_new(obj(json!({"email": "secret-value"}))).unwrap_err().to_string();
        assert!(!err.contains("secret-value"), "{err}");
    }

    #[test]
    fn schema_rules() {
        let bad: CollectionSchema =
            serde_json::from_value(json!({"fields": {"x": {"type": "json", "searchable": true}}})).unwrap();
        assert!(bad.check().is_err());
        assert!(serde_json::from_value::<CollectionSchema>(json!({"fields": {"x": {"type": "blob"}}})).is_err());
        assert!(
            serde_json::from_value::<CollectionSchema>(json!({"fields": {"x": {"type": "string", "colour": 1}}}))
                .is_err()
        );
        let s = schema();
        let mut grown = s.clone();
        grown.fields.insert(
            FieldName::parse("note").unwrap(),
            FieldSpec {
                kind: FieldType::String,
                pii: false,
                searchable: false,
                required: false,
                identifying: false,
                anonymise_on_erasure: false,
            },
        );
        assert!(s.check_compatible(&grown).is_ok());
        assert!(grown.check_compatible(&s).is_err());
        let not_pii: CollectionSchema =
            serde_json::from_value(json!({"fields": {"name": {"type": "string", "identifying": true}}})).unwrap();
        assert!(not_pii.check().is_err(), "identifying implies pii");
        let kept: CollectionSchema = serde_json::from_value(
            json!({"fields": {"name": {"type": "string", "pii": true, "identifying": true, "anonymise_on_erasure": true}}}),
        )
        .unwrap();
        assert!(kept.check().is_err(), "an identifying field is never kept after erasure");
        let forever: CollectionSchema =
            serde_json::from_value(json!({"fields": {"x": {"type": "string"}}, "retention_days": 0})).unwrap();
        assert!(forever.check().is_err());
    }

    #[test]
    fn email_search_key_ignores_case() {
        let s = schema();
        let f = FieldName::parse("email").unwrap();
        assert_eq!(
            s.search_key(&f, &json!("Kari@Example.NO")).unwrap(),
            s.search_key(&f, &json!("kari@example.no")).unwrap()
        );
        assert!(s.search_key(&FieldName::parse("score").unwrap(), &json!(3)).is_err());
    }
}
