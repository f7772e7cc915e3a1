//! `CLUSTER NODES` text to one node's [`View`]. Pure, and never panics on any input.
//!
//! Accepts every form Redis 3.x to 7.x and Valkey print:
//!
//! ```text
//! <id> <ip:port[@cport][,hostname[,key=value]*]> <flags> <master|-> <ping> <pong> <epoch> <link> <slot>*
//! ```
//!
//! Slots are single (`42`), ranges (`0-5460`), migrating (`[42->-<target id>]`) or importing
//! (`[42-<-<source id>]`). Lines may end in CRLF or LF, carry trailing spaces, and the reply may
//! end in a blank line. Flags slotwatch does not know are skipped, so that a newer server's
//! additions do not stop monitoring.

use std::fmt;

use super::{Addr, Flags, LinkState, NodeId, NodeLine, View};
use crate::slot::{SlotRange, parse_slot};

/// Why a `CLUSTER NODES` reply could not be parsed: the line, the field, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    /// 1-based line number within the parsed text.
    pub line: usize,
    /// Name of the field that failed, e.g. `"node id"`.
    pub field: &'static str,
    /// What the field should have held.
    pub expected: &'static str,
    /// The offending text, shortened.
    pub found: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}: {}: expected {}, found {:?}",
            self.line, self.field, self.expected, self.found
        )
    }
}

impl ParseError {
    fn new(line: usize, field: &'static str, expected: &'static str, found: &str) -> Self {
        ParseError {
            line,
            field,
            expected,
            found: shorten(found),
        }
    }
}

