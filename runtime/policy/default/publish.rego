# Warden's default publish policy: what a deploy needs before it goes live.
#
# Every deploy (admin API, `warden deploy`) and every `warden policy check`
# evaluates the sets below against one input document (README.md,
# "Policies"). Each element is a finding:
#
#     {"id": "...", "msg": "...", "remediation": "...", "path": "..."}
#
# `path` is the manifest field the finding concerns (`connectors[0].scopes`).
# Any `deny` refuses the deploy; else any `needs_approval` holds it for a
# reviewer; else it goes live. `warn` is shown and stored either way.
#
# A platform replaces this bundle with `[policy] use_default = false` or adds
# its own rules to the same package, `warden.publish`.
package warden.publish

import rego.v1

finding(id, msg, remediation, path) := {
	"id": id,
	"msg": msg,
	"remediation": remediation,
	"path": path,
}

present(value) if {
	is_string(value)
	trim_space(value) != ""
}

# --- Who answers for the app ------------------------------------------------

required_fields := [
	{"field": "owner", "what": "the person who answers for the app (a creator's deploy sets it to the creator)"},
	{"field": "team", "what": "the team that keeps the app"},
	{"field": "cost_center", "what": "the cost center its usage is charged to"},
]

deny contains finding(
	"app-metadata",
	sprintf("app.%s is missing", [r.field]),
	sprintf("set app.%s in app.toml: %s", [r.field, r.what]),
	sprintf("app.%s", [r.field]),
) if {
	some r in required_fields
	not present(input.app[r.field])
}

deny contains finding(
	"app-metadata",
	"app.runbook.contact is missing",
	"add `runbook = { contact = \"oncall@example.com\" }` under [app]: who to call when the app misbehaves",
	"app.runbook.contact",
) if {
	not present(input.app.runbook.contact)
}

# --- Grants beyond the app's template (a reviewer decides) -------------------

class_rank := {"public": 0, "internal": 1, "confidential": 2, "regulated": 3}

bounds := input.template.bounds

named_template if input.template.exists

beyond(what) := sprintf("%s is not in template `%s`", [what, input.template.name]) if named_template

beyond(what) := sprintf("%s needs a reviewer: the app names no template that allows it", [what]) if not named_template

beyond_fix := sprintf("ask a reviewer to approve it, or stay within template `%s`", [input.template.name]) if named_template

beyond_fix := "ask a reviewer to approve it, or name a template (app.template) that allows it" if not named_template

needs_approval contains finding(
	"outside-template",
	beyond(sprintf("connector `%s`", [c.name])),
	beyond_fix,
	sprintf("connectors[%d].name", [i]),
) if {
	some i, c in input.grants.connectors
	not template_has(c.name)
}

needs_approval contains finding(
	"outside-template",
	beyond(sprintf("connector `%s` scope `%s`", [c.name, scope])),
	beyond_fix,
	sprintf("connectors[%d].scopes", [i]),
) if {
	some i, c in input.grants.connectors
	template_has(c.name)
	some scope in c.scopes
	not scope in template_scopes(c.name)
}

# Sets, not single entries: a name listed twice is one connector.
template_has(name) if {
	some c in bounds.connectors
	c.name == name
}

template_scopes(name) := {s | some c in bounds.connectors; c.name == name; some s in c.scopes}

needs_approval contains finding(
	"outside-template",
	beyond(sprintf("egress host `%s`", [host])),
	beyond_fix,
	sprintf("egress.allowed_hosts[%d]", [i]),
) if {
	some i, host in input.grants.hosts
	not host in bounds.allowed_hosts
}

needs_approval contains finding(
	"outside-template",
	sprintf("bucket `%s` holds %s data; template `%s` allows up to %s", [b.bucket, b.class, input.template.name, bounds.max_class]),
	beyond_fix,
	sprintf("storage[%d].class", [i]),
) if {
	named_template
	some i, b in input.grants.storage
	class_rank[b.class] > class_rank[bounds.max_class]
}

needs_approval contains finding(
	"outside-template",
	sprintf("bucket `%s` holds %s data; without a template, data up to %s goes live without review", [b.bucket, b.class, bounds.max_class]),
	beyond_fix,
	sprintf("storage[%d].class", [i]),
) if {
	not named_template
	some i, b in input.grants.storage
	class_rank[b.class] > class_rank[bounds.max_class]
}

