//! The agent's journal: one file per invocation under `<state>/journal/`, rewritten atomically at every
//! change. It is how a result that finished while the server was unreachable, or while the agent was
//! restarting, still gets reported: an entry is deleted only after the server accepted its result.

use fleetrun_proto::{Assignment, StepResult};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// What the agent knows about one invocation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Entry {
    pub assignment: Assignment,
    /// Results of the steps that ended, in order.
    #[serde(default)]
    pub results: Vec<StepResult>,
    /// The step running now: its index, wrapper pid, start and deadline (epoch ms).
    #[serde(default)]
    pub current: Option<CurrentStep>,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct CurrentStep {
    pub idx: usize,
    pub pid: i32,
    pub started_ms: i64,
    pub deadline_ms: i64,
    /// The step's output is masked (it uses SecureString parameters): it goes through pipes into this
    /// agent process, so a restarted agent cannot re-attach to it and stops it instead. Only this
    /// flag is journaled, never the values.
    #[serde(default)]
    pub masked: bool,
}

impl Entry {
    pub fn finished(&self) -> bool {
        self.results.len() >= self.assignment.steps.len()
    }
}

#[derive(Clone, Debug)]
pub struct Journal {
    dir: PathBuf,
}

impl Journal {
    pub fn open(state_dir: &Path) -> std::io::Result<Self> {
        let dir = state_dir.join("journal");
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir })
    }

    fn path(&self, command_id: &str) -> PathBuf {
        self.dir.join(format!("{command_id}.json"))
    }

    /// Writes an entry: to a temporary file, then renamed over the old one, so a crash of the agent
    /// process leaves either the old entry or the new one. There is no fsync: it would cost a disk flush
    /// on the path of every command, and what it guards against (power loss) also kills the scripts the
    /// entry describes; an entry torn by power loss is skipped by `load_all`.
    pub fn save(&self, entry: &Entry) -> std::io::Result<()> {
        let path = self.path(&entry.assignment.command_id);
        let tmp = path.with_extension("tmp");
        let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        file.write_all(&serde_json::to_vec(entry).map_err(std::io::Error::other)?)?;
        std::fs::rename(tmp, path)
    }

    pub fn remove(&self, command_id: &str) -> std::io::Result<()> {
        match std::fs::remove_file(self.path(command_id)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    pub fn contains(&self, command_id: &str) -> bool {
        self.path(command_id).exists()
    }

    /// Every entry left by an earlier run. Unreadable files are logged and skipped.
    pub fn load_all(&self) -> Vec<Entry> {
        let Ok(read) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut entries = Vec::new();
        for file in read.flatten() {
            let path = file.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            match std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<Entry>(&b).map_err(|e| e.to_string()))
            {
                Ok(entry) => entries.push(entry),
                Err(error) => {
                    tracing::warn!(path = %path.display(), error = %error, "Skipping an unreadable journal entry.")
                }
            }
        }
        entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_remove() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path()).unwrap();
        let entry = Entry {
            assignment: Assignment {
                command_id: "c1".into(),
                document_name: "d".into(),
                steps: vec![],
                output_s3: None,
            },
            results: vec![],
            current: Some(CurrentStep { idx: 0, pid: 42, started_ms: 1, deadline_ms: 2, masked: true }),
        };
        journal.save(&entry).unwrap();
        assert!(journal.contains("c1"));
        std::fs::write(dir.path().join("journal/garbage.json"), b"{").unwrap();
        let loaded = journal.load_all();
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].current.unwrap().pid, 42);
        assert!(loaded[0].current.unwrap().masked);
        journal.remove("c1").unwrap();
        journal.remove("c1").unwrap();
        assert!(!journal.contains("c1"));
    }

    #[test]
    fn entries_written_before_masking_existed_read_as_unmasked() {
        let current: CurrentStep =
            serde_json::from_str(r#"{"idx":1,"pid":7,"started_ms":1,"deadline_ms":2}"#).expect("old entry");
        assert!(!current.masked);
    }
}
