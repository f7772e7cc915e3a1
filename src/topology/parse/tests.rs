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
    let dup =
        format!("{A} 1.2.3.4:1 master - 0 0 0 connected\n{A} 1.2.3.4:2 master - 0 0 0 connected\n");
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
