//! Picks the interpreter binary for a [`Runtime`].
//!
//! Python: `python3.N` from the search path if it starts, else the configured fallback
//! ([`Interpreters::python`]). "Starts" is checked by running it once (`-I -c` with a constant
//! program that prints `sys.version`), because a name on `PATH` is no proof: pyenv puts a shim for
//! every installed version on `PATH`, and a shim for a version that is not selected exits with 127.
//! PowerShell: [`Interpreters::pwsh`], not run beforehand (starting .NET takes a good part of a
//! second); the wrapper reports its version instead.
//!
//! This module does not run scripts.

use std::ffi::{OsStr, OsString};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::{Interpreters, Runtime};

/// How long the version probe may take. A cold pyenv shim takes about 100 ms.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// The probe's program: a constant, never built from input.
const PROBE_PROGRAM: &str = "import sys; sys.stdout.write(sys.version)";

/// The interpreter chosen for a run.
#[derive(Debug, Clone)]
pub(crate) struct Interpreter {
    /// Absolute path (or the configured path when it was given with a `/`).
    pub(crate) path: PathBuf,
    /// First line of `sys.version`, for Python.
    pub(crate) version: Option<String>,
}

/// No usable interpreter for the runtime. The message names what was tried and how to install it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct InterpreterMissing(String);

pub(crate) async fn resolve(runtime: Runtime, interpreters: &Interpreters) -> Result<Interpreter, InterpreterMissing> {
    match runtime {
        Runtime::Python { minor } => resolve_python(minor, interpreters).await,
        Runtime::PowerShell { major, .. } => match find(&interpreters.pwsh, &interpreters.search_path) {
            Some(path) => Ok(Interpreter { path, version: None }),
            None => Err(InterpreterMissing(format!(
                "runtime {runtime} needs PowerShell, but {} is not on the search path; install PowerShell {major} \
                 (https://learn.microsoft.com/powershell/scripting/install/installing-powershell-on-linux) \
                 or configure the path of pwsh",
                interpreters.pwsh.display(),
            ))),
        },
    }
}

async fn resolve_python(minor: u32, interpreters: &Interpreters) -> Result<Interpreter, InterpreterMissing> {
    let exact = PathBuf::from(format!("python3.{minor}"));
    let mut tried = Vec::new();
    for candidate in [&exact, &interpreters.python] {
        let Some(path) = find(candidate, &interpreters.search_path) else {
            tried.push(format!("{} is not on the search path", candidate.display()));
            continue;
        };
        match probe_cached(&path, &interpreters.search_path).await {
            Ok(version) => {
                if candidate != &exact {
                    tracing::warn!(
                        runtime = %format!("python3.{minor}"), interpreter = %path.display(), %version,
                        "The runtime's exact Python version is not installed; using the fallback interpreter."
                    );
                }
                return Ok(Interpreter { path, version: Some(version) });
            }
            Err(why) => tried.push(format!("{} does not start ({why})", path.display())),
        }
    }
    Err(InterpreterMissing(format!(
        "runtime python3.{minor} needs a Python interpreter, but {}; install Python 3.{minor} \
         (for example `apt-get install python3.{minor}` or `pyenv install 3.{minor}`) or configure a fallback python3",
        tried.join(" and "),
    )))
}

/// How long a successful probe is trusted: long enough that a burst of runbooks starts Python once per run,
/// not twice; short enough that installing or removing an interpreter is noticed within a minute.
const PROBE_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(60);

/// [`probe_python`], remembering successes for [`PROBE_CACHE_TTL`] (failures are always probed again).
async fn probe_cached(path: &Path, search_path: &OsStr) -> Result<String, String> {
    type Cache =
        std::sync::Mutex<std::collections::HashMap<(PathBuf, std::ffi::OsString), (String, std::time::Instant)>>;
    static CACHE: std::sync::LazyLock<Cache> = std::sync::LazyLock::new(Default::default);
    let key = (path.to_path_buf(), search_path.to_os_string());
    if let Some((version, at)) = CACHE.lock().unwrap_or_else(|e| e.into_inner()).get(&key)
        && at.elapsed() < PROBE_CACHE_TTL
    {
        return Ok(version.clone());
    }
    let version = probe_python(path, search_path).await?;
    CACHE.lock().unwrap_or_else(|e| e.into_inner()).insert(key, (version.clone(), std::time::Instant::now()));
    Ok(version)
}

/// Runs `path -I -c PROBE_PROGRAM` with a minimal environment and returns the first line of
/// `sys.version`, or why that failed.
async fn probe_python(path: &Path, search_path: &OsStr) -> Result<String, String> {
    let mut command = Command::new(path);
    command
        .args(["-I", "-c", PROBE_PROGRAM])
        .env_clear()
        .env("PATH", search_path)
        .env("LANG", "C.UTF-8")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = match tokio::time::timeout(PROBE_TIMEOUT, command.output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(error)) => return Err(error.to_string()),
        Err(_) => return Err(format!("no answer within {} s", PROBE_TIMEOUT.as_secs())),
    };
    let version = String::from_utf8_lossy(&output.stdout);
    let version = version.lines().next().unwrap_or_default().trim();
    if output.status.success() && !version.is_empty() {
        return Ok(version.to_owned());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let first_line = stderr.lines().find(|line| !line.trim().is_empty()).unwrap_or("no output");
    Err(format!("{}: {}", crate::process::describe_status(output.status), first_line.trim()))
}

/// `name` itself if it contains a `/`, else the first executable file of that name in the
/// `:`-separated `search_path` (empty entries are skipped rather than meaning the current
/// directory).
pub(crate) fn find(name: &Path, search_path: &OsStr) -> Option<PathBuf> {
    if name.as_os_str().is_empty() {
        return None;
    }
    if name.components().count() > 1 || name.is_absolute() {
        return is_executable(name).then(|| name.to_path_buf());
    }
    std::env::split_paths(search_path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(name))
        .find(|path| is_executable(path))
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0)
}

/// The search path of this process, or a conventional default when `PATH` is unset.
pub(crate) fn process_search_path() -> OsString {
    std::env::var_os("PATH").unwrap_or_else(|| OsString::from("/usr/local/bin:/usr/bin:/bin"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_looks_in_each_directory_and_skips_non_executables() {
        let first = tempfile::tempdir().unwrap();
        let second = tempfile::tempdir().unwrap();
        let plain = first.path().join("tool");
        std::fs::write(&plain, "").unwrap();
        let executable = second.path().join("tool");
        std::fs::write(&executable, "").unwrap();
        std::fs::set_permissions(&executable, std::fs::Permissions::from_mode(0o700)).unwrap();
        let search_path =
            std::env::join_paths(["", first.path().to_str().unwrap(), second.path().to_str().unwrap()]).unwrap();
        assert_eq!(find(Path::new("tool"), &search_path), Some(executable.clone()));
        assert_eq!(find(&executable, OsStr::new("")), Some(executable));
        assert_eq!(find(&plain, &search_path), None);
        assert_eq!(find(Path::new("absent"), &search_path), None);
        assert_eq!(find(Path::new(""), &search_path), None);
    }
}
