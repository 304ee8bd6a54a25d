//! The `GitHub`, `Git` and `HTTP` sources of `aws:downloadContent` against a real local git host
//! (`tests/fixtures/githost.py`: `git http-backend` behind Basic auth, a GitHub contents API answered from the
//! same bare repositories, and plain files), plus one fake GitHub that lists a hostile entry. The `Git` source
//! over ssh runs against a fake `ssh` ([`FakeSsh`]) that checks the key file and serves a local bare repository.
//!
//! Needs `git` and `python3` on PATH (the ssh tests: `git` and `cmp`); without them each test says so and
//! passes.

use fleetrun_agent::download::{DownloadError, Downloaded, Limits, NodeConfig, Request, Sink, git, github, http};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tempfile::TempDir;
use zeroize::Zeroizing;

const TOKEN: &str = "tok-5f3a9c1e7b";
const USER: &str = "builder";
const PASSWORD: &str = "pw-8d2e4f6a0c";
const TOKEN_REF: &str = "{{ssm-secure:github-token}}";

// --- the local git host -------------------------------------------------------------------------------------

/// `githost.py` on an ephemeral port, killed on drop; its log is printed when a test fails.
struct GitHost {
    child: Child,
    port: u16,
    root: TempDir,
}

/// The commits of the test repository: `first` and `main` on `main` (hello.sh "v1", then "v2"), `dev` on
/// `dev` (hello.sh "dev").
struct Repo {
    first: String,
    main: String,
    dev: String,
}

impl GitHost {
    /// None (after saying why) when git or python3 is missing.
    fn start() -> Option<Self> {
        for program in ["git", "python3"] {
            if Command::new(program).arg("--version").output().is_err() {
                eprintln!("skipped: {program} is not installed");
                return None;
            }
        }
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("files/private")).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/githost.py");
        let log = std::fs::File::create(root.path().join("githost.log")).unwrap();
        let mut child = Command::new("python3")
            .arg(&script)
            .arg(root.path())
            .arg("0")
            .env("GITHOST_TOKEN", TOKEN)
            .env("GITHOST_USER", USER)
            .env("GITHOST_PASSWORD", PASSWORD)
            .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("python3 starts");
        let stdout = child.stdout.take().unwrap();
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = sender.send(line);
        });
        let line = receiver.recv_timeout(Duration::from_secs(20)).expect("githost.py printed READY within 20 s");
        let port = line.trim().strip_prefix("READY ").and_then(|p| p.parse().ok()).expect("READY <port>");
        Some(Self { child, port, root })
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn config(&self) -> NodeConfig {
        NodeConfig { github_api: self.base(), ..NodeConfig::default() }
    }

    /// Creates `owner/name.git`, served by the host (see [`create_repo`]).
    fn repo(&self, owner: &str, name: &str) -> Repo {
        create_repo(&self.root.path().join(owner).join(format!("{name}.git")))
    }

    fn mark(&self, owner: &str, name: &str, marker: &str) {
        std::fs::write(self.root.path().join(owner).join(format!("{name}.git")).join(marker), "").unwrap();
    }

    fn file(&self, relative: &str, content: &str) {
        std::fs::write(self.root.path().join("files").join(relative), content).unwrap();
    }
}

impl Drop for GitHost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.root.path().join("githost.log")).unwrap_or_default();
            eprintln!("--- githost.py log ---\n{log}");
        }
    }
}

/// Creates the bare repository `bare` (and its parents) with the commits of [`Repo`] and this tree on `main`:
/// `hello.sh`, `scripts/a.txt`, `scripts/nested/b.txt`, `scripts/link -> a.txt`,
/// `scripts/out -> ../../../../etc/passwd`.
fn create_repo(bare: &Path) -> Repo {
    std::fs::create_dir_all(bare).unwrap();
    git(bare, &["init", "--quiet", "--bare", "--initial-branch=main"]);
    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    git(work, &["init", "--quiet", "--initial-branch=main"]);
    std::fs::create_dir_all(work.join("scripts/nested")).unwrap();
    std::fs::write(work.join("hello.sh"), "v1\n").unwrap();
    std::fs::write(work.join("scripts/a.txt"), "a\n").unwrap();
    std::fs::write(work.join("scripts/nested/b.txt"), "b\n").unwrap();
    std::os::unix::fs::symlink("a.txt", work.join("scripts/link")).unwrap();
    std::os::unix::fs::symlink("../../../../etc/passwd", work.join("scripts/out")).unwrap();
    git(work, &["add", "-A"]);
    git(work, &["commit", "--quiet", "-m", "first"]);
    let first = git(work, &["rev-parse", "HEAD"]);
    std::fs::write(work.join("hello.sh"), "v2\n").unwrap();
    git(work, &["commit", "--quiet", "-am", "second"]);
    let main = git(work, &["rev-parse", "HEAD"]);
    git(work, &["checkout", "--quiet", "-b", "dev"]);
    std::fs::write(work.join("hello.sh"), "dev\n").unwrap();
    git(work, &["commit", "--quiet", "-am", "dev"]);
    let dev = git(work, &["rev-parse", "HEAD"]);
    git(work, &["push", "--quiet", bare.to_str().unwrap(), "main", "dev"]);
    Repo { first, main, dev }
}

