//! Built-in health checks: the rules of gitops-engine's `pkg/health/health_*.go` (and Argo CD's
//! built-in `batch/CronJob` script), re-implemented over the object as JSON.
//!
//! Messages are Argo CD's, word for word (including their spelling), because users match on them in
//! alerts and `health_test.yaml` fixtures. Every API version of a group shares one rule: the fields
//! the rules read have the same names in each version.

use serde_json::Value;
use tether_model::application::HealthStatusCode;

use crate::{HealthStatus, health};

/// A field that is present but does not have the type Kubernetes gives it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to read {kind} field `{path}`: expected {expected}")]
pub struct BadField {
    kind: &'static str,
    path: String,
    expected: &'static str,
}

type CheckResult = Result<HealthStatus, BadField>;
type Check = fn(&Obj<'_>) -> CheckResult;

/// The built-in check for a group and kind, if Argo CD has one.
pub(crate) fn check_for(group: &str, kind: &str) -> Option<(&'static str, Check)> {
    let check: (&'static str, Check) = match (group, kind) {
        ("apps" | "extensions", "Deployment") => ("Deployment", deployment),
        ("apps", "StatefulSet") => ("StatefulSet", stateful_set),
        ("apps" | "extensions", "ReplicaSet") => ("ReplicaSet", replica_set),
        ("apps" | "extensions", "DaemonSet") => ("DaemonSet", daemon_set),
        ("extensions" | "networking.k8s.io", "Ingress") => ("Ingress", ingress),
        ("apiregistration.k8s.io", "APIService") => ("APIService", api_service),
        ("", "Service") => ("Service", service),
        ("", "PersistentVolumeClaim") => ("PersistentVolumeClaim", pvc),
        ("", "Pod") => ("Pod", pod),
        ("batch", "Job") => ("Job", job),
        ("batch", "CronJob") => ("CronJob", cron_job),
        ("autoscaling", "HorizontalPodAutoscaler") => ("HPA", hpa),
        _ => return None,
    };
    Some(check)
}

/// Runs the built-in check for `obj`; `None` when Argo CD has no built-in check for its kind.
pub(crate) fn check(group: &str, kind: &str, obj: &Value) -> Option<HealthStatus> {
    let (label, check) = check_for(group, kind)?;
    Some(
        check(&Obj {
            v: obj,
            kind: label,
        })
        .unwrap_or_else(|e| health(HealthStatusCode::Unknown, e.to_string())),
    )
}

/// Typed access to an object's fields with Go's zero values for absent ones.
pub(crate) struct Obj<'a> {
    pub(crate) v: &'a Value,
    pub(crate) kind: &'static str,
}

impl<'a> Obj<'a> {
    fn get(&self, path: &[&str]) -> Option<&'a Value> {
        let mut cur = self.v;
        for p in path {
            cur = cur.get(p)?;
        }
        (!cur.is_null()).then_some(cur)
    }

    fn bad(&self, path: &[&str], expected: &'static str) -> BadField {
        BadField {
            kind: self.kind,
            path: path.join("."),
            expected,
        }
    }

    /// An integer field; `None` when absent (Go's nil pointer).
    fn int_opt(&self, path: &[&str]) -> Result<Option<i64>, BadField> {
        match self.get(path) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.bad(path, "an integer")),
        }
    }

    /// An integer field; 0 when absent (Go's zero value).
    fn int(&self, path: &[&str]) -> Result<i64, BadField> {
        Ok(self.int_opt(path)?.unwrap_or(0))
    }

    /// A string field; "" when absent.
    fn str(&self, path: &[&str]) -> Result<&'a str, BadField> {
        match self.get(path) {
            None => Ok(""),
            Some(v) => v.as_str().ok_or_else(|| self.bad(path, "a string")),
        }
    }

    fn bool(&self, path: &[&str]) -> Result<bool, BadField> {
        match self.get(path) {
            None => Ok(false),
            Some(v) => v.as_bool().ok_or_else(|| self.bad(path, "a boolean")),
        }
    }

    /// A list field; empty when absent.
    fn list(&self, path: &[&str]) -> Result<&'a [Value], BadField> {
        match self.get(path) {
            None => Ok(&[]),
            Some(v) => v
                .as_array()
                .map(Vec::as_slice)
                .ok_or_else(|| self.bad(path, "a list")),
        }
    }

    fn name(&self) -> Result<&'a str, BadField> {
        self.str(&["metadata", "name"])
    }

    /// The first condition in `status.conditions` of type `ty`, as an object.
    fn condition(&self, ty: &str) -> Result<Option<Obj<'a>>, BadField> {
        for c in self.list(&["status", "conditions"])? {
            let c = Obj {
                v: c,
                kind: self.kind,
            };
            if c.str(&["type"])? == ty {
                return Ok(Some(c));
            }
        }
        Ok(None)
    }
}

