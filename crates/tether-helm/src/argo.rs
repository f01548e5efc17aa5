//! Argo CD's `source.helm` (see `tether_model::ApplicationSourceHelm`).
