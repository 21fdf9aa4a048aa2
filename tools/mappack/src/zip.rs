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
