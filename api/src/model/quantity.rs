//! `Quantity`: Kubernetes resource amounts (`100m`, `1.5Gi`, `1e3`), parsed exactly.
//!
//! The stored form is the string the user wrote. [`Quantity::parse`] turns it into an
//! exact count of nano-units (Kubernetes keeps no precision below `n`, rounding up),
//! with integer arithmetic only.

use std::fmt;

use bincode::{Decode, Encode};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// A resource amount as written by the user, e.g. `"500m"` or `"2Gi"`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Encode, Decode)]
pub struct Quantity(pub String);

/// How a quantity was written; kept for formatting decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantityFormat {
    /// `Ki`, `Mi`, …
    BinarySI,
    /// `m`, `k`, `M`, … or no suffix.
    DecimalSI,
    /// `1e3`, `1.5E6`.
    DecimalExponent,
}

/// An exactly parsed quantity: the amount in nano-units (10^-9), rounded away from zero
/// below that precision like Kubernetes. Equality and order compare amounts only.
#[derive(Debug, Clone, Copy)]
pub struct ParsedQuantity {
    pub nanos: i128,
    pub format: QuantityFormat,
}

impl PartialEq for ParsedQuantity {
    fn eq(&self, other: &Self) -> bool {
        self.nanos == other.nanos
    }
}

impl Eq for ParsedQuantity {}

impl PartialOrd for ParsedQuantity {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ParsedQuantity {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

/// Divides rounding away from zero (Kubernetes' RoundUp).
fn div_away(a: i128, b: i128) -> i128 {
    let q = a / b;
    if a % b != 0 {
        if a > 0 {
            q + 1
        } else {
            q - 1
        }
    } else {
        q
    }
}

impl ParsedQuantity {
    /// Kubernetes' `MilliValue`: thousandths, rounded up.
    pub fn milli_value(&self) -> i128 {
        div_away(self.nanos, 1_000_000)
    }

    /// Kubernetes' `Value`: whole units, rounded up.
    pub fn value(&self) -> i128 {
        div_away(self.nanos, 1_000_000_000)
    }