fn ok(status: HealthStatusCode, message: impl Into<String>) -> CheckResult {
    Ok(health(status, message))
}

use HealthStatusCode::{Degraded, Healthy, Progressing, Suspended, Unknown};

fn deployment(o: &Obj<'_>) -> CheckResult {
    if o.bool(&["spec", "paused"])? {
        return ok(Suspended, "Deployment is paused");
    }
    if o.int(&["metadata", "generation"])? > o.int(&["status", "observedGeneration"])? {
        return ok(
            Progressing,
            "Waiting for rollout to finish: observed deployment generation less then desired generation",
        );
    }
    if let Some(c) = o.condition("Progressing")?
        && c.str(&["reason"])? == "ProgressDeadlineExceeded"
    {
        return ok(
            Degraded,
            format!("Deployment {:?} exceeded its progress deadline", o.name()?),
        );
    }
    let updated = o.int(&["status", "updatedReplicas"])?;
    if let Some(replicas) = o.int_opt(&["spec", "replicas"])?
        && updated < replicas
    {
        return ok(
            Progressing,
            format!(
                "Waiting for rollout to finish: {updated} out of {replicas} new replicas have been updated..."
            ),
        );
    }
    let replicas = o.int(&["status", "replicas"])?;
    if replicas > updated {
        return ok(
            Progressing,
            format!(
                "Waiting for rollout to finish: {} old replicas are pending termination...",
                replicas - updated
            ),
        );
    }
    let available = o.int(&["status", "availableReplicas"])?;
    if available < updated {
        return ok(
            Progressing,
            format!(
                "Waiting for rollout to finish: {available} of {updated} updated replicas are available..."
            ),
        );
    }
    ok(Healthy, "")
}

fn stateful_set(o: &Obj<'_>) -> CheckResult {
    let observed = o.int(&["status", "observedGeneration"])?;
    if observed == 0 || o.int(&["metadata", "generation"])? > observed {
        return ok(
            Progressing,
            "Waiting for statefulset spec update to be observed...",
        );
    }
    let replicas = o.int_opt(&["spec", "replicas"])?;
    let ready = o.int(&["status", "readyReplicas"])?;
    if let Some(replicas) = replicas
        && ready < replicas
    {
        return ok(
            Progressing,
            format!("Waiting for {} pods to be ready...", replicas - ready),
        );
    }
    let strategy = o.str(&["spec", "updateStrategy", "type"])?;
    let updated = o.int(&["status", "updatedReplicas"])?;
    if strategy == "RollingUpdate"
        && o.get(&["spec", "updateStrategy", "rollingUpdate"])
            .is_some()
    {
        if let (Some(replicas), Some(partition)) = (
            replicas,
            o.int_opt(&["spec", "updateStrategy", "rollingUpdate", "partition"])?,
        ) && updated < replicas - partition
        {
            return ok(
                Progressing,
                format!(
                    "Waiting for partitioned roll out to finish: {updated} out of {} new pods have been updated...",
                    replicas - partition
                ),
            );
        }
        return ok(
            Healthy,
            format!("partitioned roll out complete: {updated} new pods have been updated..."),
        );
    }
    if strategy == "OnDelete" {
        return ok(
            Healthy,
            format!("statefulset has {ready} ready pods ({updated} updated)"),
        );
    }
    let update_revision = o.str(&["status", "updateRevision"])?;
    let current_revision = o.str(&["status", "currentRevision"])?;
    if update_revision != current_revision {
        return ok(
            Progressing,
            format!(
                "waiting for statefulset rolling update to complete {updated} pods at revision {update_revision}..."
            ),
        );
    }
    ok(
        Healthy,
        format!(
            "statefulset rolling update complete {} pods at revision {current_revision}...",
            o.int(&["status", "currentReplicas"])?
        ),
    )
}

fn daemon_set(o: &Obj<'_>) -> CheckResult {
    if o.int(&["metadata", "generation"])? > o.int(&["status", "observedGeneration"])? {
        return ok(
            Progressing,
            "Waiting for rollout to finish: observed daemon set generation less then desired generation",
        );
    }
    let updated = o.int(&["status", "updatedNumberScheduled"])?;
    let desired = o.int(&["status", "desiredNumberScheduled"])?;
    if o.str(&["spec", "updateStrategy", "type"])? == "OnDelete" {
        return ok(
            Healthy,
            format!("daemon set {updated} out of {desired} new pods have been updated"),
        );
    }
    let name = o.name()?;
    if updated < desired {
        return ok(
            Progressing,
            format!(
                "Waiting for daemon set {name:?} rollout to finish: {updated} out of {desired} new pods have been updated..."
            ),
        );
    }
    let available = o.int(&["status", "numberAvailable"])?;
    if available < desired {
        return ok(
            Progressing,
            format!(
                "Waiting for daemon set {name:?} rollout to finish: {available} of {desired} updated pods are available..."
            ),
        );
    }
    ok(Healthy, "")
}

