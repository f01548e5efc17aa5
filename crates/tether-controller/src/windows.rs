//! Sync windows (`AppProject.spec.syncWindows`), with Argo CD's semantics
//! (`SyncWindows.Matches`, `Active`, `InactiveAllows`, `CanSync`):
//!
//! - a window applies to an app when one of its `applications`, `clusters` (destination name or
//!   server) or `namespaces` globs matches (all of the given ones with `andOperator`);
//! - it is active when its cron `schedule` (five fields, robfig/cron's standard parser) fired
//!   less than `duration` ago, the schedule read in `timeZone` (default UTC);
//! - any active deny window blocks syncs, manual ones too unless every active deny window has
//!   `manualSync`; otherwise an active allow window permits them; otherwise, when allow windows
//!   exist, syncs are blocked (manual ones pass when every inactive allow window has
//!   `manualSync`); with no window, everything is permitted;
//! - a sync already running ([`can_continue`]) goes on past its permitted time when every window
//!   now in its way has `syncOverrun` (and the windows permitted it when it started).

use std::time::Duration;

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use tether_model::project::SyncWindow;
use tether_model::{AppProject, Application};

use crate::project::{Destination, glob};

/// A window that could not be read (the error names it).
#[derive(Debug, thiserror::Error)]
pub enum WindowError {
    #[error("cannot parse schedule '{schedule}': {message}")]
    Schedule { schedule: String, message: String },
    #[error("cannot parse duration '{duration}': {message}")]
    Duration { duration: String, message: String },
    #[error("unknown time zone '{zone}': {message}")]
    TimeZone { zone: String, message: String },
}

/// The windows of the project that apply to the app (`Matches`).
pub fn matching<'a>(project: &'a AppProject, app: &Application) -> Vec<&'a SyncWindow> {
    let name = app.metadata.name.as_deref().unwrap_or("");
    // The destination as written (Argo CD matches windows on the spec, nothing inferred).
    let d = &app.spec.destination;
    let dst = Destination {
        server: d.server.as_deref().unwrap_or(""),
        name: d.name.as_deref().unwrap_or(""),
        namespace: d.namespace.as_deref().unwrap_or(""),
    };
    project
        .spec
        .sync_windows
        .iter()
        .filter(|w| {
            let apps =
                (!w.applications.is_empty()).then(|| w.applications.iter().any(|p| glob(p, name)));
            let clusters = (!w.clusters.is_empty()).then(|| {
                w.clusters.iter().any(|c| {
                    (!dst.name.is_empty() && glob(c, dst.name))
                        || (!dst.server.is_empty() && glob(c, dst.server))
                })
            });
            let namespaces = (!w.namespaces.is_empty())
                .then(|| w.namespaces.iter().any(|p| glob(p, dst.namespace)));
            let given = [apps, clusters, namespaces];
            if w.and_operator == Some(true) {
                given.iter().any(Option::is_some) && given.iter().flatten().all(|m| *m)
            } else {
                given.iter().flatten().any(|m| *m)
            }
        })
        .collect()
}

fn parser() -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        // robfig/cron reads `5/10` as `5-59/10`.
        .sloppy_ranges(true)
        .build()
}

/// Parses a window's schedule as Argo CD's parser (`Minute | Hour | Dom | Month | Dow`): five
/// fields, no descriptors.
pub fn parse_schedule(schedule: &str) -> Result<Cron, WindowError> {
    let bad = |message: String| WindowError::Schedule {
        schedule: schedule.to_owned(),
        message,
    };
    let fields = schedule.split_whitespace().count();
    if fields != 5 {
        return Err(bad(format!("expected exactly 5 fields, found {fields}")));
    }
    if schedule.contains('@') {
        return Err(bad("descriptors (@daily, …) are not accepted".into()));
    }
    parser().parse(schedule).map_err(|e| bad(e.to_string()))
}

fn parse_duration(d: &str) -> Result<Duration, WindowError> {
    tether_model::duration::parse_go_duration(d).map_err(|e| WindowError::Duration {
        duration: d.to_owned(),
        message: e.to_string(),
    })
}

fn zone(w: &SyncWindow) -> Result<TimeZone, WindowError> {
    match w.time_zone.as_deref() {
        None | Some("") | Some("UTC") => Ok(TimeZone::UTC),
        Some(z) => TimeZone::get(z).map_err(|e| WindowError::TimeZone {
            zone: z.to_owned(),
            message: e.to_string(),
        }),
    }
}

