//! Just enough ZIP (APPNOTE 6.3) to take the one deflated or stored file out
//! of `reversejp`'s data archives, with the inflater the workspace already
//! has; a ZIP crate would bring its own compressors for this one read.

/// The contents of the first file in the archive.
pub fn only_file(zip: &[u8]) -> Result<Vec<u8>, String> {
    let u16_at = |at: usize| -> Result<usize, String> {
        zip.get(at..at + 2)
            .map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])))
            .ok_or_else(|| "truncated".to_string())
    };
    let u32_at = |at: usize| -> Result<usize, String> {
        zip.get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .ok_or_else(|| "truncated".to_string())
    };
    // The end-of-central-directory record gives where the directory starts;
    // the directory (unlike the local header) always has the sizes.
    let eocd = zip
        .windows(4)
        .rposition(|w| w == b"PK\x05\x06")
        .ok_or("no end of central directory")?;
    let dir = u32_at(eocd + 16)?;
    if zip.get(dir..dir + 4) != Some(b"PK\x01\x02") {
        return Err("no central directory entry".into());
    }
    let method = u16_at(dir + 10)?;
    let size = u32_at(dir + 20)?;
    let local = u32_at(dir + 42)?;
    if zip.get(local..local + 4) != Some(b"PK\x03\x04") {
        return Err("no local file header".into());
    }
    let data = local + 30 + u16_at(local + 26)? + u16_at(local + 28)?;
    let body = zip.get(data..data + size).ok_or("truncated file data")?;
    match method {
        0 => Ok(body.to_vec()),
        8 => miniz_oxide::inflate::decompress_to_vec(body).map_err(|e| format!("{e:?}")),
        m => Err(format!("compression method {m}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-file archive as `zip` writes it, by hand.
    fn archive(method: u16, data: &[u8], name: &str) -> Vec<u8> {
        let mut z = b"PK\x03\x04".to_vec();
        z.extend(20u16.to_le_bytes());
        z.extend(0u16.to_le_bytes());
        z.extend(method.to_le_bytes());
        z.extend([0; 16]); // time, date, CRC, sizes (the directory has them)
        z.extend((name.len() as u16).to_le_bytes());
        z.extend(0u16.to_le_bytes());
        z.extend(name.as_bytes());
        z.extend(data);
        let dir = z.len() as u32;
        z.extend(b"PK\x01\x02");
        z.extend([20, 0, 20, 0, 0, 0]);
        z.extend(method.to_le_bytes());
        z.extend([0; 8]);
        z.extend((data.len() as u32).to_le_bytes());
        z.extend([0; 4]);
        z.extend((name.len() as u16).to_le_bytes());
        z.extend([0; 12]);
        z.extend(0u32.to_le_bytes()); // local header at 0
        z.extend(name.as_bytes());
        let dir_len = z.len() as u32 - dir;
        z.extend(b"PK\x05\x06");
        z.extend([0, 0, 0, 0, 1, 0, 1, 0]);
        z.extend(dir_len.to_le_bytes());
        z.extend(dir.to_le_bytes());
        z.extend([0, 0]);
        z
    }

    #[test]
    fn stored_and_deflated_files_come_out_whole() {
        let text = br#"{"type":"FeatureCollection","features":[]}"#;
        assert_eq!(
            only_file(&archive(0, text, "a.json")).expect("stored"),
            text
        );
        let packed = miniz_oxide::deflate::compress_to_vec(text, 6);
        assert_eq!(
            only_file(&archive(8, &packed, "a.json")).expect("deflated"),
            text
        );
        assert!(only_file(&archive(12, text, "a.json")).is_err(), "bzip2");
        assert!(only_file(b"not a zip").is_err());
    }
}
