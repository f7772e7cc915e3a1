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
    let text = utf8(input, 0)?;
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
    let text = utf8(input, 0)?;
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

fn utf8(input: &[u8], line_offset: usize) -> Result<&str, ParseError> {
    std::str::from_utf8(input).map_err(|e| {
        let good = &input[..e.valid_up_to()];
        let line = line_offset + 1 + good.iter().filter(|&&b| b == b'\n').count();
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
    let mut fields = line.split_ascii_whitespace();
    let mut next = |field: &'static str, expected: &'static str| {
        fields
            .next()
            .ok_or_else(|| ParseError::new(line_no, field, expected, "end of line"))
    };

    let id_text = next("node id", "a 40-character hex node ID")?;
    let id = NodeId::parse(id_text).ok_or_else(|| {
        ParseError::new(line_no, "node id", "a 40-character hex node ID", id_text)
    })?;

    let addr_text = next("address", "ip:port[@cport][,hostname]")?;
    let addr = parse_addr(addr_text).ok_or_else(|| {
        ParseError::new(line_no, "address", "ip:port[@cport][,hostname]", addr_text)
    })?;

    let flags_text = next("flags", "comma-separated flags such as myself,master")?;
    let flags = parse_flags(flags_text).ok_or_else(|| {
        ParseError::new(
            line_no,
            "flags",
            "comma-separated flags such as myself,master",
            flags_text,
        )
    })?;

    let master_text = next("master", "a master node ID or -")?;
    let master = match master_text {
        "-" => None,
        // Very old servers print forty zeroes instead of "-".
        t if t.bytes().all(|b| b == b'0') && t.len() == 40 => None,
        t => Some(
            NodeId::parse(t)
                .ok_or_else(|| ParseError::new(line_no, "master", "a master node ID or -", t))?,
        ),
    };

    let mut number = |field: &'static str| -> Result<u64, ParseError> {
        let t = next(field, "a non-negative integer")?;
        t.parse::<u64>()
            .ok()
            .filter(|_| t.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| ParseError::new(line_no, field, "a non-negative integer", t))
    };
    let ping_sent = number("ping-sent")?;
    let pong_recv = number("pong-recv")?;
    let config_epoch = number("config-epoch")?;

    let link_text = next("link-state", "connected or disconnected")?;
    let link = match link_text {
        "connected" => LinkState::Connected,
        "disconnected" => LinkState::Disconnected,
        t => {
            return Err(ParseError::new(
                line_no,
                "link-state",
                "connected or disconnected",
                t,
            ));
        }
    };

    let mut slots = Vec::new();
    let mut migrating = Vec::new();
    let mut importing = Vec::new();
    for token in fields {
        const EXPECTED: &str = "a slot, a range a-b, [slot->-id] or [slot-<-id]";
        let bad = || ParseError::new(line_no, "slot", EXPECTED, token);
        if let Some(inner) = token.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            if let Some((slot, target)) = inner.split_once("->-") {
                let slot = parse_slot(slot).map_err(|_| bad())?;
                migrating.push((slot, NodeId::parse(target).ok_or_else(bad)?));
            } else if let Some((slot, source)) = inner.split_once("-<-") {
                let slot = parse_slot(slot).map_err(|_| bad())?;
                importing.push((slot, NodeId::parse(source).ok_or_else(bad)?));
            } else {
                return Err(bad());
            }
        } else {
            slots.push(token.parse::<SlotRange>().map_err(|_| bad())?);
        }
    }

    Ok(NodeLine {
        id,
        addr,
        flags,
        master,
        ping_sent,
        pong_recv,
        config_epoch,
        link,
        slots,
        migrating,
        importing,
    })
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
mod tests {
    use super::*;
    use crate::topology::Role;
    use crate::topology::testdata::*;

    #[test]
    fn parses_a_redis7_reply() {
        let view = parse_view(&healthy()).unwrap();
        assert_eq!(view.lines.len(), 6);
        let me = view.myself().unwrap();
        assert_eq!(me.id.as_str(), A);
        assert_eq!(me.addr.endpoint(), "127.0.0.1:30001");
        assert_eq!(me.addr.cport, Some(31001));
        assert_eq!(me.role(), Role::Master);
        assert_eq!(me.slots, vec![SlotRange::new(0, 5460).unwrap()]);
        let replica = &view.lines[3];
        assert_eq!(replica.role(), Role::Replica);
        assert_eq!(replica.master.unwrap().as_str(), A);
        assert_eq!(replica.pong_recv, 1426238317239);
        assert_eq!(replica.config_epoch, 1);
    }

    #[test]
    fn parses_every_address_form() {
        let redis3 = parse_addr("10.0.0.1:6379").unwrap();
        assert_eq!(
            (redis3.ip.as_str(), redis3.port, redis3.cport),
            ("10.0.0.1", 6379, None)
        );
        let host = parse_addr("10.0.0.1:6379@16379,redis-0.redis").unwrap();
        assert_eq!(host.hostname.as_deref(), Some("redis-0.redis"));
        let aux = parse_addr("127.0.0.1:30004@31004,,shard-id=69bc0807").unwrap();
        assert_eq!(aux.hostname, None);
        assert_eq!(
            aux.aux,
            vec![("shard-id".to_owned(), "69bc0807".to_owned())]
        );
        let v6 = parse_addr("::1:7000@17000").unwrap();
        assert_eq!(
            (v6.ip.as_str(), v6.port, v6.endpoint()),
            ("::1", 7000, "::1:7000".to_owned())
        );
        let v6b = parse_addr("[fe80::1%eth0]:7000@17000").unwrap();
        assert_eq!(v6b.ip, "fe80::1%eth0");
        let noaddr = parse_addr(":0@0").unwrap();
        assert_eq!((noaddr.ip.as_str(), noaddr.port), ("", 0));
        for bad in [
            "",
            "127.0.0.1",
            "127.0.0.1:",
            "1.2.3.4:99999",
            "1.2.3.4:1@x",
            "a b:1",
        ] {
            assert!(parse_addr(bad).is_none(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn parses_flags_migrations_and_odd_whitespace() {
        let text = format!(
            "{A} 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-5459 5460 [5460->-{B}] [6000-<-{C}]  \r\n\
             {B} :0@0 master,fail?,noaddr - 1426238316000 0 2 disconnected\r\n\
             {C} 127.0.0.1:30003 master,fail,nofailover,handshake,someday-new-flag 0000000000000000000000000000000000000000 0 0 3 connected\r\n\
             {D} 127.0.0.1:30007@31007 noflags - 0 0 0 connected\r\n\r\n"
        );
        let view = parse_view(&text).unwrap();
        let me = &view.lines[0];
        assert_eq!(me.migrating, vec![(5460, NodeId::parse(B).unwrap())]);
        assert_eq!(me.importing, vec![(6000, NodeId::parse(C).unwrap())]);
        assert_eq!(me.slots.len(), 2);
        let b = &view.lines[1];
        assert!(b.flags.contains(Flags::PFAIL) && b.flags.contains(Flags::NOADDR));
        assert!(!b.flags.contains(Flags::FAIL));
        assert_eq!(b.link, LinkState::Disconnected);
        let c = &view.lines[2];
        assert!(
            c.flags
                .contains(Flags::FAIL | Flags::NOFAILOVER | Flags::HANDSHAKE)
        );
        assert_eq!(c.master, None);
        assert_eq!(view.lines[3].role(), Role::Unknown);
    }

    #[test]
    fn errors_name_line_field_and_expectation() {
        let text = format!(
            "{A} 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-5460\n{B} 127.0.0.1:30002@31002 master - 0 0 x connected\n"
        );
        let err = parse_view(&text).unwrap_err();
        assert_eq!((err.line, err.field), (2, "config-epoch"));
        assert!(
            err.to_string()
                .starts_with("line 2: config-epoch: expected a non-negative integer")
        );

        let cases = [
            ("zz 1.2.3.4:1 master - 0 0 0 connected", "node id"),
            (&format!("{A} 1.2.3.4 master - 0 0 0 connected"), "address"),
            (&format!("{A} 1.2.3.4:1 MASTER - 0 0 0 connected"), "flags"),
            (
                &format!("{A} 1.2.3.4:1 master nope 0 0 0 connected"),
                "master",
            ),
            (
                &format!("{A} 1.2.3.4:1 master - -1 0 0 connected"),
                "ping-sent",
            ),
            (&format!("{A} 1.2.3.4:1 master - 0 0 0 up"), "link-state"),
            (
                &format!("{A} 1.2.3.4:1 master - 0 0 0 connected 16384"),
                "slot",
            ),
            (
                &format!("{A} 1.2.3.4:1 master - 0 0 0 connected 9-3"),
                "slot",
            ),
            (
                &format!("{A} 1.2.3.4:1 master - 0 0 0 connected [1->-xyz]"),
                "slot",
            ),
            (&format!("{A} 1.2.3.4:1 master - 0 0"), "config-epoch"),
        ];
        for (line, field) in cases {
            let err = parse_view(line).unwrap_err();
            assert_eq!((err.line, err.field), (1, field), "{line}");
        }
        let dup = format!(
            "{A} 1.2.3.4:1 master - 0 0 0 connected\n{A} 1.2.3.4:2 master - 0 0 0 connected\n"
        );
        assert_eq!(parse_view(&dup).unwrap_err().line, 2);
    }

    #[test]
    fn dump_splits_views_and_counts_lines_from_the_top() {
        let file = format!("{}\n\n{}\n", healthy(), healthy().replace("myself,", ""));
        let views = parse_dump(file.as_bytes()).unwrap();
        assert_eq!(views.len(), 2);
        assert!(views[1].myself().is_none());
        let broken = format!("{}\n{A} x\n", healthy());
        assert_eq!(parse_dump(broken.as_bytes()).unwrap_err().line, 8);
        let binary = b"\n\xff\xfe";
        assert_eq!(parse_dump(binary).unwrap_err().line, 2);
    }
}
