//! The versioned bincode envelope every stored value is wrapped in.
//!
//! Layout: `b"SH"`, one format-version byte, then the object in bincode's standard
//! configuration. A reader refuses a value whose version it does not know instead of
//! misreading it.

use bincode::{Decode, Encode};

const MAGIC: &[u8; 2] = b"SH";
/// The envelope format written today.
/// Version 2: ObjectMeta carries managedFields.
pub const FORMAT_VERSION: u8 = 2;

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("stored value is not a shoal envelope")]
    NotAnEnvelope,
    #[error("stored value has envelope version {0}, this build reads {FORMAT_VERSION}")]
    UnknownVersion(u8),
    #[error("encoding value")]
    Encode(#[source] bincode::error::EncodeError),
    #[error("decoding value")]
    Decode(#[source] bincode::error::DecodeError),
}

/// Encodes `value` inside the envelope.
pub fn encode<T: Encode>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(MAGIC);
    out.push(FORMAT_VERSION);
    bincode::encode_into_std_write(value, &mut out, bincode::config::standard())
        .map_err(CodecError::Encode)?;
    Ok(out)
}

/// Decodes a value written by [`encode`].
pub fn decode<T: Decode<()>>(bytes: &[u8]) -> Result<T, CodecError> {
    if bytes.len() < 3 || &bytes[..2] != MAGIC {
        return Err(CodecError::NotAnEnvelope);
    }
    if bytes[2] != FORMAT_VERSION {
        return Err(CodecError::UnknownVersion(bytes[2]));
    }
    let (value, _) = bincode::decode_from_slice(&bytes[3..], bincode::config::standard())
        .map_err(CodecError::Decode)?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_round_trips_and_rejects_foreign_bytes() {
        let bytes = encode(&(7u32, String::from("x"))).unwrap();
        let back: (u32, String) = decode(&bytes).unwrap();
        assert_eq!(back, (7, "x".to_string()));
        assert!(matches!(decode::<u32>(b"{}"), Err(CodecError::NotAnEnvelope)));
        let mut future = bytes.clone();
        future[2] = 9;
        assert!(matches!(decode::<(u32, String)>(&future), Err(CodecError::UnknownVersion(9))));
    }
}
