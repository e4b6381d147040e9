//! Checked identifiers: parsed once at the edge, trusted inside. Each type's rule is in
//! its `parse`. Names are ASCII so that they are safe in paths, logs and AAD.

use crate::CoreError;
use crate::clock::Timestamp;
use std::fmt;

fn is_name(s: &str, max: usize, extra: &[u8]) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= max
        && b[0].is_ascii_lowercase()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || extra.contains(c))
}

fn is_prefixed_hex(s: &str, prefix: &str, hex_len: usize) -> bool {
    s.strip_prefix(prefix)
        .is_some_and(|h| h.len() == hex_len && h.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)))
}

macro_rules! id_type {
    ($(#[$m:meta])* $name:ident, $what:literal, |$s:ident| $check:expr, $rule:literal) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            #[doc = concat!("Parse a ", $what, ": ", $rule, ".")]
            pub fn parse($s: &str) -> Result<Self, CoreError> {
                if $check {
                    Ok(Self($s.to_owned()))
                } else {
                    Err(CoreError::invalid($what, $rule))
                }
            }

            /// The text form.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(|_| serde::de::Error::custom(concat!("invalid ", $what, ": ", $rule)))
            }
        }
    };
}

id_type!(
    /// A tenant's unique account code.
    TenantCode, "tenant code", |s| is_name(s, 32, b"-"), "2-32 of a-z, 0-9, '-', starting with a letter"
);
id_type!(
    /// A residency zone name.
    ZoneName, "zone", |s| is_name(s, 32, b"-"), "1-32 of a-z, 0-9, '-', starting with a letter"
);
id_type!(
    /// A collection name.
    CollectionName, "collection name", |s| is_name(s, 64, b"_-"), "1-64 of a-z, 0-9, '_', '-', starting with a letter"
);
id_type!(
    /// A field name within a collection schema.
    FieldName, "field name", |s| is_name(s, 64, b"_"), "1-64 of a-z, 0-9, '_', starting with a letter"
);
id_type!(
    /// A purpose of processing (`grading`, `support`, `dsr`...).
    Purpose, "purpose", |s| is_name(s, 32, b"_-"), "1-32 of a-z, 0-9, '_', '-', starting with a letter"
);
id_type!(
    /// A record id: `rec_` and 32 hex digits, time-ordered.
    RecordId, "record id", |s| is_prefixed_hex(s, "rec_", 32), "rec_ followed by 32 lowercase hex digits"
);
id_type!(
    /// A subject's pseudonym: `sub_` and 32 random hex digits.
    Pseudonym, "subject id", |s| is_prefixed_hex(s, "sub_", 32), "sub_ followed by 32 lowercase hex digits"
);
id_type!(
    /// An API key's public id: `key_` and 16 hex digits.
    ApiKeyId, "api key id", |s| is_prefixed_hex(s, "key_", 16), "key_ followed by 16 lowercase hex digits"
);
id_type!(
    /// A staff user's id: `usr_` and 16 hex digits.
    UserId, "user id", |s| is_prefixed_hex(s, "usr_", 16), "usr_ followed by 16 lowercase hex digits"
);

id_type!(
    /// A recipient (a third party that receives disclosed data): `rcp_` and 16 hex digits.
    RecipientId, "recipient id", |s| is_prefixed_hex(s, "rcp_", 16), "rcp_ followed by 16 lowercase hex digits"
);
id_type!(
    /// A data-subject request (export or erasure): `dsr_` and 16 hex digits.
    DsrId, "request id", |s| is_prefixed_hex(s, "dsr_", 16), "dsr_ followed by 16 lowercase hex digits"
);
id_type!(
    /// A disclosure of a subject's data to a recipient: `dis_` and 16 hex digits.
    DisclosureId, "disclosure id", |s| is_prefixed_hex(s, "dis_", 16), "dis_ followed by 16 lowercase hex digits"
);
id_type!(
    /// A stored file: `fil_` and 32 hex digits, time-ordered.
    FileId, "file id", |s| is_prefixed_hex(s, "fil_", 32), "fil_ followed by 32 lowercase hex digits"
);

macro_rules! random_id {
    ($name:ident, $prefix:literal, $bytes:literal) => {
        impl $name {
            /// A new random id.
            pub fn generate() -> Result<Self, CoreError> {
                Ok(Self(format!(concat!($prefix, "{}"), custos_crypto::random_hex($bytes)?)))
            }
        }
    };
}
random_id!(RecipientId, "rcp_", 8);
random_id!(DsrId, "dsr_", 8);
random_id!(DisclosureId, "dis_", 8);

impl FileId {
    /// A new id: 48-bit millisecond time then 80 random bits, so ids sort by creation.
    pub fn generate(now: Timestamp) -> Result<Self, CoreError> {
        let ms = u64::try_from(now.0).unwrap_or(0) & 0xffff_ffff_ffff;
        Ok(Self(format!("fil_{ms:012x}{}", custos_crypto::random_hex(10)?)))
    }
}

impl UserId {
    /// A new random user id.
    pub fn generate() -> Result<Self, CoreError> {
        Ok(Self(format!("usr_{}", custos_crypto::random_hex(8)?)))
    }
}

impl TenantCode {
    /// Codes are at least two characters.
    pub fn parse_strict(s: &str) -> Result<Self, CoreError> {
        if s.len() < 2 {
            return Err(CoreError::invalid("tenant code", "2-32 of a-z, 0-9, '-', starting with a letter"));
        }
        Self::parse(s)
    }
}

impl RecordId {
    /// A new id: 48-bit millisecond time then 80 random bits, so ids sort by creation.
    pub fn generate(now: Timestamp) -> Result<Self, CoreError> {
        let ms = u64::try_from(now.0).unwrap_or(0) & 0xffff_ffff_ffff;
        let rand = custos_crypto::random_hex(10)?;
        Ok(Self(format!("rec_{ms:012x}{rand}")))
    }
}

impl Pseudonym {
    /// A new random pseudonym (128 bits).
    pub fn generate() -> Result<Self, CoreError> {
        Ok(Self(format!("sub_{}", custos_crypto::random_hex(16)?)))
    }
}

impl ApiKeyId {
    /// A new random key id.
    pub fn generate() -> Result<Self, CoreError> {
        Ok(Self(format!("key_{}", custos_crypto::random_hex(8)?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_their_rules() {
        assert!(TenantCode::parse_strict("uio").is_ok());
        assert!(TenantCode::parse_strict("u").is_err());
        for bad in ["", "Uio", "1uio", "ui o", "uio/..", "a_b", &"a".repeat(33)] {
            assert!(TenantCode::parse_strict(bad).is_err(), "{bad}");
        }
        assert!(CollectionName::parse("exam_results").is_ok());
        assert!(FieldName::parse("email").is_ok());
        assert!(FieldName::parse("e-mail").is_err());
    }

    #[test]
    fn generated_ids_parse_and_sort_by_time() {
        let a = RecordId::generate(Timestamp(1_000)).unwrap();
        let b = RecordId::generate(Timestamp(2_000)).unwrap();
        assert!(a < b);
        assert!(RecordId::parse(a.as_str()).is_ok());
        assert!(RecordId::parse("rec_xyz").is_err());
        let p = Pseudonym::generate().unwrap();
        assert!(Pseudonym::parse(p.as_str()).is_ok());
        assert!(Pseudonym::parse(&p.as_str().to_uppercase()).is_err());
    }
}