needs_approval contains finding(
	"unknown-template",
	sprintf("template `%s` does not exist on this host", [input.template.name]),
	"name a template the platform defines (`warden templates list`), or ask a reviewer",
	"app.template",
) if {
	input.template.name != null
	not input.template.exists
}

# --- Data that always needs a reviewer ---------------------------------------

needs_approval contains finding(
	"class-needs-approval",
	sprintf("bucket `%s` holds %s data, which always needs approval", [b.bucket, b.class]),
	"ask a reviewer to approve the deploy",
	sprintf("storage[%d].class", [i]),
) if {
	some i, b in input.grants.storage
	b.class in input.platform.approval_classes
}

needs_approval contains finding(
	"regulated-storage",
	sprintf("bucket `%s` holds regulated data, which always needs approval", [b.bucket]),
	"ask a reviewer to approve the deploy",
	sprintf("storage[%d].class", [i]),
) if {
	some i, b in input.grants.storage
	b.class == "regulated"
	not "regulated" in input.platform.approval_classes
}

# --- Writes to people or money data -----------------------------------------

sensitive_tags := {"hr", "finance"}

needs_approval contains finding(
	"sensitive-write",
	sprintf("scope `%s` writes to connector `%s`, tagged %s in the catalog", [scope, c.name, concat(", ", sort(tags))]),
	"ask a reviewer to approve the deploy, or use a read-only scope",
	sprintf("connectors[%d].scopes", [i]),
) if {
	some i, c in input.grants.connectors
	entry := input.catalog[c.name]
	tags := {t | some t in entry.tags} & sensitive_tags
	count(tags) > 0
	some scope in c.scopes
	entry.scopes[scope].writes
}

# --- Limits and quotas above the platform's thresholds -----------------------

# `data.thresholds` (a data file or `[policy.data.thresholds]`) overrides the
# platform's defaults as the line above which a reviewer decides.
threshold(kind, field) := data.thresholds[kind][field]

threshold(kind, field) := input.platform.thresholds[kind][field] if {
	not data.thresholds[kind][field]
}

needs_approval contains finding(
	"above-threshold",
	sprintf("%s.%s asks for %v, above the platform's %v", [kind, field, asked, limit]),
	sprintf("lower %s.%s to at most %v, or ask a reviewer", [kind, field, limit]),
	sprintf("%s.%s", [kind, field]),
) if {
	some kind in ["limits", "quota"]
	some field, asked in input.grants[kind]
	limit := threshold(kind, field)
	asked > limit
}

# --- A retired app coming back --------------------------------------------------

needs_approval contains finding(
	"retired-app",
	sprintf("the app was retired at version %s; a reviewer decides whether it comes back", [input.previous.version]),
	"ask a reviewer to approve its return (or an admin to unretire the retired version)",
	"app.name",
) if {
	input.previous.status == "retired"
}

# --- Grants the live version does not have -----------------------------------

previous := input.previous.grants

needs_approval contains finding(
	"new-grant",
	sprintf("connector `%s` is new since version %s", [c.name, input.previous.version]),
	"ask a reviewer to approve the new grant",
	sprintf("connectors[%d].name", [i]),
) if {
	input.previous != null
	some i, c in input.grants.connectors
	not previous_has(c.name)
}

needs_approval contains finding(
	"new-grant",
	sprintf("connector `%s` scope `%s` is new since version %s", [c.name, scope, input.previous.version]),
	"ask a reviewer to approve the new grant",
	sprintf("connectors[%d].scopes", [i]),
) if {
	input.previous != null
	some i, c in input.grants.connectors
	previous_has(c.name)
	some scope in c.scopes
	not scope in previous_scopes(c.name)
}

previous_has(name) if {
	some c in previous.connectors
	c.name == name
}

previous_scopes(name) := {s | some c in previous.connectors; c.name == name; some s in c.scopes}

needs_approval contains finding(
	"new-grant",
	sprintf("egress host `%s` is new since version %s", [host, input.previous.version]),
	"ask a reviewer to approve the new grant",
	sprintf("egress.allowed_hosts[%d]", [i]),
) if {
	input.previous != null
	some i, host in input.grants.hosts
	not host in previous.hosts
}

