# Tests of the default publish policy (`warden policy test` runs them; so
# does the project's test suite).
package warden.publish_test

import rego.v1

import data.warden.publish

# A deploy that should go live: every field filled, nothing beyond its template.
base := {
	"request": {"who": "ops", "role": "admin", "time": "2026-12-01T00:00:00Z", "dry_run": false},
	"app": {
		"name": "expenses",
		"version": "1.0.0",
		"owner": "ada",
		"team": "finance-tools",
		"cost_center": "cc-42",
		"runbook": {"contact": "oncall@example.com", "kill_switch": null, "rollback": null},
		"template": "dashboard",
		"compliance": [],
	},
	"grants": {
		"connectors": [{"name": "crm", "scopes": ["read"]}],
		"hosts": [],
		"storage": [{"bucket": "cache", "class": "internal", "ttl": "1d"}],
		"limits": {},
		"quota": {},
	},
	"template": {
		"name": "dashboard",
		"exists": true,
		"bounds": {
			"connectors": [{"name": "crm", "scopes": ["read"]}],
			"allowed_hosts": [],
			"max_class": "confidential",
		},
	},
	"catalog": {"crm": {
		"max_class": "confidential",
		"tags": [],
		"vendor": {"dpa": true, "residency": "eu", "incident_notification": "72h"},
		"scopes": {"read": {"writes": false}, "write": {"writes": true}},
	}},
	"secrets": [],
	"previous": null,
	"platform": {
		"approval_classes": [],
		"connector_rules": {"require_dpa": false, "allowed_residency": [], "require_incident_notification": false},
		"thresholds": {"limits": {"fuel": 100000000}, "quota": {}},
	},
}

ids(set) := {f.id | some f in set}

test_a_complete_deploy_within_its_template_goes_live if {
	count(publish.deny) == 0 with input as base
	count(publish.needs_approval) == 0 with input as base
	count(publish.warn) == 0 with input as base
}

test_missing_owner_team_cost_center_and_runbook_are_denied if {
	app := object.union(base.app, {"owner": null, "team": "", "cost_center": null, "runbook": {"contact": null}})
	denied := publish.deny with input as object.union(base, {"app": app})
	paths := {f.path | some f in denied}
	paths == {"app.owner", "app.team", "app.cost_center", "app.runbook.contact"}
}

test_a_scope_outside_the_template_needs_approval if {
	grants := object.union(base.grants, {"connectors": [{"name": "crm", "scopes": ["read", "write"]}]})
	held := publish.needs_approval with input as object.union(base, {"grants": grants})
	some f in held
	f.id == "outside-template"
	f.msg == "connector `crm` scope `write` is not in template `dashboard`"
	f.path == "connectors[0].scopes"
}

test_without_a_template_every_grant_needs_a_reviewer if {
	template := {"name": null, "exists": false, "bounds": {"connectors": [], "allowed_hosts": [], "max_class": "internal"}}
	grants := object.union(base.grants, {"hosts": ["https://x.example"]})
	held := publish.needs_approval with input as object.union(base, {"template": template, "grants": grants})
	msgs := {f.msg | some f in held}
	"connector `crm` needs a reviewer: the app names no template that allows it" in msgs
	"egress host `https://x.example` needs a reviewer: the app names no template that allows it" in msgs
}

test_an_unknown_template_is_named if {
	template := {"name": "gone", "exists": false, "bounds": {"connectors": [], "allowed_hosts": [], "max_class": "internal"}}
	held := publish.needs_approval with input as object.union(base, {"template": template})
	"unknown-template" in ids(held)
}

test_regulated_storage_needs_approval if {
	grants := object.union(base.grants, {"storage": [{"bucket": "hr", "class": "regulated", "ttl": "1d"}]})
	template := object.union(base.template, {"bounds": object.union(base.template.bounds, {"max_class": "regulated"})})
	held := publish.needs_approval with input as object.union(base, {"grants": grants, "template": template})
	ids(held) == {"regulated-storage"}
}

test_data_above_the_template_class_needs_approval_for_both_reasons if {
	grants := object.union(base.grants, {"storage": [{"bucket": "hr", "class": "regulated", "ttl": "1d"}]})
	held := publish.needs_approval with input as object.union(base, {"grants": grants})
	ids(held) == {"outside-template", "regulated-storage"}
	some f in held
	f.msg == "bucket `hr` holds regulated data; template `dashboard` allows up to confidential"
}

# Waiving the template rule leaves the data rule standing.
test_regulated_storage_needs_approval_whatever_the_template_says if {
	grants := object.union(base.grants, {"storage": [{"bucket": "hr", "class": "regulated", "ttl": "1d"}]})
	held := publish.needs_approval with input as object.union(base, {"grants": grants})
	"regulated-storage" in ids(held)
}