/// Runs git for the fixture (not the code under test), without the machine's configuration.
#[track_caller]
fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "protocol.file.allow=always"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

// --- calling a source ---------------------------------------------------------------------------------------

enum Source<'a> {
    GitHub,
    Git(&'a Path),
    Http,
}

/// One download into a fresh destination (`dir/dest`).
struct Fetched {
    result: Result<Downloaded, DownloadError>,
    dir: TempDir,
}

impl Fetched {
    fn dest(&self) -> PathBuf {
        self.dir.path().join("dest")
    }

    #[track_caller]
    fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.dest().join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
    }

    fn exists(&self, relative: &str) -> bool {
        self.dest().join(relative).symlink_metadata().is_ok()
    }

    #[track_caller]
    fn ok(&self) -> &Downloaded {
        match &self.result {
            Ok(downloaded) => downloaded,
            Err(error) => panic!("the download failed: {error}"),
        }
    }

    #[track_caller]
    fn error(&self) -> String {
        match &self.result {
            Ok(downloaded) => panic!("the download succeeded: {downloaded:?}"),
            Err(error) => error.to_string(),
        }
    }

    /// Paths of the files written, sorted.
    fn paths(&self) -> Vec<String> {
        let mut paths: Vec<String> = self.ok().files.iter().map(|f| f.path.clone()).collect();
        paths.sort();
        paths
    }
}

async fn fetch(source: Source<'_>, config: &NodeConfig, info: Value, secrets: &[(&str, &str)]) -> Fetched {
    let Value::Object(source_info) = info else { panic!("sourceInfo must be an object") };
    let secrets: HashMap<String, Zeroizing<String>> =
        secrets.iter().map(|(k, v)| (k.to_string(), Zeroizing::new(v.to_string()))).collect();
    let request = Request { source_info: &source_info, secrets: &secrets, config };
    let dir = tempfile::tempdir().unwrap();
    let mut sink = Sink::new(dir.path().join("dest"), Limits::default()).unwrap();
    let result = match source {
        Source::GitHub => github::download(&request, &mut sink).await,
        Source::Git(program) => git::download_with(&request, &mut sink, program).await,
        Source::Http => http::download(&request, &mut sink).await,
    };
    Fetched { result, dir }
}

// --- GitHub -------------------------------------------------------------------------------------------------

#[tokio::test]
async fn github_file_at_the_default_branch() {
    let Some(host) = GitHost::start() else { return };
    let repo = host.repo("acme", "tools");
    let info = json!({"owner": "acme", "repository": "tools", "path": "hello.sh"});
    let fetched = fetch(Source::GitHub, &host.config(), info, &[]).await;
    let downloaded = fetched.ok();
    assert_eq!(fetched.read("hello.sh"), "v2\n");
    assert_eq!(fetched.paths(), ["hello.sh"]);
    assert_eq!(downloaded.revision.as_deref(), Some(repo.main.as_str()));
    assert_eq!(downloaded.source_type, "GitHub");
    assert_eq!(downloaded.location, format!("127.0.0.1:{}/acme/tools/hello.sh@HEAD", host.port));
    // sha256 of "v2\n"
    assert_eq!(downloaded.files[0].sha256, "81db67b6a5702b9b68f0016f061c409bf3fb16d062fc854d1b424bb4e9c28c56");
}

#[tokio::test]
async fn github_directory_is_downloaded_recursively() {
    let Some(host) = GitHost::start() else { return };
    let repo = host.repo("acme", "tools");
    let info = json!({"owner": "acme", "repository": "tools", "path": "/scripts/"});
    let fetched = fetch(Source::GitHub, &host.config(), info, &[]).await;
    // The directory's content lands in the destination itself; the link to a.txt becomes a copy of it, the
    // link out of the repository is skipped.
    assert_eq!(fetched.paths(), ["a.txt", "link", "nested/b.txt"]);
    assert_eq!(fetched.read("nested/b.txt"), "b\n");
    assert_eq!(fetched.read("link"), "a\n");
    assert!(!fetched.exists("out"));
    assert_eq!(fetched.ok().revision.as_deref(), Some(repo.main.as_str()));

    let info = json!({"owner": "acme", "repository": "tools"});
    let fetched = fetch(Source::GitHub, &host.config(), info, &[]).await;
    assert_eq!(fetched.paths(), ["hello.sh", "scripts/a.txt", "scripts/link", "scripts/nested/b.txt"]);
}

