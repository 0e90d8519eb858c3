//! How far the walk goes (`[attachments]` in the configuration file): nesting depth, bytes
//! unpacked, archive entries, compression ratio, and the size of message analysed.
//!
//! In: the installation's values. Out: [`Bounds`], read by the walk.

/// The walk's limits. Reaching one refuses the message with its own rule (never "clean").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Containers (archives, documents, attached messages) opened inside one another.
    pub max_depth: usize,
    /// Bytes unpacked from archives, over the whole message.
    pub max_unpacked_bytes: u64,
    /// Archive entries, over the whole message.
    pub max_entries: usize,
    /// Unpacked size over compressed size, for one entry past [`RATIO_FLOOR`] bytes.
    pub max_ratio: u64,
    /// A larger message is not analysed (`skipped` in the trace, logged).
    pub max_message_bytes: usize,
}

/// An entry's ratio is judged once it has unpacked this much: small, very repetitive files
/// (an empty spreadsheet's XML) compress far beyond any bomb's ratio.
pub const RATIO_FLOOR: u64 = 1 << 20;

impl Default for Bounds {
    fn default() -> Bounds {
        Bounds {
            max_depth: 5,
            max_unpacked_bytes: 200 << 20,
            max_entries: 1000,
            max_ratio: 100,
            max_message_bytes: 64 << 20,
        }
    }
}
