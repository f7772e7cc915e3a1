//! Just enough RESP2 for the fake nodes of tests that cannot use a real server: reading a
//! client's commands and writing replies.

/// One complete RESP array command at the start of `buf`: its arguments and its length.
pub fn command(buf: &[u8]) -> Option<(Vec<String>, usize)> {
    let line = |at: usize| -> Option<(&[u8], usize)> {
        let end = buf.get(at..)?.windows(2).position(|w| w == b"\r\n")? + at;
        Some((&buf[at..end], end + 2))
    };
    let (head, mut at) = line(0)?;
    let count: usize = std::str::from_utf8(head.strip_prefix(b"*")?)
        .ok()?
        .parse()
        .ok()?;
    let mut args = Vec::with_capacity(count);
    for _ in 0..count {
        let (len, start) = line(at)?;
        let len: usize = std::str::from_utf8(len.strip_prefix(b"$")?)
            .ok()?
            .parse()
            .ok()?;
        let end = start + len;
        if buf.len() < end + 2 {
            return None;
        }
        args.push(String::from_utf8_lossy(&buf[start..end]).into_owned());
        at = end + 2;
    }
    Some((args, at))
}

/// A reply, encoded as RESP2.
#[derive(Debug, Clone)]
pub enum Reply {
    /// `+OK` and the like.
    Simple(String),
    /// `-ERR ...`.
    Error(String),
    /// `:n`.
    Int(i64),
    /// `$n` and the bytes.
    Bulk(String),
    /// `*n` and the items.
    Array(Vec<Reply>),
}

impl Reply {
    /// A flat key/value array, as RESP2 sends a map.
    pub fn map(pairs: &[(&str, Reply)]) -> Reply {
        Reply::Array(
            pairs
                .iter()
                .flat_map(|(k, v)| [Reply::Bulk(k.to_string()), v.clone()])
                .collect(),
        )
    }

    /// The wire bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Reply::Simple(s) => out.extend_from_slice(format!("+{s}\r\n").as_bytes()),
            Reply::Error(s) => out.extend_from_slice(format!("-{s}\r\n").as_bytes()),
            Reply::Int(n) => out.extend_from_slice(format!(":{n}\r\n").as_bytes()),
            Reply::Bulk(s) => out.extend_from_slice(format!("${}\r\n{s}\r\n", s.len()).as_bytes()),
            Reply::Array(items) => {
                out.extend_from_slice(format!("*{}\r\n", items.len()).as_bytes());
                for item in items {
                    item.encode_into(out);
                }
            }
        }
    }
}
