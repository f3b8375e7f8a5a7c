//! Which Redis stream an outgoing event goes to: the one name list the
//! publisher, its metrics (`telemetry::redis`) and the API share.

/// Which stream an event goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamKind {
    Decision,
    Intent,
    Verdict,
    Execution,
    Market,
}

impl StreamKind {
    pub const ALL: [StreamKind; 5] = [
        StreamKind::Decision,
        StreamKind::Intent,
        StreamKind::Verdict,
        StreamKind::Execution,
        StreamKind::Market,
    ];

    /// Short name (metric label).
    pub fn as_str(self) -> &'static str {
        match self {
            StreamKind::Decision => "decision",
            StreamKind::Intent => "intent",
            StreamKind::Verdict => "verdict",
            StreamKind::Execution => "execution",
            StreamKind::Market => "market",
        }
    }

    pub fn idx(self) -> usize {
        self as usize
    }

    /// The reverse of [`StreamKind::as_str`].
    pub fn parse(s: &str) -> Option<StreamKind> {
        StreamKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}
