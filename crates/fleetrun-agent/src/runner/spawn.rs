//! Prepares a step directory and spawns the step's wrapper process for [`super::start`].
//!
//! Everything here is synchronous: create the directory, write the script, open the output files,
//! spawn `/bin/sh -c <WRAPPER> fleetrun-step <script> <exit_code>` in a new process group. A step
//! with secret environment values gets pipes instead of its output files, and the masking pumps
//! (`pump.rs`) are started on them. It does not supervise the process afterwards; that is
//! `Running::wait` and `adopt` in the parent module.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Mutex, PoisonError};

use tokio::process::{Child, Command};

use super::pump::Pumps;
use super::{EXIT_CODE_FILE, RunSpec, RunnerError, STDERR_FILE, STDOUT_FILE};

/// The wrapper script. It is static text and reads the script and exit-code paths from its
/// positional parameters; nothing from a [`RunSpec`] is ever formatted into it.
const WRAPPER: &str = include_str!("wrapper.sh");
/// `$0` of the wrapper, shown in the messages `sh` prints about it (for example "fleetrun-step: 1:
/// ...: not found").
const WRAPPER_NAME: &str = "fleetrun-step";

/// Serializes "write an executable script" against "fork a child".
///
/// A child forked while another thread holds a script open for writing inherits that descriptor
/// until it calls `exec`, and while any process holds a writable descriptor to a file, `execve` of
/// that file fails with `ETXTBSY` ("Text file busy"). Holding this lock across both the script
/// write and the spawn means no wrapper we fork can carry a half-written script of another step.
/// Forks made elsewhere in the agent are not covered.
static SCRIPT_EXEC_LOCK: Mutex<()> = Mutex::new(());

/// A freshly spawned wrapper.
pub(super) struct Spawned {
    pub(super) pid: i32,
    pub(super) child: Child,
    /// Absolute path of the step directory.
    pub(super) dir: PathBuf,
    /// The masking pumps, for a step with secret environment values.
    pub(super) output: Option<Pumps>,
}

pub(super) fn spawn_step(spec: &RunSpec) -> Result<Spawned, RunnerError> {
    check_workdir(&spec.workdir)?;
    let dir = prepare_dir(&spec.dir)?;
    let _guard = SCRIPT_EXEC_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    let script = write_script(&dir, spec.script_file, &spec.script)?;
    let stdout = open_output(&dir.join(STDOUT_FILE))?;
    let stderr = open_output(&dir.join(STDERR_FILE))?;
    let mut command = wrapper_command(&script, &dir.join(EXIT_CODE_FILE));
    command
        .current_dir(&spec.workdir)
        .envs(spec.env.iter().map(|(name, value)| (name, value)))
        // Secret values reach the script through its environment only: not argv (readable by every
        // user in /proc/<pid>/cmdline), not a file. The copies `Command` makes are not zeroized.
        .envs(spec.secret_env.iter().map(|(name, value)| (name, value.as_str())))
        .stdin(Stdio::null());
    // For a masked step the files go to the pumps instead, so nothing but masked bytes reaches them.
    let files = if !spec.secret_env.is_empty() {
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        Some((stdout, stderr))
    } else {
        command.stdout(stdout).stderr(stderr);
        None
    };
    let mut child = command.spawn().map_err(RunnerError::Spawn)?;
    let pid = child.id().and_then(|pid| i32::try_from(pid).ok());
    let Some(pid) = pid else {
        // Unreachable in practice: a just-spawned child is never reaped before we ask for its id.
        return Err(RunnerError::Spawn(io::Error::other("spawned wrapper has no pid")));
    };
    let output = match (files, child.stdout.take(), child.stderr.take()) {
        (Some((stdout, stderr)), Some(out_pipe), Some(err_pipe)) => {
            let secrets = spec.secret_env.iter().map(|(_, value)| value.as_bytes());
            Some(Pumps::start((out_pipe, stdout), (err_pipe, stderr), secrets))
        }
        (None, _, _) => None,
        // Unreachable: both streams were configured as pipes. Without pumps nothing would drain them.
        _ => {
            let _ = child.start_kill();
            return Err(RunnerError::Spawn(io::Error::other("the step's output pipes are missing")));
        }
    };
    Ok(Spawned { pid, child, dir, output })
}

/// The wrapper invocation. Nothing user-controlled goes into the `-c` text: the paths are
/// positional parameters.
fn wrapper_command(script: &Path, exit_code: &Path) -> Command {
    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(WRAPPER)
        .arg(WRAPPER_NAME)
        .arg(script)
        .arg(exit_code)
        // A new process group whose id is the wrapper's pid: `kill_tree(pid)` reaches every process
        // the script starts, background children included, and nothing of the agent.
        .process_group(0)
        // Deliberately false, although STYLE.md §15 suggests `kill_on_drop(true)` as Vector's exec
        // source has it: when the agent stops, crashes or restarts, its `Running` values are
        // dropped, and a running script must survive that (SSM keeps running commands across agent
        // restarts too). Scripts are only ever stopped by `wait`/`adopt` through `kill_tree`, and
        // the restarted agent re-attaches with `adopt`.
        .kill_on_drop(false);
    command
}

fn check_workdir(workdir: &Path) -> Result<(), RunnerError> {
    match fs::metadata(workdir) {
        Ok(metadata) if metadata.is_dir() => Ok(()),
        _ => Err(RunnerError::WorkdirMissing(workdir.to_path_buf())),
    }
}

/// Creates the step directory (mode 0700), returns its absolute path and removes result files of an
/// earlier run.
///
/// The path is made absolute because the wrapper runs with the step's working directory as its
/// current directory.
fn prepare_dir(dir: &Path) -> Result<PathBuf, RunnerError> {
    let create_error = |source| RunnerError::CreateDir { path: dir.to_path_buf(), source };
    let dir = std::path::absolute(dir).map_err(create_error)?;
    fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir).map_err(create_error)?;
    // The directory may already exist with a wider mode, and `mode` above is filtered by the umask.
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(create_error)?;
    for stale in [EXIT_CODE_FILE, "exit_code.tmp"] {
        remove_if_present(&dir.join(stale))?;
    }
    Ok(dir)
}

fn remove_if_present(path: &Path) -> Result<(), RunnerError> {
    match fs::remove_file(path) {
        Err(source) if source.kind() != io::ErrorKind::NotFound => {
            Err(RunnerError::RemoveStale { path: path.to_path_buf(), source })
        }
        _ => Ok(()),
    }
}

/// Writes the script with mode 0700 through a temporary file and a rename, so that a script still
/// being executed by an earlier run in the same directory is replaced rather than rewritten in
/// place.
fn write_script(dir: &Path, name: &str, text: &str) -> Result<PathBuf, RunnerError> {
    let path = dir.join(name);
    let temporary = dir.join(format!("{name}.tmp"));
    let write = || -> io::Result<()> {
        let mut file = OpenOptions::new().write(true).create(true).truncate(true).mode(0o700).open(&temporary)?;
        file.set_permissions(fs::Permissions::from_mode(0o700))?;
        file.write_all(text.as_bytes())?;
        drop(file);
        fs::rename(&temporary, &path)
    };
    write().map_err(|source| RunnerError::WriteScript { path: path.clone(), source })?;
    Ok(path)
}

/// Opens an output file for the wrapper, truncated, readable by the agent's user only (output may
/// hold secrets).
fn open_output(path: &Path) -> Result<File, RunnerError> {
    let open = || -> io::Result<File> {
        let file = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
        Ok(file)
    };
    open().map_err(|source| RunnerError::OpenOutput { path: path.to_path_buf(), source })
}