/// Keeps error messages readable when the input is huge or binary.
fn shorten(text: &str) -> String {
    const MAX: usize = 60;
    if text.len() <= MAX {
        return text.to_owned();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

/// Parses one node's `CLUSTER NODES` reply given as raw bytes, as it comes off the wire.
pub fn parse_view_bytes(input: &[u8]) -> Result<View, ParseError> {
    let text = utf8(input)?;
    parse_view_at(text, 0)
}

/// Parses one node's `CLUSTER NODES` reply.
///
/// ```
/// let text = "e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-5460\n";
/// let view = slotwatch::topology::parse::parse_view(text).unwrap();
/// assert_eq!(view.myself().unwrap().slots[0].to_string(), "0-5460");
/// ```
pub fn parse_view(text: &str) -> Result<View, ParseError> {
    parse_view_at(text, 0)
}

/// Parses a file that holds one or more replies separated by blank lines, as the `diff` command
/// reads them. Line numbers in errors count from the top of the file.
pub fn parse_dump(input: &[u8]) -> Result<Vec<View>, ParseError> {
    let text = utf8(input)?;
    let mut views = Vec::new();
    let mut block_start = 0usize; // line index where the current block starts
    let mut block = String::new();
    for (i, raw) in text.split('\n').enumerate() {
        if raw.trim().is_empty() {
            if !block.is_empty() {
                views.push(parse_view_at(&block, block_start)?);
                block.clear();
            }
            block_start = i + 1;
        } else {
            block.push_str(raw);
            block.push('\n');
        }
    }
    if !block.is_empty() {
        views.push(parse_view_at(&block, block_start)?);
    }
    Ok(views)
}

/// The input as text; the error names the line of the first invalid byte.
fn utf8(input: &[u8]) -> Result<&str, ParseError> {
    std::str::from_utf8(input).map_err(|e| {
        let good = &input[..e.valid_up_to()];
        let line = 1 + good.iter().filter(|&&b| b == b'\n').count();
        ParseError::new(line, "reply", "UTF-8 text", "invalid byte")
    })
}

fn parse_view_at(text: &str, line_offset: usize) -> Result<View, ParseError> {
    let mut lines: Vec<(usize, NodeLine)> = Vec::new();
    let mut seen_myself = false;
    for (i, raw) in text.split('\n').enumerate() {
        let line_no = line_offset + i + 1;
        let line = raw.trim_end_matches(['\r', ' ', '\t']);
        if line.trim().is_empty() {
            continue;
        }
        let parsed = parse_line(line, line_no)?;
        if parsed.flags.contains(Flags::MYSELF) {
            if seen_myself {
                return Err(ParseError::new(
                    line_no,
                    "flags",
                    "a single line flagged myself",
                    "a second myself line",
                ));
            }
            seen_myself = true;
        }
        lines.push((line_no, parsed));
    }
    // Duplicate IDs are checked once at the end (sort, then compare neighbours) because a
    // per-line scan is quadratic, and large clusters print thousands of lines.
    let mut order: Vec<usize> = (0..lines.len()).collect();
    order.sort_unstable_by(|&a, &b| lines[a].1.id.cmp(&lines[b].1.id).then(a.cmp(&b)));
    if let Some(w) = order
        .windows(2)
        .filter(|w| lines[w[0]].1.id == lines[w[1]].1.id)
        .min_by_key(|w| lines[w[1]].0)
    {
        let (line_no, dup) = &lines[w[1]];
        return Err(ParseError::new(
            *line_no,
            "node id",
            "each node listed once",
            dup.id.as_str(),
        ));
    }
    Ok(View {
        lines: lines.into_iter().map(|(_, l)| l).collect(),
    })
}

/// Parses one line; `line_no` is only used for error messages.
pub fn parse_line(line: &str, line_no: usize) -> Result<NodeLine, ParseError> {
    let mut fields = Fields {
        rest: line.split_ascii_whitespace(),
        line_no,
    };
    let id = fields.parse("node id", "a 40-character hex node ID", NodeId::parse)?;
    let addr = fields.parse("address", "ip:port[@cport][,hostname]", parse_addr)?;
    let flags = fields.parse(
        "flags",
        "comma-separated flags such as myself,master",
        parse_flags,
    )?;
    let master = fields.parse("master", "a master node ID or -", parse_master)?;
    let ping_sent = fields.number("ping-sent")?;
    let pong_recv = fields.number("pong-recv")?;
    let config_epoch = fields.number("config-epoch")?;
    let link = fields.parse("link-state", "connected or disconnected", parse_link)?;
    let slots = parse_slot_tokens(fields.rest, line_no)?;
    Ok(NodeLine {
        id,
        addr,
        flags,
        master,
        ping_sent,
        pong_recv,
        config_epoch,
        link,
        slots: slots.owned,
        migrating: slots.migrating,
        importing: slots.importing,
    })
}

/// The fields of one line, taken in order; each error names the field and the line.
struct Fields<'a> {
    rest: std::str::SplitAsciiWhitespace<'a>,
    line_no: usize,
}

impl<'a> Fields<'a> {
    /// The next field, or an error saying the line ended before it.
    fn next(&mut self, field: &'static str, expected: &'static str) -> Result<&'a str, ParseError> {
        self.rest
            .next()
            .ok_or_else(|| ParseError::new(self.line_no, field, expected, "end of line"))
    }

    /// The next field read by `read`; `None` from it is an error quoting the field.
    fn parse<T>(
        &mut self,
        field: &'static str,
        expected: &'static str,
        read: impl FnOnce(&str) -> Option<T>,
    ) -> Result<T, ParseError> {
        let text = self.next(field, expected)?;
        read(text).ok_or_else(|| ParseError::new(self.line_no, field, expected, text))
    }

    /// The next field as a decimal number.
    fn number(&mut self, field: &'static str) -> Result<u64, ParseError> {
        // u64::from_str accepts a leading '+'; Redis never prints one.
        self.parse(field, "a non-negative integer", |t| {
            t.parse::<u64>()
                .ok()
                .filter(|_| t.bytes().all(|b| b.is_ascii_digit()))
        })
    }
}

/// The master field: `Some(None)` for a master, `None` if it is not an ID.
fn parse_master(text: &str) -> Option<Option<NodeId>> {
    match text {
        "-" => Some(None),
        // Very old servers print forty zeroes instead of "-".
        t if t.bytes().all(|b| b == b'0') && t.len() == 40 => Some(None),
        t => NodeId::parse(t).map(Some),
    }
}

