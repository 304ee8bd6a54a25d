use super::remote::{Remote, Transport};
use super::*;

#[test]
fn get_options_follow_the_ssm_agent() {
    assert_eq!(Checkout::parse(None).unwrap(), Checkout::Default);
    assert_eq!(Checkout::parse(Some("  ")).unwrap(), Checkout::Default);
    assert_eq!(Checkout::parse(Some("branch:dev")).unwrap(), Checkout::Branch("dev".into()));
    assert_eq!(Checkout::parse(Some("branch:refs/heads/dev")).unwrap(), Checkout::Branch("refs/heads/dev".into()));
    assert_eq!(Checkout::parse(Some("commitID:ABCDEF1")).unwrap(), Checkout::Commit("abcdef1".into()));
    let error = |text: &str| Checkout::parse(Some(text)).unwrap_err().to_string();
    assert!(error("branch:a:b").contains("Only specify one required option"));
    assert!(error("tag:v1").contains("Type of option is unknown. Please use either 'branch' or 'commitID'."));
    assert!(error("branch:").contains("Option for retrieving git content is empty"));
    assert!(error("main").contains("not specified in the right format"));
    assert!(error("commitID:xyz").contains("not a commit SHA"));
    assert!(error("branch:--upload-pack=x").contains("not a valid branch name"));
}

#[test]
fn repositories_are_https_http_or_ssh_only() {
    let transport = |text: &str| Remote::parse(text).map(|remote| remote.transport);
    assert_eq!(transport("https://example.com/a/b.git").unwrap(), Transport::Https);
    assert_eq!(transport("http://127.0.0.1:9/git/a/b.git").unwrap(), Transport::Http);
    assert_eq!(transport("ssh://git@example.com/a/b.git").unwrap(), Transport::Ssh);
    assert_eq!(transport("git@github.com:a/b.git").unwrap(), Transport::Ssh);
    for bad in [
        "-uhttps://x",
        "file:///etc",
        "/srv/repo.git",
        "./repo:x",
        "git://example.com/a.git",
        "ext::sh -c touch% /tmp/pwned",
        "fd::3",
        "ext::sh",
        "git@-oProxyCommand=x:a/b",
        "https://exa mple.com/a",
    ] {
        assert!(matches!(Remote::parse(bad), Err(DownloadError::Invalid(_))), "{bad}");
    }
}

#[test]
fn credentials_in_the_url_move_out_of_it() {
    let remote = Remote::parse("https://bob:s%40cret@example.com/a/b.git").unwrap();
    assert_eq!(remote.location, "https://example.com/a/b.git");
    let (user, password) = remote.url_credentials.unwrap();
    assert_eq!((user.as_str(), password.as_str()), ("bob", "s@cret"));
    assert!(Remote::parse("ssh://git:pw@example.com/a.git").is_err());
}
