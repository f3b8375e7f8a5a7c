//! Reading the journal back: the day files of a directory, the records of
//! one day, or every record from a given id on (across days, in order).
//! Damage never stops a read: a damaged region is skipped (reading resumes
//! at the next valid record, see [`super::frame`]), a torn last record is
//! ignored, an unreadable rest of file is reported; each with one warning
//! per file, never an error.

use super::frame::{Damage, FrameReader, Tail};
use super::record::Record;
use crate::core::clock::format_day;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// File extension of day files.
pub const EXT: &str = "journal";

/// `YYYY-MM-DD.journal` for a UTC day number.
pub fn file_name(day: i64) -> String {
    format!("{}.{EXT}", format_day(day))
}

/// The file of UTC day `day` in `dir`.
pub fn day_path(dir: &Path, day: i64) -> PathBuf {
    dir.join(file_name(day))
}

/// `YYYY-MM-DD` to a UTC day number.
pub fn parse_day(s: &str) -> Option<i64> {
    let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?;
    Some((d - epoch).num_days())
}

/// UTC days that have a file in `dir`, ascending (none if `dir` is missing).
pub fn list_days(dir: &Path) -> io::Result<Vec<i64>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut days = Vec::new();
    for e in rd {
        let name = e?.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(stem) = name.strip_suffix(&format!(".{EXT}"))
            && let Some(d) = parse_day(stem)
        {
            days.push(d);
        }
    }
    days.sort_unstable();
    Ok(days)
}

/// Records of one stream of frames, decoded; damaged ones are skipped.
pub struct RecordIter<R: io::Read> {
    frames: FrameReader<R>,
    name: String,
    bad_json: u64,
    warned: bool,
    warned_damage: bool,
}

impl<R: io::Read> RecordIter<R> {
    /// `name` names the source in the warning about a torn tail.
    pub fn new(r: R, name: impl Into<String>) -> Self {
        RecordIter {
            frames: FrameReader::new(r),
            name: name.into(),
            bad_json: 0,
            warned: false,
            warned_damage: false,
        }
    }

    pub fn tail(&self) -> &Tail {
        self.frames.tail()
    }

    /// Frames skipped: bad checksum in the middle, or undecodable JSON.
    pub fn corrupt(&self) -> u64 {
        self.frames.corrupt() + self.bad_json
    }

    pub fn valid_len(&self) -> u64 {
        self.frames.valid_len()
    }

    /// The damaged regions skipped (the first [`super::frame::MAX_REGIONS`]).
    pub fn damaged(&self) -> &[Damage] {
        self.frames.damaged()
    }

    /// Damaged regions skipped (undecodable records not counted).
    pub fn frames_corrupt(&self) -> u64 {
        self.frames.corrupt()
    }

    /// Bytes in damaged regions skipped.
    pub fn damaged_bytes(&self) -> u64 {
        self.frames.damaged_bytes()
    }

    /// Failed reads that were retried.
    pub fn retries(&self) -> u64 {
        self.frames.retries()
    }

    fn warn_damage(&mut self) {
        if self.warned_damage {
            return;
        }
        if let Some(d) = self.frames.damaged().first() {
            self.warned_damage = true;
            tracing::error!(
                file = %self.name,
                offset = d.offset,
                bytes = d.len,
                reason = d.reason,
                "journal: damaged region skipped, reading resumed at the next valid record (logged once per file; see `journal report`)"
            );
        }
    }
}

impl<R: io::Read> Iterator for RecordIter<R> {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        loop {
            let next = self.frames.next();
            self.warn_damage();
            let Some(p) = next else {
                if !self.warned {
                    match self.frames.tail() {
                        Tail::Clean => {}
                        Tail::Torn { reason } => tracing::warn!(
                            file = %self.name,
                            reason = *reason,
                            valid_bytes = self.frames.valid_len(),
                            "journal: torn last record ignored (crash mid-write)"
                        ),
                        Tail::Unreadable { error } => tracing::error!(
                            file = %self.name,
                            error = %error,
                            valid_bytes = self.frames.valid_len(),
                            "journal: the rest of the file is unreadable (read failed after retries); nothing is cut"
                        ),
                    }
                    self.warned = true;
                }
                return None;
            };
            match serde_json::from_slice::<Record>(&p) {
                Ok(r) => return Some(r),
                Err(e) => {
                    self.bad_json += 1;
                    if self.bad_json == 1 {
                        tracing::warn!(file = %self.name, error = %e, "journal: undecodable record skipped");
                    }
                }
            }
        }
    }
}