/// Whether the window is active at `now`: its schedule fired after `now - duration` and
/// before `now`.
pub fn active(w: &SyncWindow, now: Timestamp) -> Result<bool, WindowError> {
    let schedule = w.schedule.as_deref().unwrap_or("");
    let cron = parse_schedule(schedule)?;
    let duration = parse_duration(w.duration.as_deref().unwrap_or(""))?;
    let tz = zone(w)?;
    let span = jiff::SignedDuration::try_from(duration).map_err(|e| WindowError::Duration {
        duration: w.duration.clone().unwrap_or_default(),
        message: e.to_string(),
    })?;
    let Ok(from) = now.checked_sub(span) else {
        return Ok(true);
    };
    let next = cron
        .find_next_occurrence(&from.to_zoned(tz), false)
        .map_err(|e| WindowError::Schedule {
            schedule: schedule.to_owned(),
            message: e.to_string(),
        })?;
    Ok(next.timestamp() < now)
}

/// The verdict for one app at one time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Permitted,
    /// Blocked; the reason names the window(s).
    Blocked(String),
}

fn describe(w: &SyncWindow) -> String {
    format!(
        "{} window '{}' ({})",
        w.kind.as_deref().unwrap_or(""),
        w.schedule.as_deref().unwrap_or(""),
        w.duration.as_deref().unwrap_or("")
    )
}

/// `CanSync`: whether a sync (manual or automated) may run now. Unreadable windows block, as
/// Argo CD's `invalid sync windows` error does.
pub fn can_sync(project: &AppProject, app: &Application, manual: bool, now: Timestamp) -> Verdict {
    let windows = matching(project, app);
    if windows.is_empty() {
        return Verdict::Permitted;
    }
    let mut active_windows = Vec::new();
    let mut inactive_allows = Vec::new();
    for w in &windows {
        match active(w, now) {
            Ok(true) => active_windows.push(*w),
            Ok(false) if w.kind.as_deref() == Some("allow") => inactive_allows.push(*w),
            Ok(false) => {}
            Err(e) => return Verdict::Blocked(format!("invalid sync windows: {e}")),
        }
    }
    let denies: Vec<&SyncWindow> = active_windows
        .iter()
        .copied()
        .filter(|w| w.kind.as_deref() == Some("deny"))
        .collect();
    if !denies.is_empty() {
        if manual && denies.iter().all(|w| w.manual_sync == Some(true)) {
            return Verdict::Permitted;
        }
        let names: Vec<String> = denies.iter().map(|w| describe(w)).collect();
        return Verdict::Blocked(format!("active {}", names.join(", ")));
    }
    if active_windows
        .iter()
        .any(|w| w.kind.as_deref() == Some("allow"))
    {
        return Verdict::Permitted;
    }
    if !inactive_allows.is_empty() {
        if manual && inactive_allows.iter().all(|w| w.manual_sync == Some(true)) {
            return Verdict::Permitted;
        }
        return Verdict::Blocked("no active allow window".into());
    }
    Verdict::Permitted
}

