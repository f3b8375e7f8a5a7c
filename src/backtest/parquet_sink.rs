//! The features export as Parquet (the `parquet` crate's column writer, no
//! Arrow): `ts_ns` and `decision_id` INT64, `venue`, `symbol`, `action`
//! UTF-8 strings, every number an optional DOUBLE (null where a forward
//! return runs past the recording), zstd-compressed, row groups of 65,536
//! rows.

use super::features::RowSink;
use parquet::basic::{Compression, LogicalType, Repetition, Type as Physical, ZstdLevel};
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;
use std::fs::File;
use std::io::{Error, ErrorKind};
use std::sync::Arc;

const ROWS_PER_GROUP: usize = 65_536;

fn io(e: parquet::errors::ParquetError) -> Error {
    Error::other(e.to_string())
}

/// Buffers rows column-wise and writes a row group every 65,536 rows.
pub struct ParquetSink {
    out: Option<File>,
    writer: Option<SerializedFileWriter<File>>,
    ts: Vec<i64>,
    ids: Vec<i64>,
    strings: [Vec<ByteArray>; 3],
    /// Per number column: its present values and definition levels.
    numbers: Vec<(Vec<f64>, Vec<i16>)>,
    rows: usize,
}

impl ParquetSink {
    pub fn new(out: File) -> ParquetSink {
        ParquetSink {
            out: Some(out),
            writer: None,
            ts: Vec::new(),
            ids: Vec::new(),
            strings: Default::default(),
            numbers: Vec::new(),
            rows: 0,
        }
    }

    fn flush_group(&mut self) -> std::io::Result<()> {
        if self.rows == 0 {
            return Ok(());
        }
        let w = self
            .writer
            .as_mut()
            .ok_or_else(|| Error::other("parquet: no header written"))?;
        let mut rg = w.next_row_group().map_err(io)?;
        let mut k = 0;
        while let Some(mut col) = rg.next_column().map_err(io)? {
            match k {
                0 => col.typed::<Int64Type>().write_batch(&self.ts, None, None),
                1..=3 => col
                    .typed::<ByteArrayType>()
                    .write_batch(&self.strings[k - 1], None, None),
                4 => col.typed::<Int64Type>().write_batch(&self.ids, None, None),
                _ => {
                    let (v, d) = &self.numbers[k - 5];
                    col.typed::<DoubleType>().write_batch(v, Some(d), None)
                }
            }
            .map_err(io)?;
            col.close().map_err(io)?;
            k += 1;
        }
        rg.close().map_err(io)?;
        self.ts.clear();
        self.ids.clear();
        for s in &mut self.strings {
            s.clear();
        }
        for (v, d) in &mut self.numbers {
            v.clear();
            d.clear();
        }
        self.rows = 0;
        Ok(())
    }
}

impl RowSink for ParquetSink {
    /// `columns`: ts_ns, venue, symbol, decision_id, action, then numbers.
    fn header(&mut self, columns: &[String]) -> std::io::Result<()> {
        if columns.len() < 5 {
            return Err(Error::new(ErrorKind::InvalidInput, "too few columns"));
        }
        let prim = |name: &str, t: Physical, rep: Repetition, s: bool| {
            let mut b = Type::primitive_type_builder(name, t).with_repetition(rep);
            if s {
                b = b.with_logical_type(Some(LogicalType::String));
            }
            b.build().map(Arc::new).map_err(io)
        };
        let mut fields = vec![
            prim(&columns[0], Physical::INT64, Repetition::REQUIRED, false)?,
            prim(
                &columns[1],
                Physical::BYTE_ARRAY,
                Repetition::REQUIRED,
                true,
            )?,
            prim(
                &columns[2],
                Physical::BYTE_ARRAY,
                Repetition::REQUIRED,
                true,
            )?,
            prim(
                &columns[4],
                Physical::BYTE_ARRAY,
                Repetition::REQUIRED,
                true,
            )?,
            prim(&columns[3], Physical::INT64, Repetition::REQUIRED, false)?,
        ];
        for c in &columns[5..] {
            fields.push(prim(c, Physical::DOUBLE, Repetition::OPTIONAL, false)?);
        }
        self.numbers = (5..columns.len())
            .map(|_| (Vec::new(), Vec::new()))
            .collect();
        let schema = Type::group_type_builder("features")
            .with_fields(fields)
            .build()
            .map_err(io)?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_max_row_group_size(ROWS_PER_GROUP)
            .build();
        let out = self
            .out
            .take()
            .ok_or_else(|| Error::other("parquet: header written twice"))?;
        self.writer =
            Some(SerializedFileWriter::new(out, Arc::new(schema), Arc::new(props)).map_err(io)?);
        Ok(())
    }

    /// Keys: ts_ns, venue, symbol, decision_id, action.
    fn row(&mut self, keys: &[&str], values: &[Option<f64>]) -> std::io::Result<()> {
        if keys.len() != 5 || values.len() != self.numbers.len() {
            return Err(Error::new(ErrorKind::InvalidInput, "row shape"));
        }
        let num = |s: &str| {
            s.parse::<i64>()
                .map_err(|e| Error::new(ErrorKind::InvalidInput, format!("{s}: {e}")))
        };
        self.ts.push(num(keys[0])?);
        self.ids.push(num(keys[3])?);
        self.strings[0].push(ByteArray::from(keys[1]));
        self.strings[1].push(ByteArray::from(keys[2]));
        self.strings[2].push(ByteArray::from(keys[4]));
        for ((v, d), x) in self.numbers.iter_mut().zip(values) {
            match x {
                Some(x) if x.is_finite() => {
                    v.push(*x);
                    d.push(1);
                }
                _ => d.push(0),
            }
        }
        self.rows += 1;
        if self.rows >= ROWS_PER_GROUP {
            self.flush_group()?;
        }
        Ok(())
    }

    fn finish(&mut self) -> std::io::Result<()> {
        self.flush_group()?;
        if let Some(w) = self.writer.take() {
            w.close().map_err(io)?;
        }
        Ok(())
    }
}
