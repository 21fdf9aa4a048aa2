//! Lowercase hex of bytes: how SIP digest values are written (RFC 7616) and
//! how the board writes its tokens and secret hashes.

use std::fmt::Write as _;

/// `bytes` as lowercase hex, two digits a byte.
pub fn to_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::to_hex;

    #[test]
    fn each_byte_is_two_lowercase_digits() {
        assert_eq!(to_hex(&[0x00, 0x0f, 0xa0, 0xff]), "000fa0ff");
        assert_eq!(to_hex(&[]), "");
    }
}