/// `CanSync` for an operation already started at `started` (Argo CD passes the operation's
/// `startedAt`): permitted when the windows permit a sync now, or, with `syncOverrun`, when
/// they permitted it at the start and every window that now stands in the way lets a running
/// sync overrun: each active deny window, and, when no allow window is active, each inactive
/// allow window.
pub fn can_continue(
    project: &AppProject,
    app: &Application,
    manual: bool,
    started: Timestamp,
    now: Timestamp,
) -> Verdict {
    let verdict = can_sync(project, app, manual, now);
    if verdict == Verdict::Permitted
        || can_sync(project, app, manual, started) != Verdict::Permitted
    {
        return verdict;
    }
    let windows = matching(project, app);
    let mut active_allow = false;
    let mut blocking = Vec::new();
    let mut inactive_allows = Vec::new();
    for w in &windows {
        let Ok(on) = active(w, now) else {
            return verdict;
        };
        match (w.kind.as_deref(), on) {
            (Some("deny"), true) => blocking.push(*w),
            (Some("allow"), true) => active_allow = true,
            (Some("allow"), false) => inactive_allows.push(*w),
            _ => {}
        }
    }
    if !active_allow {
        blocking.extend(inactive_allows);
    }
    if blocking.iter().all(|w| w.sync_overrun == Some(true)) {
        Verdict::Permitted
    } else {
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(windows: &str) -> AppProject {
        serde_yaml::from_str(&format!(
            "metadata: {{name: p}}\nspec:\n  syncWindows:\n{windows}"
        ))
        .unwrap()
    }

    fn app(name: &str, ns: &str) -> Application {
        serde_yaml::from_str(&format!(
            "metadata: {{name: {name}}}\nspec:\n  source: {{repoURL: r}}\n  destination: {{server: 'https://kubernetes.default.svc', namespace: {ns}}}\n"
        ))
        .unwrap()
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// The transitions listed in Argo CD's sync-window documentation ("Sync Overrun").
    #[test]
    fn sync_overrun_lets_a_running_sync_continue_as_argo_cd_documents() {
        let a = app("web", "default");
        let deny = |overrun: bool| {
            format!(
                "  - {{kind: deny, schedule: '0 22 * * *', duration: 1h, applications: ['*'], syncOverrun: {overrun}}}\n"
            )
        };
        let allow = |start: u8, hours: u8, overrun: bool| {
            format!(
                "  - {{kind: allow, schedule: '0 {start} * * *', duration: {hours}h, applications: ['*'], syncOverrun: {overrun}}}\n"
            )
        };
        let go = |windows: String, started: &str, now: &str| {
            can_continue(&project(&windows), &a, false, at(started), at(now)) == Verdict::Permitted
        };
        let (before, during) = ("2026-01-01T21:30:00Z", "2026-01-01T22:10:00Z");
        // No window → deny with / without overrun.
        assert!(go(deny(true), before, during));
        assert!(!go(deny(false), before, during));
        // Allow (21:00, 2 h, still active at 22:10) → deny.
        assert!(go(allow(21, 2, true) + &deny(true), before, during));
        assert!(!go(allow(21, 2, true) + &deny(false), before, during));
        assert!(go(allow(21, 2, false) + &deny(true), before, during));
        assert!(!go(allow(21, 2, false) + &deny(false), before, during));
        // An allow window ends (09:00 + 8 h).
        let (in_allow, after) = ("2026-01-01T16:50:00Z", "2026-01-01T17:10:00Z");
        assert!(go(allow(9, 8, true), in_allow, after));
        assert!(!go(allow(9, 8, false), in_allow, after));
        assert!(go(allow(9, 8, true) + &allow(10, 7, true), in_allow, after));
        assert!(!go(
            allow(9, 8, true) + &allow(10, 7, false),
            in_allow,
            after
        ));
        // A sync the windows did not permit when it started gets no overrun; one permitted now
        // needs none.
        assert!(!go(deny(true), during, "2026-01-01T22:20:00Z"));
        assert!(go(deny(false), before, "2026-01-01T23:10:00Z"));
    }

    fn w(kind: &str, schedule: &str, duration: &str) -> SyncWindow {
        SyncWindow {
            kind: Some(kind.into()),
            schedule: Some(schedule.into()),
            duration: Some(duration.into()),
            applications: vec!["*".into()],
            ..Default::default()
        }
    }

    #[test]
    fn activity_follows_schedule_duration_and_zone() {
        let daily = w("deny", "0 22 * * *", "1h");
        assert!(active(&daily, at("2026-03-02T22:30:00Z")).unwrap());
        assert!(!active(&daily, at("2026-03-02T23:00:01Z")).unwrap());
        assert!(!active(&daily, at("2026-03-02T21:59:00Z")).unwrap());
        // At the firing minute itself the window has not started yet (Next(now-d) < now).
        assert!(!active(&daily, at("2026-03-02T22:00:00Z")).unwrap());
        assert!(active(&daily, at("2026-03-02T22:00:01Z")).unwrap());
        // 22:00 in Amsterdam (UTC+1 in March before DST) is 21:00 UTC.
        let ams = SyncWindow {
            time_zone: Some("Europe/Amsterdam".into()),
            ..daily.clone()
        };
        assert!(active(&ams, at("2026-03-02T21:30:00Z")).unwrap());
        assert!(!active(&ams, at("2026-03-02T22:30:00Z")).unwrap());
        // Weekdays, ranges and steps as robfig/cron reads them.
        let weekdays = w("allow", "0 9-17/2 * * 1-5", "30m");
        assert!(active(&weekdays, at("2026-03-02T11:10:00Z")).unwrap()); // a Monday
        assert!(!active(&weekdays, at("2026-03-01T11:10:00Z")).unwrap()); // a Sunday
        assert!(!active(&weekdays, at("2026-03-02T10:10:00Z")).unwrap());
        assert!(active(&w("deny", "* * * * *", "1h"), at("2026-03-02T10:10:00Z")).unwrap());
    }

    #[test]
    fn bad_windows_are_errors_naming_the_field() {
        let e = active(&w("deny", "0 22 * *", "1h"), at("2026-03-02T22:30:00Z")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot parse schedule '0 22 * *': expected exactly 5 fields, found 4"
        );
        assert!(active(&w("deny", "61 * * * *", "1h"), Timestamp::now()).is_err());
        assert!(active(&w("deny", "@daily", "1h"), Timestamp::now()).is_err());
        let e = active(&w("deny", "* * * * *", "soon"), Timestamp::now()).unwrap_err();
        assert!(
            e.to_string().starts_with("cannot parse duration 'soon'"),
            "{e}"
        );
        let bad_zone = SyncWindow {
            time_zone: Some("Mars/Olympus".into()),
            ..w("deny", "* * * * *", "1h")
        };
        assert!(matches!(
            active(&bad_zone, Timestamp::now()),
            Err(WindowError::TimeZone { .. })
        ));
        // A broken window blocks rather than being ignored.
        let p = project("  - {kind: deny, schedule: 'x', duration: 1h, applications: ['*']}\n");
        assert!(matches!(
            can_sync(&p, &app("a", "n"), true, Timestamp::now()),
            Verdict::Blocked(m) if m.starts_with("invalid sync windows: cannot parse schedule 'x'")
        ));
    }

    #[test]
    fn matching_by_application_cluster_namespace_and_operator() {
        let p = project(
            "  - {kind: deny, schedule: '* * * * *', duration: 1h, applications: ['web-*']}\n  - {kind: deny, schedule: '* * * * *', duration: 1h, namespaces: [prod]}\n  - {kind: deny, schedule: '* * * * *', duration: 1h, clusters: [in-cluster]}\n  - {kind: deny, schedule: '* * * * *', duration: 1h, applications: ['api'], namespaces: [prod], andOperator: true}\n",
        );
        assert_eq!(matching(&p, &app("web-1", "dev")).len(), 1);
        assert_eq!(matching(&p, &app("api", "dev")).len(), 0);
        assert_eq!(matching(&p, &app("api", "prod")).len(), 2);
        let named: Application = serde_yaml::from_str(
            "metadata: {name: x}\nspec:\n  source: {repoURL: r}\n  destination: {name: in-cluster, namespace: dev}\n",
        )
        .unwrap();
        assert_eq!(matching(&p, &named).len(), 1);
    }

    #[test]
    fn can_sync_as_argo_cd() {
        let now = at("2026-03-02T10:30:00Z");
        let a = app("a", "n");
        let always = "schedule: '* * * * *', duration: 1h, applications: ['*']";
        let never = "schedule: '0 0 1 1 *', duration: 1h, applications: ['*']";
        // No window: permitted.
        assert_eq!(
            can_sync(&project("    []\n"), &a, false, now),
            Verdict::Permitted
        );
        // An active deny blocks, manual too unless manualSync.
        let p = project(&format!("  - {{kind: deny, {always}}}\n"));
        assert!(
            matches!(can_sync(&p, &a, false, now), Verdict::Blocked(m) if m == "active deny window '* * * * *' (1h)")
        );
        assert!(matches!(can_sync(&p, &a, true, now), Verdict::Blocked(_)));
        let p = project(&format!("  - {{kind: deny, manualSync: true, {always}}}\n"));
        assert_eq!(can_sync(&p, &a, true, now), Verdict::Permitted);
        assert!(matches!(can_sync(&p, &a, false, now), Verdict::Blocked(_)));
        // Deny wins over allow.
        let p = project(&format!(
            "  - {{kind: allow, {always}}}\n  - {{kind: deny, {always}}}\n"
        ));
        assert!(matches!(can_sync(&p, &a, false, now), Verdict::Blocked(_)));
        // Allow windows: only inside an active one.
        let p = project(&format!("  - {{kind: allow, {never}}}\n"));
        assert_eq!(
            can_sync(&p, &a, false, now),
            Verdict::Blocked("no active allow window".into())
        );
        let p = project(&format!(
            "  - {{kind: allow, {never}}}\n  - {{kind: allow, {always}}}\n"
        ));
        assert_eq!(can_sync(&p, &a, false, now), Verdict::Permitted);
        let p = project(&format!("  - {{kind: allow, manualSync: true, {never}}}\n"));
        assert_eq!(can_sync(&p, &a, true, now), Verdict::Permitted);
        assert!(matches!(can_sync(&p, &a, false, now), Verdict::Blocked(_)));
        // An inactive deny window changes nothing.
        let p = project(&format!("  - {{kind: deny, {never}}}\n"));
        assert_eq!(can_sync(&p, &a, false, now), Verdict::Permitted);
        // A window for another app does not apply.
        let p = project(
            "  - {kind: deny, schedule: '* * * * *', duration: 1h, applications: [other]}\n",
        );
        assert_eq!(can_sync(&p, &a, false, now), Verdict::Permitted);
    }
}
