//! The on-disk frame: `len: u32 LE | crc32(payload): u32 LE | payload`,
//! payload = one JSON [`Record`](super::Record), never empty.
//!
//! Reading never gives up on a file because of one bad spot:
//! - A frame that does not check out (a length out of range, a checksum
//!   that does not match, bytes missing) starts a **damaged region**. The
//!   reader resynchronises: it looks at each following byte offset for the
//!   next complete frame whose checksum matches, and goes on from there.
//!   The region (offset, length, why) is reported ([`FrameReader::damaged`])
//!   and counted; no frame outside it is lost.
//! - A damaged region that runs to the end of the stream with no valid
//!   frame after it is a **torn tail** ([`Tail::Torn`]): a crash mid-write.
//!   It is the only thing a writer may cut (see `writer::open_for_append`).
//! - A failing read is retried [`READ_RETRIES`] times with a growing pause
//!   (a transient EIO); if it keeps failing the rest of the stream is
//!   **unreadable** ([`Tail::Unreadable`]), which is not damage: nothing
//!   may be cut because of it.
//!
//! A zero-length frame is never written; eight zero bytes (a zeroed block,
//! which some filesystems leave after a crash) read as damage, not as an
//! empty record.

use std::io::{self, Read};
use std::time::Duration;

/// Header bytes before each payload.
pub const HEADER: usize = 8;
/// Largest payload accepted; a larger length means the header is garbage.
pub const MAX_PAYLOAD: usize = 1 << 20;
/// Retries of a failing read before the rest of the stream is unreadable.
pub const READ_RETRIES: u32 = 4;
/// Pause before the first retry of a failing read (doubling after each).
pub const RETRY_PAUSE: Duration = Duration::from_millis(5);
/// Damaged regions remembered per stream (every one is counted).
pub const MAX_REGIONS: usize = 64;
/// Bytes read from the source at a time.
const CHUNK: usize = 64 * 1024;

/// Appends one frame holding `payload` to `out`.
pub fn encode(payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// How the frames of a stream ended.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Tail {
    /// The last frame is complete.
    #[default]
    Clean,
    /// The bytes after `valid_len` hold no valid frame: an incomplete or
    /// damaged last frame (a crash mid-write), or garbage to the end.
    Torn { reason: &'static str },
    /// Reading failed at `valid_len` (after retries): what follows is
    /// unknown, not known to be damaged.
    Unreadable { error: String },
}

/// A region of the stream skipped because it held no valid frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Damage {
    /// Offset of its first byte in the stream.
    pub offset: u64,
    pub len: u64,
    /// Why the frame at `offset` was refused.
    pub reason: &'static str,
}

/// What the bytes at the read position are.
enum At {
    /// A complete frame with this payload length and a matching checksum.
    Frame(usize),
    /// Not a valid frame, for this reason.
    Bad(&'static str),
    /// No bytes left.
    End,
}

/// Iterates the payloads of a stream of frames (see the module doc).
pub struct FrameReader<R: Read> {
    r: R,
    buf: Vec<u8>,
    /// Start of the unread bytes in `buf`.
    pos: usize,
    /// Stream offset of `buf[0]`.
    base: u64,
    eof: bool,
    /// Offset just past the last good frame.
    valid_len: u64,
    damaged: Vec<Damage>,
    regions: u64,
    damaged_bytes: u64,
    retries: u64,
    tail: Tail,
    done: bool,
}

impl<R: Read> FrameReader<R> {
    pub fn new(r: R) -> Self {
        FrameReader {
            r,
            buf: Vec::with_capacity(CHUNK),
            pos: 0,
            base: 0,
            eof: false,
            valid_len: 0,
            damaged: Vec::new(),
            regions: 0,
            damaged_bytes: 0,
            retries: 0,
            tail: Tail::Clean,
            done: false,
        }
    }

    /// Offset just past the last good frame (where an appender continues).
    pub fn valid_len(&self) -> u64 {
        self.valid_len
    }

    /// Damaged regions skipped before a valid frame (not counting a torn
    /// tail).
    pub fn corrupt(&self) -> u64 {
        self.regions
    }

    /// The first [`MAX_REGIONS`] damaged regions skipped.
    pub fn damaged(&self) -> &[Damage] {
        &self.damaged
    }

    /// Bytes in damaged regions skipped (not counting a torn tail).
    pub fn damaged_bytes(&self) -> u64 {
        self.damaged_bytes
    }

    /// Failed reads that were retried.
    pub fn retries(&self) -> u64 {
        self.retries
    }

    /// How the stream ended (meaningful once the iterator returned `None`).
    pub fn tail(&self) -> &Tail {
        &self.tail
    }