fn replica_set(o: &Obj<'_>) -> CheckResult {
    if o.int(&["metadata", "generation"])? > o.int(&["status", "observedGeneration"])? {
        return ok(
            Progressing,
            "Waiting for rollout to finish: observed replica set generation less then desired generation",
        );
    }
    if let Some(c) = o.condition("ReplicaFailure")?
        && c.str(&["status"])? == "True"
    {
        return ok(Degraded, c.str(&["message"])?);
    }
    let available = o.int(&["status", "availableReplicas"])?;
    if let Some(replicas) = o.int_opt(&["spec", "replicas"])?
        && available < replicas
    {
        return ok(
            Progressing,
            format!(
                "Waiting for rollout to finish: {available} out of {replicas} new replicas are available..."
            ),
        );
    }
    ok(Healthy, "")
}

fn service(o: &Obj<'_>) -> CheckResult {
    if o.str(&["spec", "type"])? == "LoadBalancer"
        && o.list(&["status", "loadBalancer", "ingress"])?.is_empty()
    {
        return ok(Progressing, "");
    }
    ok(Healthy, "")
}

fn ingress(o: &Obj<'_>) -> CheckResult {
    if o.list(&["status", "loadBalancer", "ingress"])?.is_empty() {
        ok(Progressing, "")
    } else {
        ok(Healthy, "")
    }
}

fn pvc(o: &Obj<'_>) -> CheckResult {
    let status = match o.str(&["status", "phase"])? {
        "Lost" => Degraded,
        "Pending" => Progressing,
        "Bound" => Healthy,
        _ => Unknown,
    };
    ok(status, "")
}

fn api_service(o: &Obj<'_>) -> CheckResult {
    if let Some(c) = o.condition("Available")? {
        let message = format!("{}: {}", c.str(&["reason"])?, c.str(&["message"])?);
        let status = if c.str(&["status"])? == "True" {
            Healthy
        } else {
            Progressing
        };
        return ok(status, message);
    }
    ok(Progressing, "Waiting to be processed")
}

/// Argo CD's annotation that makes a finite pod (restartPolicy OnFailure/Never) judged like a service pod.
pub const ANNOTATION_IGNORE_RESTART_POLICY: &str = "argocd.argoproj.io/ignore-restart-policy";

fn pod(o: &Obj<'_>) -> CheckResult {
    // Kubernetes defaults restartPolicy to Always.
    let restart_policy = match o.str(&["spec", "restartPolicy"])? {
        "" => "Always",
        p => p,
    };
    let message = o.str(&["status", "message"])?;
    let statuses = o.list(&["status", "containerStatuses"])?;
    if restart_policy == "Always" {
        let mut messages = Vec::new();
        for cs in statuses {
            let cs = Obj {
                v: cs,
                kind: o.kind,
            };
            if cs.get(&["state", "waiting"]).is_some() {
                let reason = cs.str(&["state", "waiting", "reason"])?;
                if reason.starts_with("Err")
                    || reason.ends_with("Error")
                    || reason.ends_with("BackOff")
                {
                    messages.push(cs.str(&["state", "waiting", "message"])?);
                }
            }
        }
        if !messages.is_empty() {
            return ok(Degraded, messages.join(", "));
        }
    }
    match o.str(&["status", "phase"])? {
        "Pending" => ok(Progressing, message),
        "Succeeded" => ok(Healthy, message),
        "Failed" => {
            if !message.is_empty() {
                return ok(Degraded, message);
            }
            let init = o.list(&["status", "initContainerStatuses"])?;
            for cs in init.iter().chain(statuses) {
                let cs = Obj {
                    v: cs,
                    kind: o.kind,
                };
                if cs.get(&["state", "terminated"]).is_none() {
                    continue;
                }
                let term_message = cs.str(&["state", "terminated", "message"])?;
                if !term_message.is_empty() {
                    return ok(Degraded, term_message);
                }
                if cs.str(&["state", "terminated", "reason"])? == "OOMKilled" {
                    return ok(Degraded, "OOMKilled");
                }
                let code = cs.int(&["state", "terminated", "exitCode"])?;
                if code != 0 {
                    return ok(
                        Degraded,
                        format!(
                            "container {:?} failed with exit code {code}",
                            cs.str(&["name"])?
                        ),
                    );
                }
            }
            ok(Degraded, "")
        }
        "Running" => {
            let ignore_restart_policy = o
                .get(&["metadata", "annotations", ANNOTATION_IGNORE_RESTART_POLICY])
                .is_some();
            if !ignore_restart_policy && matches!(restart_policy, "OnFailure" | "Never") {
                return ok(Progressing, message);
            }
            if !ignore_restart_policy && restart_policy != "Always" {
                return ok(Unknown, message);
            }
            if o.condition("Ready")?
                .map(|c| c.str(&["status"]))
                .transpose()?
                == Some("True")
            {
                return ok(Healthy, message);
            }
            for cs in statuses {
                if cs
                    .pointer("/lastState/terminated")
                    .is_some_and(|t| !t.is_null())
                {
                    return ok(Degraded, message);
                }
            }
            ok(Progressing, message)
        }
        _ => ok(Unknown, message),
    }
}

