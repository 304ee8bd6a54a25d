//! Running `git` for the `Git` source: the repository URL checked, a hardened environment and argv, the
//! credentials kept out of argv and `.git/config`, and git's error output scrubbed before it becomes a
//! message. It knows nothing about the sink.

use super::Checkout;
use super::remote::{Remote, Transport};
use crate::download::DownloadError;
use base64::Engine;
use std::ffi::OsString;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use zeroize::Zeroizing;

/// Variables of the agent's environment that git and ssh still see: where programs are, and how this node
/// reaches the network (proxies, CA bundles), which reqwest honours too. Everything else (`GIT_*`, `SSH_*`,
/// `HOME`, `XDG_*` included) is dropped, so nothing of the agent's environment changes what git does.
const PASSED_THROUGH: &[&str] = &[
    "PATH",
    "http_proxy",
    "https_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "GIT_SSL_CAINFO",
];

/// The first git that reads `GIT_CONFIG_COUNT` (2.31). An older one would silently ignore the credentials.
const MIN_VERSION_FOR_CREDENTIALS: (u32, u32) = (2, 31);

const GIT_MISSING: &str = "git is not installed on this node; install it (apt-get install git) to use sourceType Git";

/// How git authenticates to the remote.
pub(super) enum Auth {
    None,
    /// HTTP Basic, sent as an `http.extraHeader` through the environment.
    Basic {
        username: Zeroizing<String>,
        password: Zeroizing<String>,
    },
    /// ssh: an optional private key (else the node's own ssh identities).
    Ssh {
        key: Option<Zeroizing<String>>,
        skip_host_key_checking: bool,
    },
}

/// Why a git run failed, with its error output already scrubbed.
struct Failure {
    stderr: String,
}

/// The git program, set up for one remote.
pub(super) struct Git {
    program: PathBuf,
    remote_url: String,
    location: String,
    /// `-c` options of every run: which transports git may use.
    config: Vec<String>,
    /// The environment of every run (besides [`PASSED_THROUGH`]); may hold the credential header.
    env: Vec<(&'static str, Zeroizing<String>)>,
    /// Texts never to show from git's output.
    secrets: Vec<Zeroizing<String>>,
    has_credentials: bool,
}

impl Git {
    /// Sets git up in `work` (a private directory the caller deletes): a `home` with nothing in it, and the
    /// SSH key file when there is one. Fails when git is missing, or too old to take credentials safely.
    pub(super) async fn new(program: &Path, work: &Path, remote: &Remote, auth: Auth) -> Result<Self, DownloadError> {
        let home = work.join("home");
        std::fs::create_dir(&home)?;
        let mut git = Self {
            program: program.to_path_buf(),
            remote_url: remote.url.clone(),
            location: remote.location.clone(),
            config: vec!["protocol.allow=never".into(), "credential.helper=".into()],
            env: vec![
                ("GIT_TERMINAL_PROMPT", Zeroizing::new("0".into())),
                ("GIT_CONFIG_NOSYSTEM", Zeroizing::new("1".into())),
                ("GIT_CONFIG_GLOBAL", Zeroizing::new("/dev/null".into())),
                ("HOME", Zeroizing::new(home.to_string_lossy().into_owned())),
                ("LC_ALL", Zeroizing::new("C".into())),
            ],
            secrets: Vec::new(),
            has_credentials: false,
        };
        git.config.extend(match remote.transport {
            Transport::Https => vec!["protocol.https.allow=always".to_string()],
            // A plain-http server may redirect to https.
            Transport::Http => vec!["protocol.http.allow=always".into(), "protocol.https.allow=always".into()],
            Transport::Ssh => vec!["protocol.ssh.allow=always".into()],
        });
        match auth {
            Auth::None => {}
            Auth::Basic { username, password } => {
                if remote.transport == Transport::Http {
                    tracing::warn!(repository = %remote.location, "Sending git credentials over plain http.");
                }
                let pair = Zeroizing::new(format!("{}:{}", username.as_str(), password.as_str()));
                let encoded = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(pair.as_bytes()));
                let header = Zeroizing::new(format!("Authorization: Basic {}", encoded.as_str()));
                let origin = remote.origin.as_deref().unwrap_or_default();
                git.env.push(("GIT_CONFIG_COUNT", Zeroizing::new("1".into())));
                git.env.push(("GIT_CONFIG_KEY_0", Zeroizing::new(format!("http.{origin}.extraHeader"))));
                git.env.push(("GIT_CONFIG_VALUE_0", header));
                git.secrets.extend([password, encoded, pair]);
                git.has_credentials = true;
            }
            Auth::Ssh { key, skip_host_key_checking } => {
                let mut ssh = String::from("ssh -o BatchMode=yes");
                if let Some(key) = key {
                    let path = work.join("ssh-key");
                    write_private_key(&path, &key)?;
                    ssh.push_str(" -o IdentitiesOnly=yes -i ");
                    ssh.push_str(&shell_quote(&path.to_string_lossy()));
                    git.has_credentials = true;
                }
                ssh.push_str(if skip_host_key_checking {
                    " -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
                } else {
                    " -o StrictHostKeyChecking=yes"
                });
                git.env.push(("GIT_SSH_COMMAND", Zeroizing::new(ssh)));
                git.env.push(("GIT_SSH_VARIANT", Zeroizing::new("ssh".into())));
            }
        }
        let version = git.version().await?;
        if git.has_credentials && version < MIN_VERSION_FOR_CREDENTIALS {
            let (major, minor) = version;
            return Err(DownloadError::Source(format!(
                "git {major}.{minor} on this node is too old to be given credentials safely (2.31 or later reads them \
                 from the environment); upgrade git"
            )));
        }
        Ok(git)
    }