/// The link-state field.
fn parse_link(text: &str) -> Option<LinkState> {
    match text {
        "connected" => Some(LinkState::Connected),
        "disconnected" => Some(LinkState::Disconnected),
        _ => None,
    }
}

/// The slot fields at the end of a line: owned slots and open migrations' markers.
#[derive(Default)]
struct SlotTokens {
    owned: Vec<SlotRange>,
    migrating: Vec<(u16, NodeId)>,
    importing: Vec<(u16, NodeId)>,
}

fn parse_slot_tokens<'a>(
    tokens: impl Iterator<Item = &'a str>,
    line_no: usize,
) -> Result<SlotTokens, ParseError> {
    const EXPECTED: &str = "a slot, a range a-b, [slot->-id] or [slot-<-id]";
    let mut out = SlotTokens::default();
    for token in tokens {
        let bad = || ParseError::new(line_no, "slot", EXPECTED, token);
        match token.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            Some(marker) => match parse_marker(marker).ok_or_else(bad)? {
                Marker::Migrating(slot, target) => out.migrating.push((slot, target)),
                Marker::Importing(slot, source) => out.importing.push((slot, source)),
            },
            None => out
                .owned
                .push(token.parse::<SlotRange>().map_err(|_| bad())?),
        }
    }
    Ok(out)
}

/// An open migration's marker, `[slot->-target]` or `[slot-<-source]`.
enum Marker {
    Migrating(u16, NodeId),
    Importing(u16, NodeId),
}

/// Reads the inside of a marker's brackets.
fn parse_marker(inner: &str) -> Option<Marker> {
    let half = |(slot, id): (&str, &str)| Some((parse_slot(slot).ok()?, NodeId::parse(id)?));
    if let Some(split) = inner.split_once("->-") {
        let (slot, target) = half(split)?;
        Some(Marker::Migrating(slot, target))
    } else {
        let (slot, source) = half(inner.split_once("-<-")?)?;
        Some(Marker::Importing(slot, source))
    }
}

/// Parses `ip:port`, `ip:port@cport` and `ip:port@cport,hostname[,key=value...]`, with IPv6
/// addresses bare (as Redis prints them) or bracketed, and `:0` for a node with no address.
fn parse_addr(text: &str) -> Option<Addr> {
    let (endpoint, extra) = match text.split_once(',') {
        Some((e, rest)) => (e, Some(rest)),
        None => (text, None),
    };
    let (hostport, cport) = match endpoint.rsplit_once('@') {
        Some((hp, c)) => (hp, Some(parse_port(c)?)),
        None => (endpoint, None),
    };
    let (ip, port) = if let Some(rest) = hostport.strip_prefix('[') {
        let (ip, port) = rest.split_once("]:")?;
        (ip, port)
    } else {
        hostport.rsplit_once(':')?
    };
    if ip
        .bytes()
        .any(|b| !(b.is_ascii_alphanumeric() || b"._-:%".contains(&b)))
    {
        return None;
    }
    let port = parse_port(port)?;

    let mut hostname = None;
    let mut aux = Vec::new();
    if let Some(extra) = extra {
        for (i, item) in extra.split(',').enumerate() {
            match item.split_once('=') {
                Some((k, v)) if !k.is_empty() => aux.push((k.to_owned(), v.to_owned())),
                Some(_) => return None,
                // The hostname is the first item; Redis 7.2 prints it empty (`,,`) when unset.
                None if i == 0 => hostname = (!item.is_empty()).then(|| item.to_owned()),
                None => return None,
            }
        }
    }
    Some(Addr {
        ip: ip.to_owned(),
        port,
        cport,
        hostname,
        aux,
    })
}

fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn parse_flags(text: &str) -> Option<Flags> {
    let mut flags = Flags::empty();
    for name in text.split(',') {
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'?' || b == b'_' || b == b'-')
        {
            return None;
        }
        if name == "noflags" {
            continue;
        }
        if let Some(f) = Flags::from_name(name) {
            flags = flags | f;
        }
    }
    Some(flags)
}

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