    fn avail(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Reads until `want` bytes are unread in `buf` or the stream ends.
    fn fill(&mut self, want: usize) -> io::Result<()> {
        while self.avail() < want && !self.eof {
            if self.pos >= CHUNK {
                self.buf.drain(..self.pos);
                self.base += self.pos as u64;
                self.pos = 0;
            }
            let old = self.buf.len();
            self.buf.resize(old + CHUNK, 0);
            let mut failures = 0u32;
            loop {
                match self.r.read(&mut self.buf[old..]) {
                    Ok(0) => {
                        self.buf.truncate(old);
                        self.eof = true;
                        break;
                    }
                    Ok(k) => {
                        self.buf.truncate(old + k);
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        if failures >= READ_RETRIES {
                            self.buf.truncate(old);
                            return Err(e);
                        }
                        std::thread::sleep(RETRY_PAUSE * (1 << failures));
                        failures += 1;
                        self.retries += 1;
                    }
                }
            }
        }
        Ok(())
    }

    /// What starts at the read position.
    fn check(&mut self) -> io::Result<At> {
        self.fill(HEADER)?;
        let a = self.avail();
        if a == 0 {
            return Ok(At::End);
        }
        if a < HEADER {
            return Ok(At::Bad("short header"));
        }
        let h = &self.buf[self.pos..self.pos + HEADER];
        let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
        let crc = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
        if len == 0 || len > MAX_PAYLOAD {
            return Ok(At::Bad("bad length"));
        }
        self.fill(HEADER + len)?;
        if self.avail() < HEADER + len {
            return Ok(At::Bad("short payload"));
        }
        let p = self.pos + HEADER;
        if crc32fast::hash(&self.buf[p..p + len]) != crc {
            return Ok(At::Bad("checksum mismatch"));
        }
        Ok(At::Frame(len))
    }

    /// The payload of the valid frame at the read position.
    fn take(&mut self, len: usize) -> Vec<u8> {
        let p = self.pos + HEADER;
        let out = self.buf[p..p + len].to_vec();
        self.pos = p + len;
        self.valid_len = self.base + self.pos as u64;
        out
    }

    fn unreadable(&mut self, e: io::Error) -> Option<Vec<u8>> {
        self.tail = Tail::Unreadable {
            error: e.to_string(),
        };
        self.done = true;
        None
    }

    /// Skips a damaged region starting at the read position up to the next
    /// valid frame (returned), or to the end (a torn tail).
    fn resync(&mut self, reason: &'static str) -> Option<Vec<u8>> {
        let start = self.base + self.pos as u64;
        loop {
            // `check` said Bad, so at least one byte is unread.
            self.pos += 1;
            match self.check() {
                Ok(At::Frame(len)) => {
                    let len_bad = self.base + self.pos as u64 - start;
                    self.regions += 1;
                    self.damaged_bytes += len_bad;
                    if self.damaged.len() < MAX_REGIONS {
                        self.damaged.push(Damage {
                            offset: start,
                            len: len_bad,
                            reason,
                        });
                    }
                    return Some(self.take(len));
                }
                Ok(At::Bad(_)) => {}
                Ok(At::End) => {
                    self.tail = Tail::Torn { reason };
                    self.done = true;
                    return None;
                }
                Err(e) => return self.unreadable(e),
            }
        }
    }
}

impl<R: Read> Iterator for FrameReader<R> {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        if self.done {
            return None;
        }
        match self.check() {
            Ok(At::Frame(len)) => Some(self.take(len)),
            Ok(At::Bad(reason)) => self.resync(reason),
            Ok(At::End) => {
                self.done = true;
                None
            }
            Err(e) => self.unreadable(e),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn frames(payloads: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in payloads {
            encode(p, &mut out);
        }
        out
    }

    fn read(bytes: &[u8]) -> (Vec<Vec<u8>>, Tail, u64, u64) {
        let mut r = FrameReader::new(bytes);
        let got: Vec<_> = r.by_ref().collect();
        (got, r.tail().clone(), r.valid_len(), r.corrupt())
    }

    #[test]
    fn clean_stream_reads_back() {
        let b = frames(&[b"one", b"2", b"three"]);
        let (got, tail, valid, corrupt) = read(&b);
        assert_eq!(got, vec![b"one".to_vec(), b"2".to_vec(), b"three".to_vec()]);
        assert_eq!((tail, valid, corrupt), (Tail::Clean, b.len() as u64, 0));
    }

    #[test]
    fn every_torn_prefix_is_detected_and_the_good_frames_kept() {
        let b = frames(&[b"alpha", b"beta-record"]);
        let first = (HEADER + 5) as u64;
        for cut in first as usize + 1..b.len() {
            let (got, tail, valid, _) = read(&b[..cut]);
            assert_eq!(got, vec![b"alpha".to_vec()], "cut {cut}");
            assert!(matches!(tail, Tail::Torn { .. }), "cut {cut}");
            assert_eq!(valid, first);
        }
        // A complete last frame with damaged bytes is torn too.
        let mut d = b.clone();
        let last = d.len() - 1;
        d[last] ^= 0xff;
        let (got, tail, ..) = read(&d);
        assert_eq!(got.len(), 1);
        assert_eq!(
            tail,
            Tail::Torn {
                reason: "checksum mismatch"
            }
        );
    }

    #[test]
    fn a_damaged_middle_frame_is_skipped_and_counted() {
        let mut b = frames(&[b"a1", b"b2", b"c3"]);
        b[HEADER + 2 + HEADER] ^= 0x01; // first payload byte of frame 2
        let (got, tail, valid, corrupt) = read(&b);
        assert_eq!(got, vec![b"a1".to_vec(), b"c3".to_vec()]);
        assert_eq!((tail, valid, corrupt), (Tail::Clean, b.len() as u64, 1));
        // Garbage length: stop there.
        let mut g = frames(&[b"ok"]);
        g.extend_from_slice(&[0xff; 12]);
        let (got, tail, ..) = read(&g);
        assert_eq!(got.len(), 1);
        assert_eq!(
            tail,
            Tail::Torn {
                reason: "bad length"
            }
        );
    }

    #[test]
    fn a_damaged_length_resynchronises_on_the_next_frame() {
        let b = frames(&[b"first", b"second", b"third", b"fourth"]);
        let second = HEADER + 5;
        for bit in 0..64 {
            let mut d = b.clone();
            d[second + bit / 8] ^= 1 << (bit % 8);
            let mut r = FrameReader::new(&d[..]);
            let got: Vec<_> = r.by_ref().collect();
            assert_eq!(
                got,
                vec![b"first".to_vec(), b"third".to_vec(), b"fourth".to_vec()],
                "bit {bit}"
            );
            assert_eq!(r.tail(), &Tail::Clean, "bit {bit}");
            assert_eq!(
                r.damaged(),
                &[Damage {
                    offset: second as u64,
                    len: (HEADER + 6) as u64,
                    reason: r.damaged()[0].reason,
                }]
            );
        }
        // Zeroed bytes in the middle: damage, not empty records.
        let mut z = frames(&[b"a"]);
        z.extend_from_slice(&[0u8; 4096]);
        encode(b"b", &mut z);
        let mut r = FrameReader::new(&z[..]);
        let got: Vec<_> = r.by_ref().collect();
        assert_eq!(got, vec![b"a".to_vec(), b"b".to_vec()]);
        assert_eq!((r.corrupt(), r.damaged_bytes()), (1, 4096));
    }

    /// A reader whose reads fail with EIO: `fail_at` is the byte offset at
    /// which reads start failing, `failures` how many times in a row
    /// (`u32::MAX`: as good as for ever).
    pub(crate) struct FlakyReader<'a> {
        pub data: &'a [u8],
        pub at: usize,
        pub fail_at: usize,
        pub failures: u32,
    }

