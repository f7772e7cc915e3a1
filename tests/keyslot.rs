//! `key_slot` and `slotwatch keyslot` agree with a real server's `CLUSTER KEYSLOT`.

mod support;

use std::process::Command;

use support::{RedisNode, Server, slotwatch_bin};

/// xorshift64*: a dependency-free, seeded generator so that failures are reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn key(&mut self) -> Vec<u8> {
        let len = (self.next() % 24) as usize;
        // Bias towards braces so that hashtag rules are exercised often; include high bytes
        // so that keys are frequently not UTF-8.
        const ALPHABET: &[u8] = b"{{}}ab:x0";
        (0..len)
            .map(|_| match self.next() % 4 {
                0 => (self.next() % 256) as u8,
                _ => ALPHABET[(self.next() % ALPHABET.len() as u64) as usize],
            })
            .collect()
    }
}

fn key_slot_matches_cluster_keyslot_for_10000_keys(server: Server) {
    let dir = tempfile::tempdir().unwrap();
    let node = RedisNode::start_on(server, dir.path(), &[]);
    let mut keys: Vec<Vec<u8>> = [
        &b""[..],
        b"user:1",
        b"{}",
        b"{{a}}",
        b"a{b}c{d}",
        b"{a",
        b"a}",
        b"}{",
        b"{}{a}",
        b"a{}b",
        b"{\xff}",
        b"\xff\xfe{\x00}",
        b"foo{}{bar}",
        b"foo{{bar}}zap",
    ]
    .iter()
    .map(|k| k.to_vec())
    .collect();
    let mut rng = Rng(0x5107_3a7c_9d2e_4f61);
    keys.extend((0..10_000).map(|_| rng.key()));
    assert!(
        keys.iter().any(|k| std::str::from_utf8(k).is_err()),
        "some keys must be non-UTF-8"
    );

    let mut conn = node.connection();
    let mut pipe = redis::pipe();
    for k in &keys {
        pipe.cmd("CLUSTER").arg("KEYSLOT").arg(k.as_slice());
    }
    let expected: Vec<u16> = pipe.query(&mut conn).expect("CLUSTER KEYSLOT pipeline");
    assert_eq!(expected.len(), keys.len());
    for (k, want) in keys.iter().zip(&expected) {
        assert_eq!(
            slotwatch::slot::key_slot(k),
            *want,
            "key {:?}",
            String::from_utf8_lossy(k)
        );
    }
    assert_eq!(expected[1], 10778, "CLUSTER KEYSLOT user:1");
}

#[test]
fn keyslot_command_prints_one_slot_per_line_in_order() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let node = RedisNode::start(dir.path(), &[]);
    let keys: [&[u8]; 4] = [b"user:1", b"{user:1}:cart", b"\xffbinary", b"plain"];
    let out = Command::new(slotwatch_bin())
        .arg("keyslot")
        .args(keys.iter().map(|k| std::ffi::OsStr::from_bytes(k)))
        .output()
        .unwrap();
    assert!(out.status.success());
    let printed: Vec<u16> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    let mut conn = node.connection();
    let want: Vec<u16> = keys
        .iter()
        .map(|k| {
            redis::cmd("CLUSTER")
                .arg("KEYSLOT")
                .arg(*k)
                .query(&mut conn)
                .unwrap()
        })
        .collect();
    assert_eq!(printed, want);

    let none = Command::new(slotwatch_bin())
        .arg("keyslot")
        .output()
        .unwrap();
    assert_eq!(none.status.code(), Some(2), "no keys is a usage error");
}

server_matrix!(key_slot_matches_cluster_keyslot_for_10000_keys);
