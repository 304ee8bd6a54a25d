//! The private directory of one run: checks the request's code inputs, then lays out the wrapper,
//! the customer's code and the input files.
//!
//! ```text
//! <work_root>/fleetrun-script-XXXXXX/   0700; the script's HOME and TMPDIR
//!     fleetrun/                          wrapper.py | wrapper.ps1, events.json, context.json, result.json
//!     script/                            the customer's code; the script's working directory
//!         customer_script.py | customer_script.ps1   (inline Script)
//!         <attachment>.py                (a .py attachment, under its own name)
//!         ...                            (the unpacked contents of a .zip attachment)
//! ```
//!
//! The wrapper is static text compiled into this crate. Nothing from the request is formatted into
//! it; the wrapper learns every input from file paths on its command line. Everything here is
//! blocking file IO, run on the blocking pool by `lib.rs`. This module does not start processes.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tempfile::TempDir;

use crate::{Attachment, Runtime, ScriptRequest, unzip};

/// The Python wrapper, copied into every Python run.
pub(crate) const PYTHON_WRAPPER: &str = include_str!("wrapper.py");
/// The PowerShell wrapper, copied into every PowerShell run.
pub(crate) const POWERSHELL_WRAPPER: &str = include_str!("wrapper.ps1");

/// Module name SSM gives an inline Python `Script` (it shows in tracebacks).
pub(crate) const PYTHON_INLINE_FILE: &str = "customer_script.py";
/// File name of an inline PowerShell `Script` (`&` needs the `.ps1` extension).
pub(crate) const POWERSHELL_INLINE_FILE: &str = "customer_script.ps1";