#[tokio::test]
async fn github_branch_and_commit_options_pick_the_content() {
    let Some(host) = GitHost::start() else { return };
    let repo = host.repo("acme", "tools");
    let cases = [
        ("branch:dev", "dev\n", &repo.dev),
        ("branch:refs/heads/dev", "dev\n", &repo.dev),
        ("branch:main", "v2\n", &repo.main),
        (&*format!("commitID:{}", repo.first), "v1\n", &repo.first),
        (&*format!("commitID:{}", &repo.first[..10]), "v1\n", &repo.first),
    ];
    for (get_options, content, commit) in cases {
        let info = json!({"owner": "acme", "repository": "tools", "path": "hello.sh", "getOptions": get_options});
        let fetched = fetch(Source::GitHub, &host.config(), info, &[]).await;
        assert_eq!(fetched.read("hello.sh"), content, "{get_options}");
        assert_eq!(fetched.ok().revision.as_deref(), Some(commit.as_str()), "{get_options}");
    }
    let info = json!({"owner": "acme", "repository": "tools", "getOptions": "branch:a:b"});
    let fetched = fetch(Source::GitHub, &host.config(), info, &[]).await;
    assert!(fetched.error().contains("Only specify one required option"), "{}", fetched.error());
}

#[tokio::test]
async fn github_private_repository_needs_the_right_token() {
    let Some(host) = GitHost::start() else { return };
    let repo = host.repo("acme", "secret");
    host.mark("acme", "secret", "private");
    let info = json!({"owner": "acme", "repository": "secret", "path": "hello.sh", "tokenInfo": TOKEN_REF});

    let fetched = fetch(Source::GitHub, &host.config(), info.clone(), &[(TOKEN_REF, TOKEN)]).await;
    assert_eq!(fetched.read("hello.sh"), "v2\n");
    assert_eq!(fetched.ok().revision.as_deref(), Some(repo.main.as_str()));

    let wrong = "wrong-token-77c1";
    let fetched = fetch(Source::GitHub, &host.config(), info, &[(TOKEN_REF, wrong)]).await;
    let error = fetched.error();
    assert_eq!(error, "GitHub refused the token (401 Bad credentials) for acme/secret — check tokenInfo");
    assert!(!error.contains(wrong));

    let info = json!({"owner": "acme", "repository": "secret", "path": "hello.sh"});
    let fetched = fetch(Source::GitHub, &host.config(), info, &[]).await;
    assert_eq!(
        fetched.error(),
        "acme/secret not found at the default branch (or the repository is private and no/insufficient token was \
         given)"
    );

    // A token written in the document is refused, as SSM does, and never echoed.
    let info = json!({"owner": "acme", "repository": "secret", "tokenInfo": TOKEN});
    let fetched = fetch(Source::GitHub, &host.config(), info, &[]).await;
    assert!(matches!(fetched.result, Err(DownloadError::Invalid(_))));
    assert!(fetched.error().contains("{{ssm-secure:"), "{}", fetched.error());
    assert!(!fetched.error().contains(TOKEN));
}

#[tokio::test]
async fn github_missing_path_or_ref_is_named() {
    let Some(host) = GitHost::start() else { return };
    host.repo("acme", "tools");
    let info = json!({"owner": "acme", "repository": "tools", "path": "nope/x.sh"});
    let fetched = fetch(Source::GitHub, &host.config(), info, &[]).await;
    assert!(fetched.error().starts_with("acme/tools/nope/x.sh not found at the default branch"), "{}", fetched.error());

    let info = json!({"owner": "acme", "repository": "tools", "path": "hello.sh", "getOptions": "branch:nope"});
    let fetched = fetch(Source::GitHub, &host.config(), info, &[]).await;
    assert!(fetched.error().contains("not found at branch nope"), "{}", fetched.error());

    let info = json!({"owner": "acme", "repository": "ghost"});
    let fetched = fetch(Source::GitHub, &host.config(), info, &[]).await;
    assert!(fetched.error().starts_with("acme/ghost not found"), "{}", fetched.error());
}

#[tokio::test]
async fn github_rate_limit_says_when_it_resets() {
    let Some(host) = GitHost::start() else { return };
    host.repo("acme", "tools");
    host.mark("acme", "tools", "rate-limited");
    let info = json!({"owner": "acme", "repository": "tools", "path": "hello.sh"});
    let fetched = fetch(Source::GitHub, &host.config(), info, &[]).await;
    let error = fetched.error();
    assert!(error.starts_with("GitHub API rate limit exceeded for acme/tools; it resets at 20"), "{error}");
    assert!(error.contains("a tokenInfo raises the limit"), "{error}");
}

/// A fake GitHub (one port, answers by path) whose listing of `dir` holds `name`.
async fn fake_github(name: &'static str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let download_url = format!("{base}/raw");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let download_url = download_url.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&request);
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                let body = if path.contains("/commits/") {
                    "0123456789012345678901234567890123456789".to_string()
                } else if path.contains("/contents/dir") && !head.contains("vnd.github.raw") {
                    json!([{"type": "file", "name": name, "path": format!("dir/{name}"), "sha": "1", "size": 1,
                             "download_url": download_url}])
                    .to_string()
                } else {
                    "pwned".to_string()
                };
                let response =
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    base
}

