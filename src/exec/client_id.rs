//! Client order ids: deterministic, never reused across restarts, valid on
//! every venue the engine trades.
//!
//! An id is `prefix ‖ epoch ‖ seq`:
//!
//! * `prefix`: 1–8 ASCII alphanumerics from the config, one per engine, so
//!   several engines can share one account and tell their orders apart;
//! * `epoch`: the engine life's start in Unix ms, 9 base-36 digits (good
//!   until the year 5138), chosen at start as
//!   `max(clock, last journaled epoch + 1)`, so a restart never reuses an
//!   epoch even when the clock went back;
//! * `seq`: the order's sequence number in that life (the engine's `u64`
//!   client order id), 8 base-36 digits (2.8 × 10¹² orders per life).
//!
//! The two fixed-width fields make the id injective: its length gives the
//! prefix's length, so no two (prefix, epoch, seq) give the same text, even
//! across prefixes of different lengths. At most 25 characters of
//! `[0-9A-Za-z]`: valid as a Binance `newClientOrderId`
//! (`^[\.A-Z\:/a-z0-9_-]{1,36}$`), a Bybit `orderLinkId` (≤ 36,
//! `[0-9A-Za-z_-]`) and an OKX `clOrdId` (≤ 32 alphanumerics).
//!
//! Ids must be written to the journal before their request is sent; at the
//! next start, [`max_epoch`] over the journaled ids gives the floor.

use std::fmt;

/// Longest prefix.
pub const MAX_PREFIX: usize = 8;
/// Width of the epoch field (base 36).
pub const EPOCH_DIGITS: usize = 9;
/// Width of the sequence field (base 36).
pub const SEQ_DIGITS: usize = 8;
/// Longest id.
pub const MAX_LEN: usize = MAX_PREFIX + EPOCH_DIGITS + SEQ_DIGITS;

const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
const EPOCH_LIMIT: u64 = 36u64.pow(EPOCH_DIGITS as u32);
const SEQ_LIMIT: u64 = 36u64.pow(SEQ_DIGITS as u32);

/// Why an id cannot be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientIdError {
    /// Not 1–8 ASCII alphanumerics.
    BadPrefix(String),
    /// The sequence number does not fit its 8 digits.
    SeqExhausted(u64),
    /// The epoch does not fit its 9 digits.
    EpochOutOfRange(u64),
}

impl fmt::Display for ClientIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientIdError::BadPrefix(p) => write!(
                f,
                "client order id prefix `{p}` must be 1-{MAX_PREFIX} ASCII letters or digits"
            ),
            ClientIdError::SeqExhausted(s) => {
                write!(f, "client order id sequence {s} exhausted for this life")
            }
            ClientIdError::EpochOutOfRange(e) => {
                write!(f, "client order id epoch {e} ms out of range")
            }
        }
    }
}

impl std::error::Error for ClientIdError {}

/// One client order id, kept inline (no allocation).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientId {
    buf: [u8; MAX_LEN],
    len: u8,
}

impl ClientId {
    pub fn as_str(&self) -> &str {
        // Only ASCII alphanumerics are ever written.
        std::str::from_utf8(&self.buf[..self.len as usize]).unwrap_or("")
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientId({})", self.as_str())
    }
}

/// The parts of an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedId<'a> {
    pub prefix: &'a str,
    pub epoch_ms: u64,
    pub seq: u64,
}

fn check_prefix(p: &str) -> Result<(), ClientIdError> {
    if p.is_empty() || p.len() > MAX_PREFIX || !p.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(ClientIdError::BadPrefix(p.to_string()));
    }
    Ok(())
}

fn put_base36(out: &mut [u8], mut v: u64) {
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(v % 36) as usize];
        v /= 36;
    }
}

fn get_base36(s: &str) -> Option<u64> {
    let mut v: u64 = 0;
    for b in s.bytes() {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'z' => b - b'a' + 10,
            _ => return None,
        } as u64;
        v = v.checked_mul(36)?.checked_add(d)?;
    }
    Some(v)
}