    impl Read for FlakyReader<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.at >= self.fail_at && self.failures > 0 {
                self.failures -= 1;
                return Err(io::Error::from_raw_os_error(5));
            }
            // Short reads: at most 7 bytes, never past `fail_at` first.
            let end = if self.at < self.fail_at {
                self.fail_at.min(self.data.len())
            } else {
                self.data.len()
            };
            let n = buf.len().min(end - self.at).min(7);
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    #[test]
    fn transient_read_errors_are_retried_and_lasting_ones_cut_nothing() {
        let b = frames(&[b"alpha", b"beta", b"gamma"]);
        let mid = HEADER + 5 + 3; // inside the second frame's header
        let mut r = FrameReader::new(FlakyReader {
            data: &b,
            at: 0,
            fail_at: mid,
            failures: READ_RETRIES,
        });
        let got: Vec<_> = r.by_ref().collect();
        assert_eq!(got.len(), 3);
        assert_eq!((r.tail(), r.retries()), (&Tail::Clean, READ_RETRIES as u64));
        // For ever: the frames before are kept, the rest is unreadable (not torn).
        let mut r = FrameReader::new(FlakyReader {
            data: &b,
            at: 0,
            fail_at: mid,
            failures: u32::MAX,
        });
        let got: Vec<_> = r.by_ref().collect();
        assert_eq!(got, vec![b"alpha".to_vec()]);
        assert!(
            matches!(r.tail(), Tail::Unreadable { .. }),
            "{:?}",
            r.tail()
        );
        assert_eq!(r.valid_len(), (HEADER + 5) as u64);
    }
}