needs_approval contains finding(
	"new-grant",
	sprintf("bucket `%s` (%s) is new since version %s", [b.bucket, b.class, input.previous.version]),
	"ask a reviewer to approve the new grant",
	sprintf("storage[%d]", [i]),
) if {
	input.previous != null
	some i, b in input.grants.storage
	not previous_bucket(b)
}

previous_bucket(b) if {
	some p in previous.storage
	p.bucket == b.bucket
	class_rank[p.class] >= class_rank[b.class]
}

# --- Vendor terms the platform requires --------------------------------------

deny contains finding(
	"vendor-terms",
	sprintf("connector `%s` has no data processing agreement (vendor.dpa), which the platform requires", [c.name]),
	"use a connector whose vendor signed a DPA, or ask the platform team to record it in the catalog",
	sprintf("connectors[%d].name", [i]),
) if {
	input.platform.connector_rules.require_dpa
	some i, c in input.grants.connectors
	not input.catalog[c.name].vendor.dpa
}

deny contains finding(
	"vendor-terms",
	sprintf("connector `%s` keeps data in `%s`, outside the allowed residency (%s)", [c.name, residency, concat(", ", rules.allowed_residency)]),
	"use a connector whose vendor keeps data in an allowed region",
	sprintf("connectors[%d].name", [i]),
) if {
	rules := input.platform.connector_rules
	count(rules.allowed_residency) > 0
	some i, c in input.grants.connectors
	residency := residency_of(c.name)
	not residency in rules.allowed_residency
}

deny contains finding(
	"vendor-terms",
	sprintf("connector `%s` states no incident notification time, which the platform requires", [c.name]),
	"use a connector whose vendor states vendor.incident_notification",
	sprintf("connectors[%d].name", [i]),
) if {
	input.platform.connector_rules.require_incident_notification
	some i, c in input.grants.connectors
	not present(input.catalog[c.name].vendor.incident_notification)
}

residency_of(name) := r if {
	r := input.catalog[name].vendor.residency
	is_string(r)
} else := "unknown"

# --- Secrets in what is published --------------------------------------------

deny contains finding(
	"secret-in-artifact",
	sprintf("%s in %s at offset %d: %s", [s.rule, s.section, s.offset, s.preview]),
	"remove the secret from the source and rebuild; connectors get their credentials from the host's secret store",
	s.path,
) if {
	some s in input.secrets
}

# --- Compliance scopes the app declares ([app] compliance = [...]) -----------

known_compliance := {"GDPR", "SOC2"}

deny contains finding(
	"gdpr-residency",
	sprintf("GDPR: connector `%s` keeps data in `%s`, not in connector_rules.allowed_residency", [c.name, residency]),
	"use a connector whose residency the platform allows, or drop it",
	sprintf("connectors[%d].name", [i]),
) if {
	"GDPR" in input.app.compliance
	some i, c in input.grants.connectors
	residency := residency_of(c.name)
	not residency in input.platform.connector_rules.allowed_residency
}

deny contains finding(
	"gdpr-ttl",
	sprintf("GDPR: bucket `%s` declares no TTL", [b.bucket]),
	sprintf("set `ttl` on storage[%d] (e.g. ttl = \"30d\"): personal data is kept no longer than needed", [i]),
	sprintf("storage[%d].ttl", [i]),
) if {
	"GDPR" in input.app.compliance
	some i, b in input.grants.storage
	not is_string(b.ttl)
}

deny contains finding(
	"soc2-rollback",
	"SOC2: app.runbook.rollback is missing",
	"add `rollback` to [app] runbook: how to return to the last good version",
	"app.runbook.rollback",
) if {
	"SOC2" in input.app.compliance
	not present(input.app.runbook.rollback)
}

warn contains finding(
	"unknown-compliance",
	sprintf("compliance scope `%s` has no rules in the default policy", [scope]),
	sprintf("use one of %s, or add rules for it to the platform's policies", [concat(", ", sort(known_compliance))]),
	sprintf("app.compliance[%d]", [i]),
) if {
	some i, scope in input.app.compliance
	not scope in known_compliance
}
