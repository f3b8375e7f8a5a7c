//! The on-disk frame: `len: u32 LE | crc32(payload): u32 LE | payload`,
//! payload = one JSON [`Record`](super::Record). A reader stops cleanly at
//! the end of the file, and detects a torn last frame (a crash mid-write: a
//! short header, a short payload, or a checksum that does not match on the
//! last frame) without failing. A bad checksum on a frame that is followed
//! by more frames is counted as corrupt and skipped.

use std::io::{BufRead, BufReader, Read};

/// Header bytes before each payload.
pub const HEADER: usize = 8;
/// Largest payload accepted; a larger length means the header is garbage.
pub const MAX_PAYLOAD: usize = 1 << 20;

/// Appends one frame holding `payload` to `out`.
pub fn encode(payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// How the frames of a file ended.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Tail {
    /// The last frame is complete.
    #[default]
    Clean,
    /// The bytes after `valid_len` are an incomplete or damaged last frame.
    Torn { reason: &'static str },
}

/// Iterates the payloads of a stream of frames.
pub struct FrameReader<R: Read> {
    r: BufReader<R>,
    offset: u64,
    /// Offset just past the last good frame.
    valid_len: u64,
    corrupt: u64,
    tail: Tail,
    done: bool,
}

impl<R: Read> FrameReader<R> {
    pub fn new(r: R) -> Self {
        FrameReader {
            r: BufReader::with_capacity(64 * 1024, r),
            offset: 0,
            valid_len: 0,
            corrupt: 0,
            tail: Tail::Clean,
            done: false,
        }
    }

    /// Offset just past the last good frame (where an appender continues).
    pub fn valid_len(&self) -> u64 {
        self.valid_len
    }

    /// Frames skipped for a bad checksum (not counting a torn last frame).
    pub fn corrupt(&self) -> u64 {
        self.corrupt
    }

    /// How the stream ended (meaningful once the iterator returned `None`).
    pub fn tail(&self) -> &Tail {
        &self.tail
    }

    /// Reads up to `buf.len()` bytes; returns how many (fewer only at EOF).
    fn read_full(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut n = 0;
        while n < buf.len() {
            match self.r.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    fn torn(&mut self, reason: &'static str) -> Option<Vec<u8>> {
        self.tail = Tail::Torn { reason };
        self.done = true;
        None
    }

    fn at_eof(&mut self) -> bool {
        self.r.fill_buf().map(|b| b.is_empty()).unwrap_or(true)
    }
}

impl<R: Read> Iterator for FrameReader<R> {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        loop {
            if self.done {
                return None;
            }
            let mut h = [0u8; HEADER];
            let n = match self.read_full(&mut h) {
                Ok(n) => n,
                Err(_) => return self.torn("read error"),
            };
            if n == 0 {
                self.done = true;
                return None;
            }
            if n < HEADER {
                return self.torn("short header");
            }
            let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
            let crc = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
            if len > MAX_PAYLOAD {
                return self.torn("bad length");
            }
            let mut payload = vec![0u8; len];
            match self.read_full(&mut payload) {
                Ok(k) if k == len => {}
                Ok(_) => return self.torn("short payload"),
                Err(_) => return self.torn("read error"),
            }
            self.offset += (HEADER + len) as u64;
            if crc32fast::hash(&payload) != crc {
                if self.at_eof() {
                    return self.torn("checksum mismatch");
                }
                self.corrupt += 1;
                continue;
            }
            self.valid_len = self.offset;
            return Some(payload);
        }
    }
}

#[cfg(test)]
mod tests {
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
        let b = frames(&[b"one", b"", b"three"]);
        let (got, tail, valid, corrupt) = read(&b);
        assert_eq!(got, vec![b"one".to_vec(), vec![], b"three".to_vec()]);
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
}