test_a_connector_listed_twice_is_one_connector if {
	twice := [{"name": "crm", "scopes": ["read"]}, {"name": "crm", "scopes": ["write"]}]
	grants := object.union(base.grants, {"connectors": twice})
	previous := {"version": "0.9.0", "grants": object.union(base.grants, {"connectors": twice})}
	template := object.union(base.template, {"bounds": object.union(base.template.bounds, {"connectors": twice})})
	count(publish.needs_approval) == 0 with input as object.union(base, {"grants": grants, "previous": previous, "template": template})
}

test_a_write_scope_on_an_hr_connector_needs_approval if {
	catalog := {"crm": object.union(base.catalog.crm, {"tags": ["hr"]})}
	grants := object.union(base.grants, {"connectors": [{"name": "crm", "scopes": ["write"]}]})
	template := object.union(base.template, {"bounds": object.union(base.template.bounds, {"connectors": [{"name": "crm", "scopes": ["write"]}]})})
	held := publish.needs_approval with input as object.union(base, {"catalog": catalog, "grants": grants, "template": template})
	ids(held) == {"sensitive-write"}
}

test_a_read_scope_on_an_hr_connector_goes_live if {
	catalog := {"crm": object.union(base.catalog.crm, {"tags": ["hr"]})}
	count(publish.needs_approval) == 0 with input as object.union(base, {"catalog": catalog})
}

test_limits_above_the_threshold_need_approval if {
	grants := object.union(base.grants, {"limits": {"fuel": 500000000}})
	held := publish.needs_approval with input as object.union(base, {"grants": grants})
	[f] := [x | some x in held]
	f.id == "above-threshold"
	f.path == "limits.fuel"
}

test_a_data_threshold_overrides_the_platform_default if {
	grants := object.union(base.grants, {"limits": {"fuel": 500000000}})
	held := publish.needs_approval with input as object.union(base, {"grants": grants})
		with data.thresholds as {"limits": {"fuel": 1000000000}}
	count(held) == 0
}

test_a_grant_the_live_version_lacks_needs_approval if {
	previous := {"version": "0.9.0", "grants": {"connectors": [], "hosts": [], "storage": [{"bucket": "cache", "class": "internal"}]}}
	held := publish.needs_approval with input as object.union(base, {"previous": previous})
	[f] := [x | some x in held]
	f.id == "new-grant"
	f.msg == "connector `crm` is new since version 0.9.0"
}

test_a_retired_app_coming_back_needs_approval_even_with_the_same_grants if {
	previous := {"version": "0.9.0", "status": "retired", "grants": base.grants}
	held := publish.needs_approval with input as object.union(base, {"previous": previous})
	[f] := [x | some x in held]
	f.id == "retired-app"
	f.path == "app.name"
}

test_the_same_grants_as_the_live_version_go_live if {
	previous := {"version": "0.9.0", "grants": base.grants}
	count(publish.needs_approval) == 0 with input as object.union(base, {"previous": previous})
}

test_vendor_terms_the_platform_requires_are_denied if {
	rules := {"require_dpa": true, "allowed_residency": ["us"], "require_incident_notification": true}
	catalog := {"crm": object.union(base.catalog.crm, {"vendor": {"dpa": false, "residency": "eu", "incident_notification": null}})}
	platform := object.union(base.platform, {"connector_rules": rules})
	denied := publish.deny with input as object.union(base, {"platform": platform, "catalog": catalog})
	count([f | some f in denied; f.id == "vendor-terms"]) == 3
}

test_a_secret_finding_is_denied if {
	secret := {"rule": "aws-access-key", "section": "data segment 1", "offset": 1024, "preview": "AKIA…(redacted)", "path": "component"}
	denied := publish.deny with input as object.union(base, {"secrets": [secret]})
	ids(denied) == {"secret-in-artifact"}
}

test_gdpr_needs_allowed_residency_and_ttls if {
	app := object.union(base.app, {"compliance": ["GDPR"]})
	grants := object.union(base.grants, {"storage": [{"bucket": "cache", "class": "internal", "ttl": null}]})
	denied := publish.deny with input as object.union(base, {"app": app, "grants": grants})
	ids(denied) == {"gdpr-residency", "gdpr-ttl"}
}

test_gdpr_is_met_with_an_allowed_region_and_ttls if {
	app := object.union(base.app, {"compliance": ["GDPR"]})
	rules := object.union(base.platform.connector_rules, {"allowed_residency": ["eu"]})
	platform := object.union(base.platform, {"connector_rules": rules})
	count(publish.deny) == 0 with input as object.union(base, {"app": app, "platform": platform})
}

test_an_unknown_compliance_scope_warns if {
	app := object.union(base.app, {"compliance": ["HIPAA"]})
	warned := publish.warn with input as object.union(base, {"app": app})
	ids(warned) == {"unknown-compliance"}
}