#[tokio::test]
async fn github_listing_entries_cannot_leave_the_destination() {
    for name in ["..", "../evil", "a/../../evil", "/etc/evil"] {
        let config = NodeConfig { github_api: fake_github(name).await, ..NodeConfig::default() };
        let info = json!({"owner": "acme", "repository": "tools", "path": "dir"});
        let fetched = fetch(Source::GitHub, &config, info, &[]).await;
        assert!(matches!(fetched.result, Err(DownloadError::Refused(_))), "{name}: {}", fetched.error());
        assert!(!fetched.dir.path().join("evil").exists());
        assert!(std::fs::read_dir(fetched.dest()).unwrap().next().is_none(), "{name}: something was written");
    }
    // The same fake with a harmless name shows the refusal is about the name.
    let config = NodeConfig { github_api: fake_github("fine.txt").await, ..NodeConfig::default() };
    let fetched = fetch(Source::GitHub, &config, json!({"owner": "a", "repository": "b", "path": "dir"}), &[]).await;
    assert_eq!(fetched.read("fine.txt"), "pwned");
}

// --- Git ----------------------------------------------------------------------------------------------------

fn git_url(host: &GitHost, repo: &str) -> String {
    format!("{}/git/acme/{repo}.git", host.base())
}

#[tokio::test]
async fn git_clones_over_http_with_basic_auth() {
    let Some(host) = GitHost::start() else { return };
    let repo = host.repo("acme", "tools");
    let info = json!({"repository": git_url(&host, "tools"), "username": USER, "password": "{{ssm-secure:git-pw}}"});
    let fetched =
        fetch(Source::Git(Path::new("git")), &host.config(), info, &[("{{ssm-secure:git-pw}}", PASSWORD)]).await;
    let downloaded = fetched.ok();
    assert_eq!(downloaded.revision.as_deref(), Some(repo.main.as_str()));
    assert_eq!(downloaded.location, git_url(&host, "tools"));
    assert_eq!(fetched.paths(), ["hello.sh", "scripts/a.txt", "scripts/link", "scripts/nested/b.txt"]);
    assert_eq!(fetched.read("hello.sh"), "v2\n");
    assert_eq!(fetched.read("scripts/link"), "a\n");
    assert!(!std::fs::symlink_metadata(fetched.dest().join("scripts/link")).unwrap().is_symlink());
    assert!(!fetched.exists("scripts/out"), "a symlink out of the repository is skipped");
    assert!(!fetched.exists(".git"));

    // A token alone (no username) is sent as x-access-token.
    let info = json!({"repository": git_url(&host, "tools"), "password": TOKEN});
    let fetched = fetch(Source::Git(Path::new("git")), &host.config(), info, &[]).await;
    assert_eq!(fetched.read("hello.sh"), "v2\n");
}

#[tokio::test]
async fn git_wrong_or_missing_credentials_are_explained_without_the_secret() {
    let Some(host) = GitHost::start() else { return };
    host.repo("acme", "tools");
    let wrong = "wrong-pw-31d7";
    let info = json!({"repository": git_url(&host, "tools"), "username": USER, "password": wrong});
    let fetched = fetch(Source::Git(Path::new("git")), &host.config(), info, &[]).await;
    let error = fetched.error();
    assert!(error.contains("the server refused the credentials: check username and password"), "{error}");
    assert!(error.starts_with(&format!("git could not fetch the default branch of {}", git_url(&host, "tools"))));
    assert!(!error.contains(wrong), "{error}");

    let info = json!({"repository": git_url(&host, "tools")});
    let fetched = fetch(Source::Git(Path::new("git")), &host.config(), info, &[]).await;
    assert!(fetched.error().contains("the repository needs credentials"), "{}", fetched.error());
}

#[tokio::test]
async fn git_branch_and_commit_options_pick_the_content() {
    let Some(host) = GitHost::start() else { return };
    let repo = host.repo("acme", "tools");
    let cases = [
        ("branch:dev".to_string(), "dev\n", &repo.dev),
        ("branch:refs/heads/dev".to_string(), "dev\n", &repo.dev),
        (format!("commitID:{}", repo.first), "v1\n", &repo.first),
        (format!("commitID:{}", &repo.first[..8]), "v1\n", &repo.first),
    ];
    for (get_options, content, commit) in cases {
        let info = json!({"repository": git_url(&host, "tools"), "username": USER, "password": PASSWORD, "getOptions": get_options});
        let fetched = fetch(Source::Git(Path::new("git")), &host.config(), info, &[]).await;
        assert_eq!(fetched.read("hello.sh"), content, "{get_options}");
        assert_eq!(fetched.ok().revision.as_deref(), Some(commit.as_str()), "{get_options}");
        assert!(!fetched.exists(".git"));
    }
    for (get_options, expected) in [
        (format!("commitID:{}", "0".repeat(40)), "has no commit 0000000000000000000000000000000000000000"),
        ("branch:nope".to_string(), "git could not fetch branch nope of"),
    ] {
        let info = json!({"repository": git_url(&host, "tools"), "username": USER, "password": PASSWORD, "getOptions": get_options});
        let fetched = fetch(Source::Git(Path::new("git")), &host.config(), info, &[]).await;
        assert!(fetched.error().contains(expected), "{get_options}: {}", fetched.error());
    }
}