/// Splits an id into its parts; `None` for text that is not an id of this
/// scheme (an order placed by hand, another engine's scheme).
pub fn parse(id: &str) -> Option<ParsedId<'_>> {
    let n = id.len();
    if !(EPOCH_DIGITS + SEQ_DIGITS + 1..=MAX_LEN).contains(&n) || !id.is_ascii() {
        return None;
    }
    let p = n - EPOCH_DIGITS - SEQ_DIGITS;
    let prefix = &id[..p];
    check_prefix(prefix).ok()?;
    Some(ParsedId {
        prefix,
        epoch_ms: get_base36(&id[p..p + EPOCH_DIGITS])?,
        seq: get_base36(&id[p + EPOCH_DIGITS..])?,
    })
}

/// The highest epoch among `ids` that carry `prefix` (other ids ignored).
pub fn max_epoch<'a>(prefix: &str, ids: impl IntoIterator<Item = &'a str>) -> Option<u64> {
    ids.into_iter()
        .filter_map(parse)
        .filter(|p| p.prefix == prefix)
        .map(|p| p.epoch_ms)
        .max()
}

/// Makes the ids of one engine life.
#[derive(Debug, Clone)]
pub struct ClientIdGen {
    prefix: [u8; MAX_PREFIX],
    prefix_len: u8,
    epoch_ms: u64,
    next_seq: u64,
}

impl ClientIdGen {
    /// A life starting at `now_ms`, after a previous life whose highest
    /// journaled epoch is `last_epoch` (see [`max_epoch`]).
    pub fn start(
        prefix: &str,
        now_ms: u64,
        last_epoch: Option<u64>,
    ) -> Result<ClientIdGen, ClientIdError> {
        check_prefix(prefix)?;
        let epoch_ms = match last_epoch {
            Some(e) => now_ms.max(e.saturating_add(1)),
            None => now_ms,
        };
        if epoch_ms >= EPOCH_LIMIT {
            return Err(ClientIdError::EpochOutOfRange(epoch_ms));
        }
        let mut p = [0u8; MAX_PREFIX];
        p[..prefix.len()].copy_from_slice(prefix.as_bytes());
        Ok(ClientIdGen {
            prefix: p,
            prefix_len: prefix.len() as u8,
            epoch_ms,
            next_seq: 0,
        })
    }

    /// This life's epoch (journal it at start).
    pub fn epoch_ms(&self) -> u64 {
        self.epoch_ms
    }

    pub fn prefix(&self) -> &str {
        std::str::from_utf8(&self.prefix[..self.prefix_len as usize]).unwrap_or("")
    }

    /// The id of sequence number `seq` in this life (the same every time).
    pub fn id(&self, seq: u64) -> Result<ClientId, ClientIdError> {
        if seq >= SEQ_LIMIT {
            return Err(ClientIdError::SeqExhausted(seq));
        }
        let pl = self.prefix_len as usize;
        let mut buf = [0u8; MAX_LEN];
        buf[..pl].copy_from_slice(&self.prefix[..pl]);
        put_base36(&mut buf[pl..pl + EPOCH_DIGITS], self.epoch_ms);
        put_base36(
            &mut buf[pl + EPOCH_DIGITS..pl + EPOCH_DIGITS + SEQ_DIGITS],
            seq,
        );
        Ok(ClientId {
            buf,
            len: (pl + EPOCH_DIGITS + SEQ_DIGITS) as u8,
        })
    }

    /// The next id of this life.
    pub fn next_id(&mut self) -> Result<ClientId, ClientIdError> {
        let id = self.id(self.next_seq)?;
        self.next_seq += 1;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    /// Valid on Binance, Bybit and OKX (the strictest: ≤ 32 alphanumerics).
    fn valid_everywhere(s: &str) -> bool {
        !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_alphanumeric())
    }

    #[test]
    fn ids_are_deterministic_fixed_width_and_round_trip() {
        let g = ClientIdGen::start("qtA1", 1_765_000_000_000, None).unwrap();
        let a = g.id(5).unwrap();
        assert_eq!(a, g.id(5).unwrap());
        assert_ne!(a, g.id(6).unwrap());
        assert_eq!(a.as_str().len(), 4 + EPOCH_DIGITS + SEQ_DIGITS);
        assert!(a.as_str().starts_with("qtA1"));
        assert!(valid_everywhere(a.as_str()));
        assert_eq!(
            parse(a.as_str()),
            Some(ParsedId {
                prefix: "qtA1",
                epoch_ms: 1_765_000_000_000,
                seq: 5
            })
        );
        // The largest values still fit 32 characters.
        let g = ClientIdGen::start("abcdefgh", EPOCH_LIMIT - 1, None).unwrap();
        let z = g.id(SEQ_LIMIT - 1).unwrap();
        assert_eq!(z.as_str(), "abcdefghzzzzzzzzzzzzzzzzz");
        assert!(valid_everywhere(z.as_str()));
        assert_eq!(g.id(SEQ_LIMIT), Err(ClientIdError::SeqExhausted(SEQ_LIMIT)));
        assert!(matches!(
            ClientIdGen::start("a", EPOCH_LIMIT, None),
            Err(ClientIdError::EpochOutOfRange(_))
        ));
    }

