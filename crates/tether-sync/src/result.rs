//! What a sync reports: a result per resource, shaped like Argo CD's
//! `operationState.syncResult.resources`, and the operation's phase and message.

use std::fmt;

pub use tether_model::application::ResourceResult;

use crate::plan::{ResourceKey, SyncPhase};

/// Outcome of one resource (Argo CD's `ResultCode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultCode {
    Synced,
    SyncFailed,
    Pruned,
    PruneSkipped,
}

impl ResultCode {
    /// Argo CD's name.
    pub fn as_str(self) -> &'static str {
        match self {
            ResultCode::Synced => "Synced",
            ResultCode::SyncFailed => "SyncFailed",
            ResultCode::Pruned => "Pruned",
            ResultCode::PruneSkipped => "PruneSkipped",
        }
    }
}

/// Phase of the operation, or of one resource's part in it (Argo CD's `OperationPhase`, the
/// `hookPhase` of a resource result).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationPhase {
    Running,
    Terminating,
    Failed,
    Error,
    Succeeded,
}

impl OperationPhase {
    /// Argo CD's name.
    pub fn as_str(self) -> &'static str {
        match self {
            OperationPhase::Running => "Running",
            OperationPhase::Terminating => "Terminating",
            OperationPhase::Failed => "Failed",
            OperationPhase::Error => "Error",
            OperationPhase::Succeeded => "Succeeded",
        }
    }

    /// Finished, one way or the other.
    pub fn completed(self) -> bool {
        matches!(
            self,
            OperationPhase::Failed | OperationPhase::Error | OperationPhase::Succeeded
        )
    }

    /// Finished well.
    pub fn successful(self) -> bool {
        self == OperationPhase::Succeeded
    }
}

impl fmt::Display for OperationPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of a sync operation.
#[derive(Debug, Clone)]
pub struct SyncResult {
    /// `Succeeded`, `Failed` or `Error` (`Running` only while waiting for a prune confirmation).
    pub phase: OperationPhase,
    /// Argo CD's operation message, e.g. `successfully synced (all tasks run)`.
    pub message: String,
    /// One entry per resource and phase, in the order they were first touched.
    pub resources: Vec<ResourceResult>,
}

impl SyncResult {
    /// The result of a resource, by kind and name (first match, any phase).
    pub fn resource(&self, kind: &str, name: &str) -> Option<&ResourceResult> {
        self.resources
            .iter()
            .find(|r| r.kind == kind && r.name == name)
    }
}

/// Progress of a running sync, reported as it happens.
#[derive(Debug, Clone)]
pub enum SyncEvent {
    /// A (phase, wave) step starts.
    Step { phase: SyncPhase, wave: i64 },
    /// A resource's result was set or changed.
    Resource(ResourceResult),
    /// A hook was deleted by its delete policy.
    HookDeleted(ResourceKey),
}