#[tokio::test]
async fn git_credentials_stay_out_of_argv_and_git_config() {
    let Some(host) = GitHost::start() else { return };
    let repo = host.repo("acme", "tools");
    // A git that logs its argv, and the clone's .git/config once it exists, then runs the real git.
    let real_git =
        String::from_utf8(Command::new("sh").args(["-c", "command -v git"]).output().unwrap().stdout).unwrap();
    let bin = tempfile::tempdir().unwrap();
    let log = bin.path().join("log");
    let wrapper = bin.path().join("git");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nprintf 'argv: %s\\n' \"$*\" >> '{log}'\n'{git}' \"$@\"\nstatus=$?\n\
             for last; do :; done\n[ -f \"$last/.git/config\" ] && cat \"$last/.git/config\" >> '{log}'\n\
             printf 'dir: %s\\n' \"$last\" >> '{log}'\nexit $status\n",
            log = log.display(),
            git = real_git.trim()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();

    // Credentials in the URL move out of it too.
    let url = format!("http://{USER}:{PASSWORD}@127.0.0.1:{}/git/acme/tools.git", host.port);
    let info = json!({"repository": url});
    let fetched = fetch(Source::Git(&wrapper), &host.config(), info, &[]).await;
    assert_eq!(fetched.ok().revision.as_deref(), Some(repo.main.as_str()));
    assert_eq!(fetched.ok().location, git_url(&host, "tools"));
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("argv: -c protocol.allow=never"), "{log}");
    assert!(log.contains(" clone --quiet --depth 1 --single-branch --no-tags -- http://127.0.0.1:"), "{log}");
    assert!(log.contains("[remote \"origin\"]"), "the clone's .git/config is logged: {log}");
    assert!(!log.contains(PASSWORD), "{log}");
    assert!(!log.contains(USER), "{log}");
    let clone = log.lines().filter_map(|l| l.strip_prefix("dir: ")).find(|dir| dir.ends_with("/clone"));
    let clone = clone.unwrap_or_else(|| panic!("no clone directory in {log}"));
    assert!(!Path::new(clone).parent().unwrap().exists(), "the temporary directory is removed");
}

#[tokio::test]
async fn git_missing_or_unsafe_inputs_are_refused() {
    let config = NodeConfig::default();
    let info = json!({"repository": "https://example.com/a/b.git"});
    let fetched = fetch(Source::Git(Path::new("/nonexistent/bin/git")), &config, info, &[]).await;
    assert_eq!(
        fetched.error(),
        "git is not installed on this node; install it (apt-get install git) to use sourceType Git"
    );

    for repository in ["file:///etc", "-oProxyCommand=x", "ext::sh -c id", "/srv/repo.git"] {
        let info = json!({"repository": repository});
        let fetched = fetch(Source::Git(Path::new("git")), &config, info, &[]).await;
        assert!(matches!(fetched.result, Err(DownloadError::Invalid(_))), "{repository}: {}", fetched.error());
    }
    let info = json!({"repository": "https://example.com/a.git", "privateSSHKey": "key"});
    let fetched = fetch(Source::Git(Path::new("git")), &config, info, &[]).await;
    assert!(fetched.error().contains("privateSSHKey applies to ssh repositories"), "{}", fetched.error());
}

// --- Git over ssh -------------------------------------------------------------------------------------------

const SSH_KEY_REF: &str = "{{ssm-secure:deploy-key}}";
/// A made-up key: the fake ssh compares its text and never parses it.
const SSH_KEY: &str =
    "-----BEGIN OPENSSH PRIVATE KEY-----\nZmxlZXRydW4tdGVzdC1rZXktOWM0ZTJhN2I=\n-----END OPENSSH PRIVATE KEY-----\n";
/// The line of [`SSH_KEY`] that only it holds, looked for where the key must not be.
const SSH_KEY_BODY: &str = "ZmxlZXRydW4tdGVzdC1rZXktOWM0ZTJhN2I=";

/// A stand-in for an ssh server, there being no sshd here. `bin/git` runs the real git with `bin` first on
/// PATH (the code under test passes its PATH on to git, and names `ssh` in `GIT_SSH_COMMAND`), so git runs
/// `bin/ssh`: a script that logs its argv and what it sees of the `-i` key file, refuses (exit 255,
/// "Permission denied (publickey)", as ssh does) a call for another host, without a key, or with a key other
/// than [`SSH_KEY`], and otherwise runs the remote command (`git-upload-pack '<path>'`) itself, in `root`,
/// so that `git@fake-host:acme/tools.git` and `ssh://git@fake-host/<root>/acme/tools.git` both name
/// `root/acme/tools.git`.
struct FakeSsh {
    dir: TempDir,
    root: TempDir,
    repo: Repo,
}

