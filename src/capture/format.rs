//! The recording format: file names, the stream header and one record's
//! bytes. A file is one zstd stream of `MAGIC` followed by records:
//!
//! ```text
//! kind: u8 | conn: u16 LE | ts_ns: u64 LE | len: u32 LE | payload[len] | crc32: u32 LE
//! ```
//!
//! `crc32` covers everything before it in the record. `ts_ns` is unix
//! nanoseconds (the receive stamp of a frame). `conn` is the connection's
//! index among its venue's connections in the order the engine plans them.

use crate::core::Venue;
use crate::core::venue_error::VenueError;

/// First bytes of every decompressed file.
pub const MAGIC: &[u8; 8] = b"QTCAP01\n";
/// Bytes before the payload.
pub const HEADER_LEN: usize = 1 + 2 + 8 + 4;
/// Largest payload a reader accepts (a corrupt length stops the file).
pub const MAX_PAYLOAD: usize = 64 << 20;
/// File name suffix.
pub const SUFFIX: &str = ".qtcap.zst";

/// What a record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// JSON: format version, venue, engine version, instruments (first record of a file).
    Meta = 1,
    /// A connection of the venue starts (payload: its URL); `conn` is its index.
    Conn = 2,
    /// The socket opened (payload: URL).
    Open = 3,
    /// A message the engine sent (subscriptions, pings; payload: the text).
    Sent = 4,
    /// A frame received (payload: the raw bytes).
    Frame = 5,
    /// A REST reply the feed used: `tag: u32 LE | ok: u8 | body or error text`.
    Rest = 6,
    /// The socket closed (payload: the cause).
    Close = 7,
    /// Records of this connection the recorder had to drop (queue full) before
    /// this point: `count: u64 LE`. A replay treats it like a close.
    Dropped = 8,
    /// The file was finished cleanly (last record; a file without it ended
    /// in a crash or is still being written).
    End = 9,
}

impl Kind {
    pub fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Meta,
            2 => Kind::Conn,
            3 => Kind::Open,
            4 => Kind::Sent,
            5 => Kind::Frame,
            6 => Kind::Rest,
            7 => Kind::Close,
            8 => Kind::Dropped,
            9 => Kind::End,
            _ => return None,
        })
    }
}

/// One record, borrowed from a reader's buffer or owned by a writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub venue: Venue,
    pub kind: Kind,
    pub conn: u16,
    pub ts_ns: u64,
    pub payload: Vec<u8>,
}

/// Appends one encoded record to `out`.
pub fn encode(kind: Kind, conn: u16, ts_ns: u64, payload: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.push(kind as u8);
    out.extend_from_slice(&conn.to_le_bytes());
    out.extend_from_slice(&ts_ns.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// The payload of a [`Kind::Rest`] record.
pub fn rest_payload(tag: usize, result: &Result<Vec<u8>, VenueError>) -> Vec<u8> {
    let mut p = Vec::with_capacity(5 + result.as_ref().map(|b| b.len()).unwrap_or(64));
    p.extend_from_slice(&(tag as u32).to_le_bytes());
    match result {
        Ok(b) => {
            p.push(1);
            p.extend_from_slice(b);
        }
        Err(e) => {
            p.push(0);
            p.extend_from_slice(e.to_string().as_bytes());
        }
    }
    p
}

/// Reads a [`Kind::Rest`] payload back: (tag, body or error).
pub fn parse_rest(p: &[u8]) -> Option<(usize, Result<Vec<u8>, VenueError>)> {
    if p.len() < 5 {
        return None;
    }
    let tag = u32::from_le_bytes(p[..4].try_into().ok()?) as usize;
    let body = p[5..].to_vec();
    Some(match p[4] {
        1 => (tag, Ok(body)),
        _ => (
            tag,
            Err(VenueError::from_recorded(&String::from_utf8_lossy(&body))),
        ),
    })
}

/// `YYYY-MM-DDTHH` of a unix-ns time (UTC).
pub fn hour_key(ts_ns: u64) -> String {
    let secs = (ts_ns / 1_000_000_000) as i64;
    match chrono::DateTime::from_timestamp(secs, 0) {
        Some(t) => t.format("%Y-%m-%dT%H").to_string(),
        None => "0000-00-00T00".into(),
    }
}

/// The hour number (since the epoch) of a unix-ns time.
pub fn hour_of(ts_ns: u64) -> u64 {
    ts_ns / 3_600_000_000_000
}

/// `<hour>.<venue>.<part>.qtcap.zst`: names sort oldest first across venues.
pub fn file_name(hour: &str, venue: Venue, part: u32) -> String {
    format!("{hour}.{}.{part:03}{SUFFIX}", venue.as_str())
}

/// (hour key, venue, part) of a recording file name.
pub fn parse_file_name(name: &str) -> Option<(String, Venue, u32)> {
    let stem = name.strip_suffix(SUFFIX)?;
    let mut it = stem.split('.');
    let hour = it.next()?.to_string();
    let venue = Venue::parse(it.next()?)?;
    let part = it.next()?.parse().ok()?;
    if it.next().is_some() || hour.len() != 13 {
        return None;
    }
    Some((hour, venue, part))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::venue_error::RequestKind;

    #[test]
    fn names_round_trip_and_sort_by_time() {
        let t = 1_723_161_256_299_000_000; // 2024-08-08T23:54
        assert_eq!(hour_key(t), "2024-08-08T23");
        let a = file_name(&hour_key(t), Venue::Okx, 2);
        assert_eq!(a, "2024-08-08T23.okx.002.qtcap.zst");
        assert_eq!(
            parse_file_name(&a),
            Some(("2024-08-08T23".into(), Venue::Okx, 2))
        );
        let b = file_name(&hour_key(t + 3_600_000_000_000), Venue::Binance, 0);
        assert!(a < b);
        assert_eq!(parse_file_name("x.qtcap.zst"), None);
    }

    #[test]
    fn rest_payload_round_trips() {
        let p = rest_payload(7, &Ok(b"{}".to_vec()));
        assert_eq!(parse_rest(&p), Some((7, Ok(b"{}".to_vec()))));
        let e = VenueError::from_status(429, None, b"", RequestKind::Read);
        let p = rest_payload(1, &Err(e.clone()));
        assert_eq!(parse_rest(&p), Some((1, Err(e))));
    }
}
