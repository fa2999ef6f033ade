//! `IntOrString`: a field that is either a bare number or a string such as `"25%"`.

use std::fmt;

use bincode::{Decode, Encode};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// Kubernetes' `intstr.IntOrString`: serialized as a bare JSON number or string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Encode, Decode)]
pub enum IntOrString {
    Int(i32),
    String(String),
}

impl Default for IntOrString {
    fn default() -> Self {
        IntOrString::Int(0)
    }
}

impl From<i32> for IntOrString {
    fn from(v: i32) -> Self {
        IntOrString::Int(v)
    }
}

impl From<&str> for IntOrString {
    fn from(v: &str) -> Self {
        IntOrString::String(v.to_string())
    }
}

impl fmt::Display for IntOrString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntOrString::Int(i) => write!(f, "{i}"),
            IntOrString::String(s) => f.write_str(s),
        }
    }
}

impl IntOrString {
    /// The percentage of a `"NN%"` string, `None` for ints and other strings.
    pub fn percent(&self) -> Option<Result<i64, String>> {
        match self {
            IntOrString::Int(_) => None,
            IntOrString::String(s) => {
                let digits = s.strip_suffix('%')?;
                Some(
                    digits
                        .parse::<i64>()
                        .map_err(|_| format!("invalid value for IntOrString: invalid value {s:?}")),
                )
            }
        }
    }

    /// Kubernetes' `GetScaledValueFromIntOrPercent`: an int is returned as is, `"25%"`
    /// is 25% of `total`, rounded up or down.
    pub fn resolve(&self, total: i32, round_up: bool) -> Result<i32, String> {
        match self {
            IntOrString::Int(i) => Ok(*i),
            IntOrString::String(s) => {
                let pct = match self.percent() {
                    Some(r) => r?,
                    None => {
                        return Err(format!(
                            "invalid value for IntOrString: invalid type: string is not a percentage: {s:?}"
                        ))
                    }
                };
                let product = pct * i64::from(total);
                let v = if round_up { div_ceil(product, 100) } else { product.div_euclid(100) };
                i32::try_from(v).map_err(|_| format!("value {s:?} of {total} overflows"))
            }
        }
    }
}

fn div_ceil(a: i64, b: i64) -> i64 {
    let q = a.div_euclid(b);
    if a.rem_euclid(b) != 0 {
        q + 1
    } else {
        q
    }
}

impl schemars::JsonSchema for IntOrString {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "IntOrString".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "IntOrString is a type that can hold an int32 or a string. Written as a bare number (`1`) or a string (`\"25%\"`).",
            "type": "string",
            "format": "int-or-string",
        })
    }
}

impl Serialize for IntOrString {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            IntOrString::Int(i) => s.serialize_i32(*i),
            IntOrString::String(v) => s.serialize_str(v),
        }
    }
}

impl<'de> Deserialize<'de> for IntOrString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = IntOrString;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer or a string")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<IntOrString, E> {
                i32::try_from(v).map(IntOrString::Int).map_err(|_| E::custom(format!("{v} does not fit in int32")))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<IntOrString, E> {
                i32::try_from(v).map(IntOrString::Int).map_err(|_| E::custom(format!("{v} does not fit in int32")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<IntOrString, E> {
                Ok(IntOrString::String(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<IntOrString, E> {
                Ok(IntOrString::String(v))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_bare_and_parses_both_forms() {
        assert_eq!(serde_json::to_string(&IntOrString::Int(3)).unwrap(), "3");
        assert_eq!(serde_json::to_string(&IntOrString::from("25%")).unwrap(), "\"25%\"");
        assert_eq!(serde_json::from_str::<IntOrString>("8080").unwrap(), IntOrString::Int(8080));
        assert_eq!(serde_json::from_str::<IntOrString>("\"http\"").unwrap(), IntOrString::from("http"));
        assert!(serde_json::from_str::<IntOrString>("1.5").is_err());
        assert!(serde_json::from_str::<IntOrString>("99999999999").is_err());
    }

    #[test]
    fn resolves_percentages_with_rounding() {
        assert_eq!(IntOrString::Int(2).resolve(10, true), Ok(2));
        assert_eq!(IntOrString::from("25%").resolve(10, true), Ok(3));
        assert_eq!(IntOrString::from("25%").resolve(10, false), Ok(2));
        assert_eq!(IntOrString::from("100%").resolve(7, false), Ok(7));
        assert_eq!(IntOrString::from("0%").resolve(7, true), Ok(0));
        assert!(IntOrString::from("abc").resolve(10, true).is_err());
        assert!(IntOrString::from("x%").resolve(10, true).is_err());
    }

    #[test]
    fn bincode_round_trip() {
        for v in [IntOrString::Int(-4), IntOrString::from("30%")] {
            let bytes = crate::codec::encode(&v).unwrap();
            assert_eq!(crate::codec::decode::<IntOrString>(&bytes).unwrap(), v);
        }
    }
}