    /// Fills `dir` (which must not exist) with the work tree of `checkout`.
    pub(super) async fn checkout(&self, dir: &Path, checkout: &Checkout) -> Result<(), DownloadError> {
        let url = OsString::from(&self.remote_url);
        let dir = dir.as_os_str();
        let failed = |failure: Failure| self.failed(failure, checkout);
        match checkout {
            Checkout::Default | Checkout::Branch(_) => {
                let mut args: Vec<OsString> =
                    ["clone", "--quiet", "--depth", "1", "--single-branch", "--no-tags"].map(OsString::from).into();
                if let Checkout::Branch(name) = checkout {
                    args.push(format!("--branch={}", name.strip_prefix("refs/heads/").unwrap_or(name)).into());
                }
                args.extend(["--".into(), url, dir.to_owned()]);
                self.run(&args).await.map_err(failed)?;
            }
            Checkout::Commit(sha) => {
                self.run(&["init".into(), "--quiet".into(), dir.to_owned()]).await.map_err(failed)?;
                let in_dir = |rest: &[&str]| -> Vec<OsString> {
                    let mut args = vec!["-C".into(), dir.to_owned()];
                    args.extend(rest.iter().map(OsString::from));
                    args
                };
                // A full SHA can be fetched alone when the server allows it (GitHub, GitLab, protocol v2); an
                // abbreviated one, or a server that refuses, needs the branches fetched.
                let mut target = format!("{sha}^{{commit}}");
                let mut shallow_done = false;
                if sha.len() >= 40 {
                    let mut args = in_dir(&["fetch", "--quiet", "--depth", "1", "--no-tags", "--"]);
                    args.extend([url.clone(), sha.into()]);
                    match self.run(&args).await {
                        Ok(_) => {
                            shallow_done = true;
                            target = "FETCH_HEAD".into();
                        }
                        Err(failure) if !is_unknown_object(&failure.stderr) => return Err(failed(failure)),
                        Err(_) => {}
                    }
                }
                if !shallow_done {
                    let mut args = in_dir(&["fetch", "--quiet", "--no-tags", "--"]);
                    args.extend([url, "+refs/heads/*:refs/remotes/origin/*".into()]);
                    self.run(&args).await.map_err(failed)?;
                }
                let args = in_dir(&["-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", &target]);
                self.run(&args).await.map_err(|_| {
                    DownloadError::Source(format!("{} has no commit {sha} on any branch", self.location))
                })?;
            }
        }
        Ok(())
    }

