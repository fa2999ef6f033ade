//! Kubernetes' `[]byte` fields (Secret `data`, ConfigMap `binaryData`): raw bytes in the
//! store and in Rust, standard base64 in JSON, as Go's encoding/json writes them.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bincode::{Decode, Encode};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Bytes that are base64 in JSON (`format: byte` in the schema).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct Bytes(pub Vec<u8>);

impl Bytes {
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }
}

impl From<&str> for Bytes {
    fn from(s: &str) -> Self {
        Bytes(s.as_bytes().to_vec())
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(v: Vec<u8>) -> Self {
        Bytes(v)
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        // Go's decoder accepts standard base64 with padding, ignoring embedded newlines
        // (`\r`, `\n`), and an empty string for no bytes.
        let cleaned: String = s.chars().filter(|c| *c != '\n' && *c != '\r').collect();
        STANDARD.decode(cleaned.as_bytes()).map(Bytes).map_err(|e| serde::de::Error::custom(format!("illegal base64 data: {e}")))
    }
}

impl schemars::JsonSchema for Bytes {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Bytes".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string", "format": "byte" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_in_json_bytes_in_rust() {
        let b = Bytes::from("hello");
        assert_eq!(serde_json::to_value(&b).unwrap(), "aGVsbG8=");
        let back: Bytes = serde_json::from_value("aGVs\nbG8=".into()).unwrap();
        assert_eq!(back, b);
        assert!(serde_json::from_value::<Bytes>("not base64!".into()).is_err());
        let empty: Bytes = serde_json::from_value("".into()).unwrap();
        assert!(empty.is_empty());
    }
}