    #[test]
    fn bad_prefixes_are_refused() {
        for p in ["", "abcdefghi", "a-b", "a_b", "é", "a b", "a.b"] {
            assert!(
                matches!(
                    ClientIdGen::start(p, 1, None),
                    Err(ClientIdError::BadPrefix(_))
                ),
                "{p:?}"
            );
        }
    }

    #[test]
    fn restart_with_the_clock_behind_takes_the_next_epoch() {
        let mut g1 = ClientIdGen::start("e1", 10_000, None).unwrap();
        let ids: Vec<String> = (0..3).map(|_| g1.next_id().unwrap().to_string()).collect();
        // The clock went back 5 s.
        let floor = max_epoch("e1", ids.iter().map(String::as_str));
        assert_eq!(floor, Some(10_000));
        let mut g2 = ClientIdGen::start("e1", 5_000, floor).unwrap();
        assert_eq!(g2.epoch_ms(), 10_001);
        let id = g2.next_id().unwrap();
        assert!(!ids.contains(&id.to_string()));
        // The clock moved on: it is used as is.
        assert_eq!(
            ClientIdGen::start("e1", 20_000, floor).unwrap().epoch_ms(),
            20_000
        );
        // Other engines' ids and foreign text do not move the floor.
        let other = ClientIdGen::start("e2", 99_999, None)
            .unwrap()
            .id(0)
            .unwrap();
        let foreign = ["TEST", "web_abc", "x/y:z"];
        let all = ids
            .iter()
            .map(String::as_str)
            .chain([other.as_str()])
            .chain(foreign);
        assert_eq!(max_epoch("e1", all), Some(10_000));
        for f in foreign {
            assert_eq!(parse(f), None);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// Lives of one engine with a clock that jumps back and forth at
        /// each restart: no id is ever issued twice.
        #[test]
        fn no_reuse_across_restarts(
            prefix in "[0-9A-Za-z]{1,8}",
            start in 0u64..4_000_000_000_000,
            lives in prop::collection::vec((-5_000i64..5_000, 0usize..20), 1..20),
        ) {
            let mut journal: Vec<String> = Vec::new();
            let mut seen = HashSet::new();
            let mut clock = start as i64;
            for (jump, n) in lives {
                clock = (clock + jump).max(0);
                let floor = max_epoch(&prefix, journal.iter().map(String::as_str));
                let mut g = ClientIdGen::start(&prefix, clock as u64, floor).unwrap();
                for _ in 0..n {
                    let id = g.next_id().unwrap().to_string();
                    prop_assert!(valid_everywhere(&id), "{}", id);
                    prop_assert!(seen.insert(id.clone()), "{} issued twice", id);
                    journal.push(id);
                }
            }
        }

        /// Different (prefix, epoch, seq) never give the same text, even
        /// with prefixes of different lengths; parsing gives the parts back.
        #[test]
        fn injective_across_prefixes(
            a in ("[0-9A-Za-z]{1,8}", 0u64..EPOCH_LIMIT, 0u64..SEQ_LIMIT),
            b in ("[0-9A-Za-z]{1,8}", 0u64..EPOCH_LIMIT, 0u64..SEQ_LIMIT),
        ) {
            let ia = ClientIdGen::start(&a.0, a.1, None).unwrap().id(a.2).unwrap();
            let ib = ClientIdGen::start(&b.0, b.1, None).unwrap().id(b.2).unwrap();
            prop_assert_eq!(ia == ib, a == b);
            let p = parse(ia.as_str()).unwrap();
            prop_assert_eq!((p.prefix, p.epoch_ms, p.seq), (a.0.as_str(), a.1, a.2));
        }
    }
}
