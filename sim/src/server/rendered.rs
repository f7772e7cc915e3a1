//! Each topology version's `CLUSTER NODES` text, rendered once and shared by all nodes.

use bytes::{Bytes, BytesMut};
use slotwatch::topology::{Flags, NodeLine};

/// The `CLUSTER NODES` text of one topology version, rendered once. A node's view (what
/// `synth::view_of` gives) is its own line flagged `myself`, then every other line in order,
/// so each reply is assembled from three slices of the shared text instead of caching one full
/// reply per node: at 1000 nodes those would take 1000 × ~125 KB of memory.
pub(super) struct Rendered {
    /// Every line without `myself`, each ending in `\n`.
    text: Bytes,
    /// Where line i starts in `text`; one more entry than lines, the last being `text.len()`.
    starts: Vec<usize>,
    /// Each node's own line, flagged `myself`, ending in `\n`.
    own: Vec<Bytes>,
}

impl Rendered {
    pub(super) fn new(lines: &[NodeLine]) -> Rendered {
        use std::fmt::Write;
        let mut text = String::with_capacity(lines.len() * 128);
        let mut starts = Vec::with_capacity(lines.len() + 1);
        let mut own = Vec::with_capacity(lines.len());
        for line in lines {
            let mut line = line.clone();
            starts.push(text.len());
            line.flags.set(Flags::MYSELF, false);
            // Writing into a String cannot fail.
            let _ = writeln!(text, "{line}");
            line.flags.set(Flags::MYSELF, true);
            own.push(Bytes::from(format!("{line}\n")));
        }
        starts.push(text.len());
        Rendered {
            text: Bytes::from(text),
            starts,
            own,
        }
    }

    /// Node `me`'s `CLUSTER NODES` reply.
    pub(super) fn view(&self, me: usize) -> Bytes {
        let (Some(own), Some(&start), Some(&end)) = (
            self.own.get(me),
            self.starts.get(me),
            self.starts.get(me + 1),
        ) else {
            return self.text.clone();
        };
        let mut out = BytesMut::with_capacity(self.text.len() - (end - start) + own.len());
        out.extend_from_slice(own);
        out.extend_from_slice(&self.text[..start]);
        out.extend_from_slice(&self.text[end..]);
        out.freeze()
    }
}