fn job(o: &Obj<'_>) -> CheckResult {
    let (mut failed, mut complete, mut suspended) = (false, false, false);
    let (mut fail_message, mut message) = ("", "");
    for c in o.list(&["status", "conditions"])? {
        let c = Obj { v: c, kind: o.kind };
        match c.str(&["type"])? {
            "Failed" => {
                failed = true;
                complete = true;
                fail_message = c.str(&["message"])?;
            }
            "Complete" => {
                complete = true;
                message = c.str(&["message"])?;
            }
            "Suspended" => {
                complete = true;
                message = c.str(&["message"])?;
                suspended |= c.str(&["status"])? == "True";
            }
            _ => {}
        }
    }
    if !complete {
        ok(Progressing, message)
    } else if failed {
        ok(Degraded, fail_message)
    } else if suspended {
        ok(Suspended, message)
    } else {
        ok(Healthy, message)
    }
}

/// Argo CD ships this one as the built-in Lua script `batch/CronJob/health.lua`; same rules and messages.
fn cron_job(o: &Obj<'_>) -> CheckResult {
    if o.bool(&["spec", "suspend"])? {
        return ok(Suspended, "CronJob is Suspended");
    }
    if o.get(&["status"]).is_none() {
        return ok(Progressing, "Waiting for CronJob");
    }
    let last_schedule = o.get(&["status", "lastScheduleTime"]);
    let Some(last_schedule) = last_schedule else {
        return ok(Healthy, "CronJob has not been scheduled yet");
    };
    let Some(last_success) = o.get(&["status", "lastSuccessfulTime"]) else {
        return ok(
            Healthy,
            "The Cronjob never completed succesfully. It may not be healthy",
        );
    };
    if !o.list(&["status", "active"])?.is_empty() {
        return ok(
            Healthy,
            "The job is running. Its last execution may not have been successful",
        );
    }
    // RFC 3339 timestamps in UTC compare as strings, as the Lua script compares them.
    let (Some(success), Some(schedule)) = (last_success.as_str(), last_schedule.as_str()) else {
        return Err(o.bad(&["status", "lastScheduleTime"], "an RFC 3339 timestamp"));
    };
    if success < schedule {
        return ok(
            Degraded,
            "CronJob has not completed its last execution successfully",
        );
    }
    ok(
        Healthy,
        "CronJob has completed its last execution successfully",
    )
}

const HPA_PROGRESSING: &str = "Waiting to Autoscale";

fn hpa(o: &Obj<'_>) -> CheckResult {
    let api_version = o.str(&["apiVersion"])?;
    let parsed;
    let conditions: &[Value] = if api_version == "autoscaling/v1" {
        // v1 carries its conditions as JSON in an annotation.
        let Some(annotation) = o.get(&[
            "metadata",
            "annotations",
            "autoscaling.alpha.kubernetes.io/conditions",
        ]) else {
            return ok(Progressing, HPA_PROGRESSING);
        };
        let text = annotation.as_str().unwrap_or_default();
        parsed = serde_json::from_str::<Vec<Value>>(text).map_err(|_| {
            o.bad(
                &[
                    "metadata",
                    "annotations",
                    "autoscaling.alpha.kubernetes.io/conditions",
                ],
                "a JSON list of conditions",
            )
        })?;
        if parsed.is_empty() {
            return ok(Progressing, HPA_PROGRESSING);
        }
        &parsed
    } else {
        o.list(&["status", "conditions"])?
    };
    let mut healthy = Vec::new();
    for c in conditions {
        let c = Obj { v: c, kind: o.kind };
        let (ty, reason) = (c.str(&["type"])?, c.str(&["reason"])?);
        let degraded = matches!(
            (ty, reason),
            ("AbleToScale", "FailedGetScale" | "FailedUpdateScale")
                | (
                    "ScalingActive",
                    "FailedGetResourceMetric" | "InvalidSelector"
                )
        );
        if degraded {
            return ok(Degraded, c.str(&["message"])?);
        }
        if matches!(ty, "AbleToScale" | "ScalingLimited") && c.str(&["status"])? == "True" {
            healthy.push(c.str(&["message"])?);
        }
    }
    if healthy.len() == conditions.len() {
        return ok(Healthy, healthy.join(","));
    }
    ok(Progressing, HPA_PROGRESSING)
}
