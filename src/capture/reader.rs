//! Reading a recording back: one file ([`FileReader`]), one venue's files in
//! order, and every venue merged by recorded time ([`Merged`], ties broken
//! by venue, then file order), without an allocation per record. A torn
//! tail (a crash mid-write) or a corrupt record ends that file cleanly at
//! the last whole record and is counted in [`ReadStats`].

use super::format::{self, HEADER_LEN, Kind, MAGIC, MAX_PAYLOAD};
use crate::core::Venue;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// What reading found, beyond the records.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReadStats {
    pub files: u64,
    pub records: u64,
    /// Payload bytes of the records returned.
    pub payload_bytes: u64,
    /// Files that ended without their `End` record (a crash mid-write, or a
    /// file still being written), in a partial record or a broken zstd frame.
    pub torn_tails: u64,
    /// Records whose checksum, kind or length was wrong (the rest of that file is skipped).
    pub corrupt: u64,
    /// Files that could not be opened or lacked the magic.
    pub unreadable: u64,
}

/// The fixed part of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub kind: Kind,
    pub conn: u16,
    pub ts_ns: u64,
}

type Dec = BufReader<zstd::stream::read::Decoder<'static, BufReader<File>>>;

/// Reads one recording file.
pub struct FileReader {
    inner: Dec,
    pub path: PathBuf,
    /// The `End` record was read: the file was finished cleanly.
    pub finished: bool,
}

/// Why a file ended.
enum End {
    Clean,
    Torn,
    Corrupt,
}

impl FileReader {
    /// Opens `path` and checks its magic.
    pub fn open(path: &Path) -> std::io::Result<FileReader> {
        let f = File::open(path)?;
        let dec = zstd::stream::read::Decoder::new(f)?;
        let mut inner = BufReader::with_capacity(1 << 18, dec);
        let mut m = [0u8; 8];
        inner.read_exact(&mut m)?;
        if &m != MAGIC {
            return Err(std::io::Error::other("not a quantum-trader recording"));
        }
        Ok(FileReader {
            inner,
            path: path.to_path_buf(),
            finished: false,
        })
    }

    /// Reads up to `buf.len()` bytes; Ok(n < len) only at the end of data.
    fn fill(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut n = 0;
        while n < buf.len() {
            match self.inner.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    /// The next record into `payload`; `Err(end)` when the file is done.
    fn next_into(&mut self, payload: &mut Vec<u8>) -> Result<Header, End> {
        let mut h = [0u8; HEADER_LEN];
        match self.fill(&mut h) {
            Ok(0) if self.finished => return Err(End::Clean),
            Ok(0) => return Err(End::Torn),
            Ok(n) if n < HEADER_LEN => return Err(End::Torn),
            Ok(_) => {}
            Err(_) => return Err(End::Torn),
        }
        let Some(kind) = Kind::from_u8(h[0]) else {
            return Err(End::Corrupt);
        };
        let conn = u16::from_le_bytes([h[1], h[2]]);
        let ts_ns = u64::from_le_bytes(h[3..11].try_into().unwrap_or_default());
        let len = u32::from_le_bytes(h[11..15].try_into().unwrap_or_default()) as usize;
        if len > MAX_PAYLOAD {
            return Err(End::Corrupt);
        }
        payload.clear();
        payload.resize(len, 0);
        match self.fill(payload) {
            Ok(n) if n == len => {}
            _ => return Err(End::Torn),
        }
        let mut c = [0u8; 4];
        match self.fill(&mut c) {
            Ok(4) => {}
            _ => return Err(End::Torn),
        }
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&h);
        hasher.update(payload);
        if hasher.finalize() != u32::from_le_bytes(c) {
            return Err(End::Corrupt);
        }
        if kind == Kind::End {
            self.finished = true;
            return self.next_into(payload);
        }
        Ok(Header { kind, conn, ts_ns })
    }
}

/// One venue's files, in name order, read as one sequence.
struct VenueStream {
    venue: Venue,
    files: VecDeque<PathBuf>,
    cur: Option<FileReader>,
    head: Option<Header>,
    payload: Vec<u8>,
}

impl VenueStream {
    /// Loads the next record into `head`; false when every file is done.
    fn advance(&mut self, stats: &mut ReadStats) -> bool {
        loop {
            if self.cur.is_none() {
                let Some(p) = self.files.pop_front() else {
                    self.head = None;
                    return false;
                };
                match FileReader::open(&p) {
                    Ok(r) => {
                        stats.files += 1;
                        self.cur = Some(r);
                    }
                    Err(e) => {
                        stats.unreadable += 1;
                        tracing::warn!(file = %p.display(), error = %e, "recording file unreadable; skipped");
                        continue;
                    }
                }
            }
            let Some(r) = self.cur.as_mut() else { continue };
            match r.next_into(&mut self.payload) {
                Ok(h) => {
                    stats.records += 1;
                    stats.payload_bytes += self.payload.len() as u64;
                    self.head = Some(h);
                    return true;
                }
                Err(end) => {
                    match end {
                        End::Clean => {}
                        End::Torn => {
                            stats.torn_tails += 1;
                            tracing::warn!(file = %r.path.display(), "recording ends without its end record (a crash, or still being written); stopped at the last whole record");
                        }
                        End::Corrupt => {
                            stats.corrupt += 1;
                            tracing::warn!(file = %r.path.display(), "corrupt record in recording; rest of the file skipped");
                        }
                    }
                    self.cur = None;
                }
            }
        }
    }
}

/// A record of a merged recording, borrowed until the next call.
pub struct RecordRef<'a> {
    pub venue: Venue,
    pub header: Header,
    pub payload: &'a [u8],
}

/// Every venue's records merged by recorded time.
pub struct Merged {
    streams: Vec<VenueStream>,
    /// The stream whose head was returned last (advanced on the next call).
    taken: Option<usize>,
    pub stats: ReadStats,
}

impl Merged {
    /// Opens every recording file in `dir` (only `venues`, if given).
    pub fn open(dir: &Path, venues: Option<&[Venue]>) -> std::io::Result<Merged> {
        let files = super::writer::list_files(dir)?;
        let mut streams: Vec<VenueStream> = Vec::new();
        for v in Venue::ALL {
            if venues.is_some_and(|vs| !vs.contains(&v)) {
                continue;
            }
            let mine: VecDeque<PathBuf> = files
                .iter()
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .and_then(format::parse_file_name)
                        .is_some_and(|(_, fv, _)| fv == v)
                })
                .cloned()
                .collect();
            if mine.is_empty() {
                continue;
            }
            streams.push(VenueStream {
                venue: v,
                files: mine,
                cur: None,
                head: None,
                payload: Vec::with_capacity(1 << 16),
            });
        }
        let mut stats = ReadStats::default();
        for s in &mut streams {
            s.advance(&mut stats);
        }
        Ok(Merged {
            streams,
            taken: None,
            stats,
        })
    }

    /// The next record in time order.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<RecordRef<'_>> {
        if let Some(i) = self.taken.take() {
            let s = &mut self.streams[i];
            s.advance(&mut self.stats);
        }
        let mut best: Option<(u64, usize)> = None;
        for (i, s) in self.streams.iter().enumerate() {
            if let Some(h) = s.head
                && best.is_none_or(|(t, _)| h.ts_ns < t)
            {
                best = Some((h.ts_ns, i));
            }
        }
        let (_, i) = best?;
        self.taken = Some(i);
        let s = &self.streams[i];
        Some(RecordRef {
            venue: s.venue,
            header: s.head?,
            payload: &s.payload,
        })
    }
}
