//! Which deploys need a reviewer: those that ask for more than their
//! template allows, and those that touch data whose class rule demands
//! approval.
//!
//! A template is a platform blueprint ("read-only dashboard": these
//! connectors with these scopes, these hosts, data up to this class). An
//! app that names a template and stays within it goes live at once; every
//! grant beyond it is listed as a reason, and the deploy waits for a
//! reviewer. An app with no template is held to the empty template, so an
//! app with no connectors, no hosts and only public or internal storage
//! needs no review.

use crate::config::AppManifest;
use warden_host_apis::storage::config::StorageRules;

pub use crate::config::templates::Template;

/// Why `manifest` needs a reviewer; empty when it may go live at once.
pub fn reasons(
    manifest: &AppManifest,
    template: Option<&Template>,
    rules: &StorageRules,
) -> Vec<String> {
    let empty = Template::default();
    let named = match (template, &manifest.app.template) {
        (Some(t), Some(name)) => Some((t, name)),
        _ => None,
    };
    let base = named.map(|(t, _)| t).unwrap_or(&empty);
    // "… is not in template `t`", or, with no template, what that means.
    let beyond = |what: String| match named {
        Some((_, name)) => format!("{what} is not in template `{name}`"),
        None => format!("{what} needs a reviewer: the app names no template that allows it"),
    };
    let mut out = Vec::new();
    for request in &manifest.connectors {
        let allowed = base.connectors.iter().find(|c| c.name == request.name);
        match allowed {
            None => out.push(beyond(format!("connector `{}`", request.name))),
            Some(allowed) => {
                for scope in request
                    .scopes
                    .iter()
                    .filter(|s| !allowed.scopes.contains(s))
                {
                    out.push(beyond(format!(
                        "connector `{}` scope `{scope}`",
                        request.name
                    )));
                }
            }
        }
    }
    for host in &manifest.egress.allowed_hosts {
        if !base.allowed_hosts.contains(host) {
            out.push(beyond(format!("egress host `{host}`")));
        }
    }
    for bucket in &manifest.storage {
        if bucket.class > base.max_class() {
            let allows = match named {
                Some((_, name)) => format!("template `{name}` allows up to {}", base.max_class()),
                None => format!(
                    "without a template, data up to {} goes live without review",
                    base.max_class()
                ),
            };
            out.push(format!(
                "bucket `{}` holds {} data; {allows}",
                bucket.bucket, bucket.class
            ));
        } else if rules.rule(bucket.class).approval {
            out.push(format!(
                "bucket `{}` holds {} data, which always needs approval",
                bucket.bucket, bucket.class
            ));
        }
    }
    if manifest.app.template.is_some() && template.is_none() {
        out.push(format!(
            "template `{}` does not exist on this host",
            manifest.app.template.as_deref().unwrap_or_default()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(extra: &str, template: Option<&str>) -> AppManifest {
        let template = template
            .map(|t| format!("template = \"{t}\"\n"))
            .unwrap_or_default();
        let text = format!(
            "[app]\nname = \"a\"\nversion = \"1.0.0\"\ncomponent = \"a.wasm\"\n{template}{extra}"
        );
        toml::from_str(&text).unwrap_or_else(|e| unreachable!("test manifest: {e}"))
    }

    fn dashboard() -> Template {
        toml::from_str(
            "connectors = [{ name = \"crm\", scopes = [\"GET /contacts/**\"] }]\nallowed_hosts = [\"https://api.example.com\"]\nmax_class = \"confidential\"",
        )
        .unwrap_or_else(|e| unreachable!("test template: {e}"))
    }

    #[test]
    fn an_app_without_grants_needs_no_review() {
        let m = manifest("[[storage]]\nbucket = \"c\"\nclass = \"internal\"", None);
        assert!(reasons(&m, None, &StorageRules::default()).is_empty());
    }

    #[test]
    fn grants_without_a_template_each_need_review() {
        let m = manifest(
            "[[connectors]]\nname = \"crm\"\nscopes = [\"GET /contacts/**\"]\n[egress]\nallowed_hosts = [\"https://x.example\"]\n[[storage]]\nbucket = \"c\"\nclass = \"confidential\"",
            None,
        );
        let r = reasons(&m, None, &StorageRules::default());
        assert_eq!(r.len(), 3, "{r:?}");
        assert!(r[0].contains("connector `crm`") && r[0].contains("names no template"));
    }

    #[test]
    fn staying_within_a_template_needs_no_review_and_going_beyond_does() {
        let within = manifest(
            "[[connectors]]\nname = \"crm\"\nscopes = [\"GET /contacts/**\"]\n[[storage]]\nbucket = \"c\"\nclass = \"confidential\"",
            Some("dash"),
        );
        let t = dashboard();
        assert!(reasons(&within, Some(&t), &StorageRules::default()).is_empty());
        let beyond = manifest(
            "[[connectors]]\nname = \"crm\"\nscopes = [\"POST /contacts\"]",
            Some("dash"),
        );
        let r = reasons(&beyond, Some(&t), &StorageRules::default());
        assert_eq!(
            r,
            vec!["connector `crm` scope `POST /contacts` is not in template `dash`".to_string()]
        );
    }

    #[test]
    fn regulated_data_always_needs_review_and_unknown_templates_are_named() {
        let mut t = dashboard();
        t.max_class = Some(warden_host_apis::classes::DataClass::Regulated);
        let m = manifest(
            "[[storage]]\nbucket = \"hr\"\nclass = \"regulated\"",
            Some("dash"),
        );
        let r = reasons(&m, Some(&t), &StorageRules::default());
        assert!(r[0].contains("always needs approval"), "{r:?}");
        let r = reasons(&m, None, &StorageRules::default());
        assert!(
            r.iter()
                .any(|x| x.contains("template `dash` does not exist")),
            "{r:?}"
        );
    }
}