/// One run of the fake ssh, from its log.
#[derive(Debug, Default)]
struct SshCall {
    argv: Vec<String>,
    /// The file after `-i`.
    key_file: Option<PathBuf>,
    /// Its mode as `ls -l` shows it.
    key_mode: Option<String>,
    /// Whether it held exactly [`SSH_KEY`].
    key_matches: bool,
}

impl SshCall {
    /// Whether argv holds `-o option`.
    fn has_option(&self, option: &str) -> bool {
        self.argv.windows(2).any(|pair| pair[0] == "-o" && pair[1] == option)
    }
}

impl FakeSsh {
    /// None (after saying why) when git or cmp is missing.
    fn start() -> Option<Self> {
        let found = |program: &str| {
            let output = Command::new("sh").arg("-c").arg(format!("command -v {program}")).output().unwrap();
            output.status.success().then(|| String::from_utf8(output.stdout).unwrap().trim().to_string())
        };
        let (Some(real_git), Some(_)) = (found("git"), found("cmp")) else {
            eprintln!("skipped: git or cmp is not installed");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        let repo = create_repo(&root.path().join("acme/tools.git"));
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        std::fs::write(dir.path().join("expected-key"), SSH_KEY).unwrap();
        let quoted = |path: &Path| format!("'{}'", path.display().to_string().replace('\'', r"'\''"));
        let log = quoted(&dir.path().join("log"));
        let git = format!(
            "#!/bin/sh\nprintf 'git: %s\\n' \"$*\" >> {log}\nPATH={bin}:\"$PATH\" exec {real_git} \"$@\"\n",
            bin = quoted(&bin),
            real_git = quoted(Path::new(&real_git)),
        );
        let ssh = format!(
            r#"#!/bin/sh
# The fake ssh of fleetrun's tests/sources.rs: logs, checks the key, then plays the server.
log={log}
deny() {{ echo "$1" >&2; exit 255; }}
echo 'ssh-call' >> "$log"
for arg; do printf 'arg: %s\n' "$arg" >> "$log"; done
key=''; previous=''; host=''; command=''
for arg; do
  if [ "$previous" = -i ]; then key=$arg; fi
  previous=$arg; host=$command; command=$arg
done
[ "$host" = git@fake-host ] || deny "ssh: Could not resolve hostname $host: Name or service not known"
[ -n "$key" ] || deny 'git@fake-host: Permission denied (publickey).'
printf 'key-file: %s\nkey-mode: %s\n' "$key" "$(ls -ln -- "$key" | cut -c1-10)" >> "$log"
cmp -s -- "$key" {expected} || deny 'git@fake-host: Permission denied (publickey).'
echo 'key-matches' >> "$log"
cd {root} || exit 255
exec sh -c "$command"
"#,
            expected = quoted(&dir.path().join("expected-key")),
            root = quoted(root.path()),
        );
        for (name, script) in [("git", git), ("ssh", ssh)] {
            std::fs::write(bin.join(name), script).unwrap();
            std::fs::set_permissions(bin.join(name), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        }
        Some(Self { dir, root, repo })
    }

    fn git(&self) -> PathBuf {
        self.dir.path().join("bin/git")
    }

    /// `ssh://git@fake-host/<root>/acme/tools.git`.
    fn url(&self) -> String {
        format!("ssh://git@fake-host{}/acme/tools.git", self.root.path().display())
    }

    /// Downloads with `sourceInfo` `info` and `secrets`, and takes the log of what git and ssh did.
    async fn fetch(&self, info: Value, secrets: &[(&str, &str)]) -> (Fetched, String, Vec<SshCall>) {
        let fetched = fetch(Source::Git(&self.git()), &NodeConfig::default(), info, secrets).await;
        let log_path = self.dir.path().join("log");
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        let _ = std::fs::remove_file(&log_path); // absent when git never ran
        let mut calls: Vec<SshCall> = Vec::new();
        for line in log.lines() {
            if line == "ssh-call" {
                calls.push(SshCall::default());
                continue;
            }
            let Some(call) = calls.last_mut() else { continue };
            if let Some(arg) = line.strip_prefix("arg: ") {
                call.argv.push(arg.into());
            } else if let Some(path) = line.strip_prefix("key-file: ") {
                call.key_file = Some(path.into());
            } else if let Some(mode) = line.strip_prefix("key-mode: ") {
                call.key_mode = Some(mode.into());
            } else if line == "key-matches" {
                call.key_matches = true;
            }
        }
        (fetched, log, calls)
    }
}

/// What every ssh run with [`SSH_KEY`] must show: the key in a 0600 file, offered alone, never in argv, and
/// the file gone once the download is over.
#[track_caller]
fn assert_key_handled(calls: &[SshCall], log: &str) {
    assert!(!calls.is_empty(), "git never ran ssh: {log}");
    for call in calls {
        let key_file = call.key_file.as_deref().unwrap_or_else(|| panic!("no -i in {call:?}"));
        assert_eq!(key_file.file_name().unwrap(), "ssh-key", "{call:?}");
        assert!(key_file.is_absolute(), "{call:?}");
        assert_eq!(call.key_mode.as_deref(), Some("-rw-------"), "{call:?}");
        assert!(call.has_option("IdentitiesOnly=yes"), "{call:?}");
        assert!(call.has_option("BatchMode=yes"), "{call:?}");
        assert!(!key_file.exists(), "the key file {} outlives the download", key_file.display());
        assert!(!key_file.parent().unwrap().exists(), "the temporary directory is removed");
    }
    assert!(!log.contains(SSH_KEY_BODY), "the key is in git's or ssh's argv: {log}");
}

#[tokio::test]
async fn git_clones_over_ssh_with_the_private_key() {
    let Some(ssh) = FakeSsh::start() else { return };
    for repository in [ssh.url(), "git@fake-host:acme/tools.git".into()] {
        let info = json!({"repository": repository, "privateSSHKey": SSH_KEY_REF});
        let (fetched, log, calls) = ssh.fetch(info, &[(SSH_KEY_REF, SSH_KEY)]).await;
        let downloaded = fetched.ok();
        assert_eq!(downloaded.revision.as_deref(), Some(ssh.repo.main.as_str()), "{repository}");
        assert_eq!(downloaded.location, repository);
        assert_eq!(fetched.paths(), ["hello.sh", "scripts/a.txt", "scripts/link", "scripts/nested/b.txt"]);
        assert_eq!(fetched.read("hello.sh"), "v2\n");
        assert_eq!(fetched.read("scripts/nested/b.txt"), "b\n");
        assert!(!fetched.exists(".git"));
        assert!(calls.iter().all(|call| call.key_matches), "{calls:?}");
        assert!(calls.iter().all(|call| call.argv.last().unwrap().starts_with("git-upload-pack ")), "{calls:?}");
        assert_key_handled(&calls, &log);
    }

    // A branch, and a commit (fetched by SHA into an empty repository rather than cloned).
    let cases = [
        ("branch:dev".to_string(), "dev\n", &ssh.repo.dev),
        (format!("commitID:{}", ssh.repo.first), "v1\n", &ssh.repo.first),
    ];
    for (get_options, content, commit) in cases {
        let info = json!({"repository": ssh.url(), "privateSSHKey": SSH_KEY_REF, "getOptions": get_options});
        let (fetched, log, calls) = ssh.fetch(info, &[(SSH_KEY_REF, SSH_KEY)]).await;
        assert_eq!(fetched.read("hello.sh"), content, "{get_options}");
        assert_eq!(fetched.ok().revision.as_deref(), Some(commit.as_str()), "{get_options}");
        assert_key_handled(&calls, &log);
    }
}

#[tokio::test]
async fn git_over_ssh_skip_host_key_checking_sets_strict_host_key_checking() {
    let Some(ssh) = FakeSsh::start() else { return };
    // false (and absent, as SSM's default): the host key must be known; true: any host key is taken and
    // none is recorded.
    let cases = [
        (json!(false), false),
        (json!("false"), false),
        (Value::Null, false),
        (json!(true), true),
        (json!("true"), true),
    ];
    for (skip, skipped) in cases {
        let mut info = json!({"repository": ssh.url(), "privateSSHKey": SSH_KEY_REF});
        if !skip.is_null() {
            info["skipHostKeyChecking"] = skip.clone();
        }
        let (fetched, log, calls) = ssh.fetch(info, &[(SSH_KEY_REF, SSH_KEY)]).await;
        assert_eq!(fetched.read("hello.sh"), "v2\n", "{skip}");
        assert_key_handled(&calls, &log);
        for call in &calls {
            assert_eq!(call.has_option("StrictHostKeyChecking=no"), skipped, "{skip}: {call:?}");
            assert_eq!(call.has_option("UserKnownHostsFile=/dev/null"), skipped, "{skip}: {call:?}");
            assert_eq!(call.has_option("StrictHostKeyChecking=yes"), !skipped, "{skip}: {call:?}");
        }
    }
}

#[tokio::test]
async fn git_over_ssh_wrong_key_is_explained_without_the_key() {
    let Some(ssh) = FakeSsh::start() else { return };
    let wrong_body = "d3Jvbmcta2V5LTRiOGQxZTZm";
    let wrong = format!("-----BEGIN OPENSSH PRIVATE KEY-----\n{wrong_body}\n-----END OPENSSH PRIVATE KEY-----\n");
    let repository = "git@fake-host:acme/tools.git";
    let info = json!({"repository": repository, "privateSSHKey": SSH_KEY_REF});
    let (fetched, log, calls) = ssh.fetch(info, &[(SSH_KEY_REF, &wrong)]).await;
    let error = fetched.error();
    assert!(matches!(fetched.result, Err(DownloadError::Source(_))), "{error}");
    assert!(
        error.starts_with(&format!(
            "git could not fetch the default branch of {repository} (the server refused the SSH key: check \
             privateSSHKey): "
        )),
        "{error}"
    );
    assert!(error.contains("git@fake-host: Permission denied (publickey)."), "{error}");
    assert!(!error.contains(wrong_body) && !error.contains("PRIVATE KEY"), "{error}");
    assert!(!log.contains(wrong_body), "the key is in git's or ssh's argv: {log}");
    assert_eq!(calls.len(), 1, "{log}");
    let call = &calls[0];
    assert!(!call.key_matches);
    assert_eq!(call.key_mode.as_deref(), Some("-rw-------"), "{call:?}");
    let key_file = call.key_file.as_deref().unwrap();
    assert!(!key_file.exists(), "the key file {} outlives the failed download", key_file.display());
    assert!(!fetched.dest().join("hello.sh").exists());

    // No key: ssh is still confined to batch mode and host key checking, and offers no identity file of ours.
    let info = json!({"repository": repository});
    let (fetched, _, calls) = ssh.fetch(info, &[]).await;
    assert!(fetched.error().contains("(the server refused the SSH key: check privateSSHKey)"), "{}", fetched.error());
    assert_eq!(calls.len(), 1);
    assert!(calls[0].has_option("BatchMode=yes") && calls[0].has_option("StrictHostKeyChecking=yes"), "{calls:?}");
    assert!(!calls[0].argv.iter().any(|arg| arg == "-i") && !calls[0].has_option("IdentitiesOnly=yes"));
}

// --- HTTP ---------------------------------------------------------------------------------------------------

#[tokio::test]
async fn http_downloads_a_file_with_its_etag() {
    let Some(host) = GitHost::start() else { return };
    host.file("tool.sh", "echo tool\n");
    let url = format!("{}/files/tool.sh", host.base());
    let info = json!({"url": url, "allowInsecureDownload": true});
    let fetched = fetch(Source::Http, &host.config(), info, &[]).await;
    assert_eq!(fetched.read("tool.sh"), "echo tool\n");
    let downloaded = fetched.ok();
    assert_eq!(downloaded.location, url);
    // githost.py's ETag is the quoted sha1 of the content.
    assert_eq!(downloaded.revision.as_deref(), Some("\"29d947ca56342bc2a3fedb35117545889ac69caf\""));

    // The string form of the flag, as SSM documents pass it, and redirects within the limit.
    let url = format!("{}/redirect/3/files/tool.sh", host.base());
    let info = json!({"url": url, "allowInsecureDownload": "true"});
    let fetched = fetch(Source::Http, &host.config(), info, &[]).await;
    assert_eq!(fetched.read("tool.sh"), "echo tool\n");

    let url = format!("{}/redirect/6/files/tool.sh", host.base());
    let info = json!({"url": url, "allowInsecureDownload": true});
    let fetched = fetch(Source::Http, &host.config(), info, &[]).await;
    assert!(fetched.error().contains("more than 5 redirects"), "{}", fetched.error());
}

#[tokio::test]
async fn http_needs_allow_insecure_download_for_http() {
    let info = json!({"url": "http://127.0.0.1:9/files/tool.sh"});
    let fetched = fetch(Source::Http, &NodeConfig::default(), info, &[]).await;
    assert!(matches!(fetched.result, Err(DownloadError::Invalid(_))));
    assert!(fetched.error().starts_with("Non secure URL provided and insecure download is not allowed"));
    let info = json!({"url": "https://example.com/x", "authMethod": "Digest", "username": "u", "password": "p"});
    let fetched = fetch(Source::Http, &NodeConfig::default(), info, &[]).await;
    assert!(fetched.error().contains("Digest is not supported"), "{}", fetched.error());
}

#[tokio::test]
async fn http_basic_auth_and_errors() {
    let Some(host) = GitHost::start() else { return };
    host.file("private/secret.txt", "s3cret\n");
    let url = format!("{}/files/private/secret.txt", host.base());
    let basic = |password: &str| json!({"url": url, "allowInsecureDownload": true, "authMethod": "Basic", "username": USER, "password": password});
    let fetched =
        fetch(Source::Http, &host.config(), basic("{{ssm-secure:pw}}"), &[("{{ssm-secure:pw}}", PASSWORD)]).await;
    assert_eq!(fetched.read("secret.txt"), "s3cret\n");

    let fetched = fetch(Source::Http, &host.config(), basic("wrong-pw-9a1"), &[]).await;
    let error = fetched.error();
    assert_eq!(error, format!("{url} refused the credentials (HTTP 401 Unauthorized): check username and password"));
    assert!(!fetched.exists("secret.txt"));

    let info = json!({"url": url, "allowInsecureDownload": true});
    let fetched = fetch(Source::Http, &host.config(), info, &[]).await;
    assert!(fetched.error().contains("refused access (HTTP 401 Unauthorized)"), "{}", fetched.error());

    let missing = format!("{}/files/missing.txt?sig=abc", host.base());
    let info = json!({"url": missing, "allowInsecureDownload": true});
    let fetched = fetch(Source::Http, &host.config(), info, &[]).await;
    assert_eq!(fetched.error(), format!("{}/files/missing.txt?… was not found (HTTP 404 Not Found)", host.base()));
}
