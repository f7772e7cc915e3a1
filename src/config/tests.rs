use super::*;

#[test]
fn errors_name_the_flag_or_the_key_that_was_written() {
    let settings = ClusterSettings {
        seeds: vec!["redis://x:1".parse().unwrap()],
        poll_interval: Some(HumanDuration(Duration::from_millis(10))),
        ..ClusterSettings::default()
    };
    let err = settings.build(&Origin::Flags).unwrap_err().to_string();
    assert!(err.starts_with("--poll-interval: "), "{err}");
    let file = Origin::File {
        path: "s.yml".into(),
        cluster: Some(2),
    };
    let err = settings.build(&file).unwrap_err().to_string();
    assert!(
        err.starts_with("s.yml: clusters[2].poll_interval: "),
        "{err}"
    );
    let empty = ClusterSettings::default();
    let err = empty.reach(&Origin::Flags).unwrap_err().to_string();
    assert!(err.starts_with("--seed: "), "{err}");
    let views = ClusterSettings {
        full_views_per_poll: Some(0),
        ..settings.clone()
    };
    let views = ClusterSettings {
        poll_interval: None,
        ..views
    };
    let err = views.build(&Origin::Flags).unwrap_err().to_string();
    assert!(err.starts_with("--full-views-per-poll: "), "{err}");
}