    /// The commit checked out in `dir`.
    pub(super) async fn head(&self, dir: &Path) -> Result<String, DownloadError> {
        let args = ["-C".into(), dir.as_os_str().to_owned(), "rev-parse".into(), "HEAD".into()];
        let stdout = self.run(&args).await.map_err(|failure| {
            DownloadError::Source(format!("git rev-parse HEAD failed after cloning: {}", failure.stderr))
        })?;
        let sha = String::from_utf8_lossy(&stdout).trim().to_string();
        if sha.len() < 40 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(DownloadError::Source(format!("git rev-parse HEAD printed {sha:?}, not a commit SHA")));
        }
        Ok(sha)
    }

    /// `git version`, as (major, minor); the first run, so a missing git is reported here.
    async fn version(&self) -> Result<(u32, u32), DownloadError> {
        let stdout = self.run(&["version".into()]).await.map_err(|failure| {
            if failure.stderr == GIT_MISSING {
                return DownloadError::Source(GIT_MISSING.into());
            }
            DownloadError::Source(format!("{} version failed: {}", self.program.display(), failure.stderr))
        })?;
        let text = String::from_utf8_lossy(&stdout);
        let mut numbers = text.trim().trim_start_matches("git version ").split('.').map(|n| n.parse::<u32>().ok());
        match (numbers.next().flatten(), numbers.next().flatten()) {
            (Some(major), Some(minor)) => Ok((major, minor)),
            _ => Err(DownloadError::Source(format!("{} is not git (it printed {:?})", self.program.display(), text))),
        }
    }

    /// Runs git with `args` after the hardening options; its stdout, or its scrubbed stderr.
    async fn run(&self, args: &[OsString]) -> Result<Vec<u8>, Failure> {
        let mut command = tokio::process::Command::new(&self.program);
        command.env_clear();
        for name in PASSED_THROUGH {
            if let Some(value) = std::env::var_os(name) {
                command.env(name, value);
            }
        }
        for (name, value) in &self.env {
            command.env(name, value.as_str());
        }
        for option in &self.config {
            command.arg("-c").arg(option);
        }
        command.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        let output = match command.output().await {
            Ok(output) => output,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(Failure { stderr: GIT_MISSING.into() });
            }
            Err(error) => {
                return Err(Failure { stderr: format!("could not run {}: {error}", self.program.display()) });
            }
        };
        if output.status.success() {
            return Ok(output.stdout);
        }
        Err(Failure { stderr: self.scrub(&String::from_utf8_lossy(&output.stderr)) })
    }

    /// git's error output without any credential, and at most its last 2000 characters.
    fn scrub(&self, stderr: &str) -> String {
        let mut text = stderr.trim().to_string();
        for secret in &self.secrets {
            if !secret.is_empty() {
                text = text.replace(secret.as_str(), "****");
            }
        }
        let chars = text.chars().count();
        if chars > 2000 {
            text = format!("…{}", text.chars().skip(chars - 2000).collect::<String>());
        }
        if text.is_empty() { "git printed no error".into() } else { text }
    }

    fn failed(&self, failure: Failure, checkout: &Checkout) -> DownloadError {
        if failure.stderr == GIT_MISSING {
            return DownloadError::Source(GIT_MISSING.into());
        }
        let stderr = &failure.stderr;
        // A rejected header makes git ask for credentials of its own, which it cannot: "could not read
        // Username" then means the given ones were refused.
        let asked = stderr.contains("could not read Username") || stderr.contains("could not read Password");
        let hint = if stderr.contains("Authentication failed") || (asked && self.has_credentials) {
            " (the server refused the credentials: check username and password)"
        } else if asked {
            " (the repository needs credentials: give username and password)"
        } else if stderr.contains("Host key verification failed") {
            " (the server's host key is not in this node's known_hosts: add it, or set skipHostKeyChecking)"
        } else if stderr.contains("Permission denied (publickey") {
            " (the server refused the SSH key: check privateSSHKey)"
        } else {
            ""
        };
        DownloadError::Source(format!(
            "git could not fetch {} of {}{hint}: {stderr}",
            checkout.describe(),
            self.location
        ))
    }
}

/// Whether a failed fetch of one SHA means "the server will not hand out that object by itself".
fn is_unknown_object(stderr: &str) -> bool {
    ["not our ref", "couldn't find remote ref", "unadvertised object", "no such remote ref"]
        .iter()
        .any(|text| stderr.contains(text))
}

/// Writes the SSH key readable by the agent's user only (ssh refuses a key others can read).
fn write_private_key(path: &Path, key: &str) -> Result<(), DownloadError> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(key.trim().as_bytes())?;
    file.write_all(b"\n")?; // OpenSSH rejects a key without a final newline
    Ok(())
}

/// `text` as one single-quoted word for the shell git runs `GIT_SSH_COMMAND` with.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}