    pub fn is_negative(&self) -> bool {
        self.nanos < 0
    }
}

impl Quantity {
    pub fn new(s: impl Into<String>) -> Self {
        Quantity(s.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Parses this quantity's string; see [`Quantity::parse`].
    pub fn parsed(&self) -> Result<ParsedQuantity, String> {
        Quantity::parse(&self.0)
    }

    /// Parses Kubernetes' quantity grammar:
    /// `[+-]digits[.digits](Ki|Mi|Gi|Ti|Pi|Ei|n|u|m||k|M|G|T|P|E|e[+-]int|E[+-]int)`.
    pub fn parse(s: &str) -> Result<ParsedQuantity, String> {
        let bad = || format!("quantity {s:?} must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
        let b = s.as_bytes();
        let mut i = 0;
        let mut negative = false;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            negative = b[i] == b'-';
            i += 1;
        }
        let int_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let int_digits = &s[int_start..i];
        let mut frac_digits = "";
        if i < b.len() && b[i] == b'.' {
            i += 1;
            let fs = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            frac_digits = &s[fs..i];
        }
        if int_digits.is_empty() && frac_digits.is_empty() {
            return Err(bad());
        }
        let suffix = &s[i..];
        let (format, exp10, binary_pow): (QuantityFormat, i64, u32) = match suffix {
            "Ki" => (QuantityFormat::BinarySI, 0, 1),
            "Mi" => (QuantityFormat::BinarySI, 0, 2),
            "Gi" => (QuantityFormat::BinarySI, 0, 3),
            "Ti" => (QuantityFormat::BinarySI, 0, 4),
            "Pi" => (QuantityFormat::BinarySI, 0, 5),
            "Ei" => (QuantityFormat::BinarySI, 0, 6),
            "n" => (QuantityFormat::DecimalSI, -9, 0),
            "u" => (QuantityFormat::DecimalSI, -6, 0),
            "m" => (QuantityFormat::DecimalSI, -3, 0),
            "" => (QuantityFormat::DecimalSI, 0, 0),
            "k" => (QuantityFormat::DecimalSI, 3, 0),
            "M" => (QuantityFormat::DecimalSI, 6, 0),
            "G" => (QuantityFormat::DecimalSI, 9, 0),
            "T" => (QuantityFormat::DecimalSI, 12, 0),
            "P" => (QuantityFormat::DecimalSI, 15, 0),
            "E" => (QuantityFormat::DecimalSI, 18, 0),
            _ if suffix.starts_with(['e', 'E']) => {
                let e = &suffix[1..];
                let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
                if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) || digits.len() > 6 {
                    return Err(bad());
                }
                let v: i64 = e.parse().map_err(|_| bad())?;
                (QuantityFormat::DecimalExponent, v, 0)
            }
            _ => return Err(bad()),
        };
        // Mantissa: all digits, without leading zeros and trailing fraction zeros.
        let frac_trimmed = frac_digits.trim_end_matches('0');
        let all = format!("{int_digits}{frac_trimmed}");
        let all = all.trim_start_matches('0');
        let overflow = || format!("quantity {s:?} is too large");
        let mut mantissa: i128 = 0;
        for c in all.bytes() {
            mantissa = mantissa
                .checked_mul(10)
                .and_then(|m| m.checked_add(i128::from(c - b'0')))
                .ok_or_else(overflow)?;
        }
        if binary_pow > 0 {
            mantissa = mantissa.checked_mul(1024i128.pow(binary_pow)).ok_or_else(overflow)?;
        }
        // value = mantissa * 10^(exp10 - frac_len); in nanos: * 10^9.
        let scale = exp10 - frac_trimmed.len() as i64 + 9;
        let nanos = if mantissa == 0 {
            0
        } else if scale >= 0 {
            if scale > 38 {
                return Err(overflow());
            }
            mantissa.checked_mul(10i128.pow(scale as u32)).ok_or_else(overflow)?
        } else if scale < -38 {
            1
        } else {
            div_away(mantissa, 10i128.pow((-scale) as u32))
        };
        Ok(ParsedQuantity { nanos: if negative { -nanos } else { nanos }, format })
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Quantity {
    fn from(s: &str) -> Self {
        Quantity(s.to_string())
    }
}

impl schemars::JsonSchema for Quantity {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Quantity".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Quantity is a fixed-point representation of a number, written with an optional SI or binary suffix: `500m`, `2Gi`, `1e3`.",
            "type": "string",
        })
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Quantity;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a quantity string or number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Quantity, E> {
                Ok(Quantity(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Quantity, E> {
                Ok(Quantity(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Quantity, E> {
                Ok(Quantity(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Quantity, E> {
                Ok(Quantity(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Quantity, E> {
                // JSON numbers such as 0.5 arrive as f64; keep their shortest decimal text.
                if !v.is_finite() {
                    return Err(E::custom("quantity must be finite"));
                }
                Ok(Quantity(format!("{v}")))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn milli(s: &str) -> i128 {
        Quantity::parse(s).unwrap().milli_value()
    }

    #[test]
    fn parses_decimal_and_binary_suffixes() {
        assert_eq!(milli("100m"), 100);
        assert_eq!(milli("1"), 1000);
        assert_eq!(Quantity::parse("1.5Gi").unwrap().value(), 1_610_612_736);
        assert_eq!(Quantity::parse("12Mi").unwrap().value(), 12 * 1024 * 1024);
        assert_eq!(Quantity::parse("1Ki").unwrap().value(), 1024);
        assert_eq!(Quantity::parse("2k").unwrap().value(), 2000);
        assert_eq!(Quantity::parse("3M").unwrap().value(), 3_000_000);
        assert_eq!(Quantity::parse("1E").unwrap().value(), 1_000_000_000_000_000_000);
        assert_eq!(Quantity::parse("5n").unwrap().nanos, 5);
        assert_eq!(Quantity::parse("7u").unwrap().nanos, 7000);
        assert_eq!(Quantity::parse(".5").unwrap().milli_value(), 500);
        assert_eq!(Quantity::parse("5.").unwrap().value(), 5);
        assert_eq!(Quantity::parse("+5").unwrap().value(), 5);
    }

    #[test]
    fn equal_amounts_written_differently_compare_equal() {
        assert_eq!(Quantity::parse("0.1").unwrap(), Quantity::parse("100m").unwrap());
        assert_eq!(Quantity::parse("1e3").unwrap(), Quantity::parse("1k").unwrap());
        assert_eq!(Quantity::parse("1.5E6").unwrap().value(), 1_500_000);
        assert_eq!(Quantity::parse("1e-3").unwrap().milli_value(), 1);
        assert_eq!(Quantity::parse("1024").unwrap(), Quantity::parse("1Ki").unwrap());
        assert!(Quantity::parse("500m").unwrap() < Quantity::parse("1").unwrap());
    }

    #[test]
    fn rounds_up_like_kubernetes() {
        assert_eq!(milli("0.0001"), 1);
        assert_eq!(Quantity::parse("1500m").unwrap().value(), 2);
        assert_eq!(Quantity::parse("0.1n").unwrap().nanos, 1);
        assert_eq!(Quantity::parse("1e-20").unwrap().nanos, 1);
    }

    #[test]
    fn rejects_malformed() {
        for s in ["1.2.3", "abc", "5GB", "-", "", ".", "1e", "1e+", "Gi", "1 Gi", "1i", "1KI", "1e3.5", "--1"] {
            assert!(Quantity::parse(s).is_err(), "{s} should be rejected");
        }
    }

    #[test]
    fn rejects_overflow() {
        assert!(Quantity::parse("1e40").is_err());
        assert!(Quantity::parse("999999999999999999999999999999999999999999").is_err());
        assert!(Quantity::parse("100000000000000Ei").is_err());
    }

    #[test]
    fn negative_values_parse() {
        let q = Quantity::parse("-1").unwrap();
        assert!(q.is_negative());
        assert_eq!(q.value(), -1);
        assert_eq!(Quantity::parse("-100m").unwrap().milli_value(), -100);
    }

    #[test]
    fn serde_accepts_numbers_and_writes_strings() {
        let q: Quantity = serde_json::from_str("2").unwrap();
        assert_eq!(q, Quantity::from("2"));
        let q: Quantity = serde_json::from_str("0.5").unwrap();
        assert_eq!(q.parsed().unwrap().milli_value(), 500);
        assert_eq!(serde_json::to_string(&Quantity::from("1Gi")).unwrap(), "\"1Gi\"");
    }
}
