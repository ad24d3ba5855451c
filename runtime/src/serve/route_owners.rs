//! Routes belong to their owners. All apps share one origin, so whoever
//! serves a path receives what browsers and clients send to it — bodies,
//! `Authorization` headers, cookies. A creator's app may therefore not
//! take a route that is nested in, equal to the prefix of, or encloses a
//! route of another owner's app, nor the origin's root (`/`, `/...`),
//! which only an admin places. An admin's root catch-all is the platform's
//! fallback: a more specific route wins over it by design, so it takes
//! nothing from anyone.

use super::routes::Route;

/// An app that holds a route: served, or compiling to be.
#[derive(Debug, Clone)]
pub(crate) struct Holder {
    pub name: String,
    pub owner: Option<String>,
    pub route: String,
}

/// Why a creator's route cannot be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// `/` or `/...`.
    Root { route: String },
    /// It overlaps `theirs`, the route of another owner's app `app`.
    Overlaps {
        route: String,
        theirs: String,
        app: String,
    },
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Conflict::Root { route } => write!(
                f,
                "app.toml: http.route `{route}` claims the whole origin; only an admin may deploy it\n  fix: serve the app under its own path, e.g. \"/<app name>/...\""
            ),
            Conflict::Overlaps { route, theirs, app } => write!(
                f,
                "app.toml: http.route `{route}` overlaps `{theirs}` of app `{app}`, which belongs to someone else\n  fix: pick a path no other owner's app serves, e.g. \"/<app name>/...\""
            ),
        }
    }
}

impl std::error::Error for Conflict {}

/// The conflict `route` of app `name`, owned by `owner`, has with the
/// routes `held` (another version of `name` itself and apps of the same
/// owner are fine). A route that does not parse is left to the load
/// check, which names the field and the fix.
pub(crate) fn conflict(
    held: &[Holder],
    name: &str,
    owner: Option<&str>,
    route: &str,
) -> Option<Conflict> {
    let wanted = Route::parse(route).ok()?;
    if wanted.is_root() {
        return Some(Conflict::Root {
            route: route.into(),
        });
    }
    held.iter().find_map(|h| {
        if h.name == name || (owner.is_some() && h.owner.as_deref() == owner) {
            return None;
        }
        let taken = Route::parse(&h.route).is_ok_and(|r| !r.is_root() && r.overlaps(&wanted));
        taken.then(|| Conflict::Overlaps {
            route: route.into(),
            theirs: h.route.clone(),
            app: h.name.clone(),
        })
    })
}