/// Why a step was refused before anything ran. The text becomes the outcome's failure message.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SetupError {
    #[error("{0}")]
    Invalid(String),
    #[error("attachment {name}: its SHA-256 is {actual}, but the runbook declares {expected}; refusing to run it")]
    ChecksumMismatch { name: String, expected: String, actual: String },
    #[error("attachment {name}: {reason}")]
    BadZip { name: String, reason: String },
    #[error(transparent)]
    InterpreterMissing(#[from] crate::interpreter::InterpreterMissing),
    #[error("cannot prepare the script's directory: {0}")]
    Io(#[from] io::Error),
    #[error("cannot write the handler's inputs as JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Checks the combination of `Handler`, `Script` and `Attachment` for the runtime, and the
/// attachment's name and checksum. Runs before any file is written or process started.
pub(crate) fn validate(request: &ScriptRequest) -> Result<(), SetupError> {
    let invalid = |message: &str| Err(SetupError::Invalid(message.to_owned()));
    if request.script.is_none() && request.attachment.is_none() {
        return invalid("aws:executeScript needs a Script or an Attachment");
    }
    if request.runtime.is_python() {
        let Some(handler) = request.handler.as_deref().filter(|handler| !handler.trim().is_empty()) else {
            return invalid("Handler is required for Python runtimes");
        };
        if !handler.contains('.') && request.script.is_none() {
            return invalid(
                "Handler names a function of the inline Script, but there is none; with an Attachment the Handler \
                 is file.function",
            );
        }
    } else if request.script.is_none() {
        return invalid("PowerShell runtimes need an inline Script; an Attachment only adds files next to it");
    }
    if let Some(attachment) = &request.attachment {
        check_attachment(attachment, request.runtime, request.script.is_some())?;
    }
    Ok(())
}

fn check_attachment(attachment: &Attachment, runtime: Runtime, has_script: bool) -> Result<(), SetupError> {
    let name = attachment.name.as_str();
    let plain_name = Path::new(name).file_name().is_some_and(|file_name| file_name == name) && !name.starts_with('.');
    if !plain_name {
        return Err(SetupError::Invalid(format!("attachment name {name:?} is not a plain file name")));
    }
    let allowed = if runtime.is_python() { "a .py or .zip file" } else { "a .zip file" };
    if !(is_zip(name) || (runtime.is_python() && name.ends_with(".py"))) {
        return Err(SetupError::Invalid(format!("attachment {name}: {runtime} needs {allowed}")));
    }
    if has_script && name == PYTHON_INLINE_FILE {
        return Err(SetupError::Invalid(format!("attachment {name} would replace the inline Script")));
    }
    let actual = hex::encode(Sha256::digest(&attachment.bytes));
    let expected = attachment.expected_sha256.trim().to_ascii_lowercase();
    if actual != expected {
        return Err(SetupError::ChecksumMismatch { name: name.to_owned(), expected, actual });
    }
    Ok(())
}

fn is_zip(name: &str) -> bool {
    Path::new(name).extension().is_some_and(|extension| extension.eq_ignore_ascii_case("zip"))
}

/// A prepared run directory. Dropping it deletes the directory (blocking IO).
#[derive(Debug)]
pub(crate) struct Workspace {
    root: TempDir,
    /// `fleetrun/wrapper.py` or `fleetrun/wrapper.ps1`.
    pub(crate) wrapper: PathBuf,
    /// `script/`, the customer's code and working directory.
    pub(crate) code_dir: PathBuf,
    /// `script/customer_script.ps1` for PowerShell; `None` for Python (the wrapper imports by name).
    pub(crate) inline_script: Option<PathBuf>,
    pub(crate) events: PathBuf,
    pub(crate) context: PathBuf,
    /// Written by the wrapper, absent until the handler has finished.
    pub(crate) result: PathBuf,
}

impl Workspace {
    /// The run's private directory: the script's HOME and TMPDIR.
    pub(crate) fn root(&self) -> &Path {
        self.root.path()
    }

    /// Deletes the directory, reporting failures (dropping it would ignore them).
    pub(crate) fn remove(self) -> io::Result<()> {
        self.root.close()
    }
}

/// Creates the directory of a validated request and writes every file the wrapper needs.
pub(crate) fn prepare(work_root: &Path, request: &ScriptRequest) -> Result<Workspace, SetupError> {
    let root = tempfile::Builder::new().prefix("fleetrun-script-").tempdir_in(work_root)?;
    fs::set_permissions(root.path(), fs::Permissions::from_mode(0o700))?;
    let io_dir = create_dir(&root.path().join("fleetrun"))?;
    let code_dir = create_dir(&root.path().join("script"))?;
    let (wrapper_name, wrapper_text, inline_name) = if request.runtime.is_python() {
        ("wrapper.py", PYTHON_WRAPPER, PYTHON_INLINE_FILE)
    } else {
        ("wrapper.ps1", POWERSHELL_WRAPPER, POWERSHELL_INLINE_FILE)
    };
    let wrapper = write_file(&io_dir.join(wrapper_name), wrapper_text.as_bytes())?;
    let events = write_file(&io_dir.join("events.json"), &serde_json::to_vec(&request.input_payload)?)?;
    let context = write_file(&io_dir.join("context.json"), &serde_json::to_vec(&request.context)?)?;
    if let Some(attachment) = &request.attachment {
        if is_zip(&attachment.name) {
            unzip::extract(&attachment.bytes, &code_dir)
                .map_err(|reason| SetupError::BadZip { name: attachment.name.clone(), reason })?;
        } else {
            write_file(&code_dir.join(&attachment.name), &attachment.bytes)?;
        }
    }
    let inline_script = match &request.script {
        Some(script) => Some(write_file(&code_dir.join(inline_name), script.as_bytes())?),
        None => None,
    };
    Ok(Workspace {
        inline_script: inline_script.filter(|_| !request.runtime.is_python()),
        result: io_dir.join("result.json"),
        root,
        wrapper,
        code_dir,
        events,
        context,
    })
}

fn create_dir(path: &Path) -> io::Result<PathBuf> {
    fs::DirBuilder::new().mode(0o700).create(path)?;
    Ok(path.to_path_buf())
}

/// Writes a new file readable by the owner only. `create_new`, so that nothing written earlier in
/// the run (say, a zip entry) is silently replaced.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> io::Result<PathBuf> {
    let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(|error| {
        io::Error::new(error.kind(), format!("{}: {error}", path.file_name().unwrap_or_default().display()))
    })?;
    file.write_all(bytes)?;
    Ok(path.to_path_buf())
}