/// Opens the records of one day (`None` when there is no file).
pub fn open_day(dir: &Path, day: i64) -> io::Result<Option<RecordIter<File>>> {
    let path = day_path(dir, day);
    match File::open(&path) {
        Ok(f) => Ok(Some(RecordIter::new(f, path.display().to_string()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Everything read from one day file.
#[derive(Debug, Default)]
pub struct DayRead {
    pub day: i64,
    pub records: Vec<Record>,
    pub tail: Tail,
    /// Damaged regions skipped plus undecodable records.
    pub corrupt: u64,
    /// The damaged regions skipped (offsets in the file).
    pub damaged: Vec<Damage>,
    /// Failed reads that were retried.
    pub retries: u64,
}

/// Reads a whole day (empty when there is no file).
pub fn read_day(dir: &Path, day: i64) -> io::Result<DayRead> {
    let Some(mut it) = open_day(dir, day)? else {
        return Ok(DayRead {
            day,
            ..Default::default()
        });
    };
    let records: Vec<Record> = it.by_ref().collect();
    Ok(DayRead {
        day,
        records,
        tail: it.tail().clone(),
        corrupt: it.corrupt(),
        damaged: it.damaged().to_vec(),
        retries: it.retries(),
    })
}

/// Every record with `id >= from_id`, oldest day first, read lazily.
pub fn read_from(dir: &Path, from_id: u64) -> io::Result<FromIter> {
    let days = list_days(dir)?;
    Ok(FromIter {
        dir: dir.to_path_buf(),
        days: days.into_iter(),
        cur: None,
        from_id,
    })
}

/// See [`read_from`].
pub struct FromIter {
    dir: PathBuf,
    days: std::vec::IntoIter<i64>,
    cur: Option<RecordIter<File>>,
    from_id: u64,
}

impl Iterator for FromIter {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        loop {
            if let Some(it) = self.cur.as_mut() {
                for r in it.by_ref() {
                    if r.id >= self.from_id {
                        return Some(r);
                    }
                }
                self.cur = None;
            }
            let day = self.days.next()?;
            match open_day(&self.dir, day) {
                Ok(it) => self.cur = it,
                Err(e) => {
                    tracing::warn!(day = %format_day(day), error = %e, "journal: cannot read day file");
                }
            }
        }
    }
}

/// The highest record id in `dir` (0 when there is none). Reads the newest
/// day files until one holds a record. A file whose end cannot be read
/// (after retries) is an error: the ids in it are unknown, and new records
/// must never reuse one.
pub fn last_id(dir: &Path) -> io::Result<u64> {
    for day in list_days(dir)?.into_iter().rev() {
        let Some(mut it) = open_day(dir, day)? else {
            continue;
        };
        let max = it.by_ref().map(|r| r.id).max();
        if let Tail::Unreadable { error } = it.tail() {
            return Err(io::Error::other(format!(
                "{}: cannot read to the end ({error}); the last record id is unknown",
                day_path(dir, day).display()
            )));
        }
        if let Some(max) = max {
            return Ok(max);
        }
    }
    Ok(0)
}

/// The damage found in one day file (see [`check_dir`]).
#[derive(Debug, Clone)]
pub struct FileDamage {
    pub day: i64,
    pub damaged: Vec<Damage>,
    /// Damaged regions plus undecodable records.
    pub corrupt: u64,
    pub tail: Tail,
}

/// Reads every day file of `dir` and lists those with damage, a torn tail
/// or an unreadable rest (for `doctor`).
pub fn check_dir(dir: &Path) -> io::Result<Vec<FileDamage>> {
    let mut out = Vec::new();
    for day in list_days(dir)? {
        let Some(mut it) = open_day(dir, day)? else {
            continue;
        };
        for _ in it.by_ref() {}
        if it.corrupt() > 0 || *it.tail() != Tail::Clean {
            out.push(FileDamage {
                day,
                damaged: it.damaged().to_vec(),
                corrupt: it.corrupt(),
                tail: it.tail().clone(),
            });
        }
    }
    Ok(out)
}
