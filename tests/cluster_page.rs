//! The cluster page over HTTP, without a browser: its size at 1000 nodes, and that it is
//! protected like every other endpoint behind `--web.config.file`.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use base64::Engine as _;
use scraper::{ElementRef, Html, Selector};
use slotwatch::web::cluster;
use slotwatch_sim::snapshots;
use support::{Exporter, free_port};

/// GET with an optional `Authorization` header; (status, head, body).
fn get(port: u16, path: &str, auth: Option<&str>) -> (u16, String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n"
    )
    .expect("send");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a response");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    (status, head.to_owned(), body.to_owned())
}

/// Every element of `doc` matching `css`.
fn all<'a>(doc: &'a Html, css: &str) -> Vec<ElementRef<'a>> {
    let selector = Selector::parse(css).unwrap_or_else(|e| panic!("selector {css:?}: {e:?}"));
    doc.select(&selector).collect()
}

/// The one element of `doc` matching `css`; panics unless there is exactly one.
fn one<'a>(doc: &'a Html, css: &str) -> ElementRef<'a> {
    let found = all(doc, css);
    assert_eq!(found.len(), 1, "elements matching {css:?}");
    found[0]
}

/// The text under `e`, white space collapsed as a browser shows it.
fn text(e: ElementRef) -> String {
    e.text()
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn behind_a_web_config_the_cluster_page_needs_the_password_like_everything_else() {
    let dir = tempfile::tempdir().unwrap();
    let hash = bcrypt::hash("pw", 4).unwrap();
    let web = dir.path().join("web.yml");
    std::fs::write(&web, format!("basic_auth_users:\n  admin: '{hash}'\n")).unwrap();
    let seed = format!("redis://127.0.0.1:{}", free_port());
    let exporter = Exporter::start_opts(
        &["--seed", &seed, "--web.config.file", web.to_str().unwrap()],
        &[],
        true,
    );
    let port = exporter.port;
    for path in [
        "/",
        "/cluster/default",
        "/cluster/default/data",
        "/cluster/nope",
    ] {
        let (status, head, _) = get(port, path, None);
        assert_eq!(status, 401, "{path} without a password");
        assert!(
            head.to_ascii_lowercase().contains("www-authenticate"),
            "{head}"
        );
        let (status, _, _) = get(port, path, Some("Basic YWRtaW46bm8="));
        assert_eq!(status, 401, "{path} with a wrong password");
    }
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("admin:pw")
    );
    let auth = Some(auth.as_str());
    let (status, _, landing) = get(port, "/", auth);
    assert_eq!(status, 200);
    let landing = Html::parse_document(&landing);
    let link = one(&landing, "a[href=\"cluster/default\"]");
    assert_eq!(text(link), "default");
    let (status, _, page) = get(port, "/cluster/default", auth);
    assert_eq!(status, 200);
    let page = Html::parse_document(&page);
    assert_eq!(text(one(&page, "h1")), "default");
    assert_eq!(one(&page, "body").attr("data-src"), Some("default/data"));
    let (status, head, data) = get(port, "/cluster/default/data", auth);
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase()
            .contains("cache-control: no-store"),
        "{head}"
    );
    let data: serde_json::Value = serde_json::from_str(&data).expect("JSON");
    let generation = data["generation"].as_u64().expect("generation");
    for part in ["polled", "banner", "slots", "redirects", "events", "nodes"] {
        assert!(data["sections"][part].is_string(), "{part}: {data}");
    }
    // Asked with the generation it shows, the page gets no sections unless a poll ran since.
    let (_, _, same) = get(
        port,
        &format!("/cluster/default/data?generation={generation}"),
        auth,
    );
    let same: serde_json::Value = serde_json::from_str(&same).expect("JSON");
    assert!(
        same.get("sections").is_none() || same["generation"] != generation,
        "{same}"
    );
    let (status, _, missing) = get(port, "/cluster/nope", auth);
    assert_eq!(status, 404);
    let missing = Html::parse_document(&missing);
    let said = one(&missing, "p");
    assert!(
        text(said).starts_with("No cluster named nope."),
        "{}",
        said.html()
    );
    assert_eq!(text(one(&missing, "p b")), "nope", "the name stands out");
    let (status, _, _) = get(port, "/healthz", None);
    assert_eq!(status, 200, "/healthz stays open");
}

#[test]
fn the_page_of_a_busy_1000_node_cluster_stays_under_345_kb() {
    let s = slotwatch::snapshot::Published::new(snapshots::busy(1000, 40));
    let page = cluster::page(&s);
    let x = cluster::sections(&s);
    let sizes = format!(
        "page {} B: banner {}, slots {}, redirects {}, events {}, nodes {}",
        page.len(),
        x.banner.len(),
        x.slots.len(),
        x.redirects.len(),
        x.events.len(),
        x.nodes.len()
    );
    println!("{sizes}");
    // 300 KB with five columns in the nodes table; each node's own cluster_state, its
    // replication and its placement add about 32 bytes a row; each master's row anchor, which
    // the heat view's hottest slots link to, 15 bytes more (337 KB measured).
    assert!(page.len() < 345_000, "{sizes}");
    // Everything is there: every node, every run of slots, the failing master and the migration.
    let doc = Html::parse_document(&page);
    assert_eq!(all(&doc, "#nodes tbody tr").len(), 1000, "{sizes}");
    assert!(!all(&doc, "#slots [data-start][data-state=\"migrating\"]").is_empty());
    assert!(!all(&doc, "#slots [data-start][data-failing=\"fail\"]").is_empty());
    assert!(!all(&doc, "#banner li[data-problem=\"master_failing\"]").is_empty());
}
