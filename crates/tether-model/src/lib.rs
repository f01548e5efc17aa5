//! Argo CD-compatible API types.
