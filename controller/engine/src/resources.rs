//! Reading shopset resources from YAML documents, with errors that name the file, the
//! resource, the field and what was expected. One bad document never hides the others.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde_json::Value;
use shopset_crds::{
    ConfigurationSpec, FailureDomainSpec, MigrationSpec, PreviewPolicySpec, ShopSetSpec, ShopSpec,
    TierSpec, names,
};
use shopset_render::yaml;

/// A resource that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {kind} {name:?}: {field}: {message}")]
pub struct InputError {
    /// The file (or other source) it came from.
    pub file: String,
    /// Its kind, or `document` when unknown.
    pub kind: String,
    /// Its name, or empty when unknown.
    pub name: String,
    /// The field path.
    pub field: String,
    /// What was wrong and what was expected.
    pub message: String,
}

/// A resource and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Sourced<T> {
    /// The file it was read from.
    pub file: String,
    /// Its spec.
    pub spec: T,
}

impl<T> Sourced<T> {
    /// A spec read from `file`.
    #[must_use]
    pub fn new(file: &str, spec: T) -> Self {
        Self {
            file: file.to_owned(),
            spec,
        }
    }
}

/// Every resource read, by kind and name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resources {
    /// Tiers.
    pub tiers: BTreeMap<String, Sourced<TierSpec>>,
    /// Configurations.
    pub configurations: BTreeMap<String, Sourced<ConfigurationSpec>>,
    /// Failure domains.
    pub failure_domains: BTreeMap<String, Sourced<FailureDomainSpec>>,
    /// ShopSets.
    pub shop_sets: BTreeMap<String, Sourced<ShopSetSpec>>,
    /// Shops.
    pub shops: BTreeMap<String, Sourced<ShopSpec>>,
    /// Migrations between failure domains.
    pub migrations: BTreeMap<String, Sourced<MigrationSpec>>,
    /// Preview policies.
    pub preview_policies: BTreeMap<String, Sourced<PreviewPolicySpec>>,
    /// PreviewPolicy annotations (a preview kept until a time), by PreviewPolicy.
    pub preview_annotations: BTreeMap<String, BTreeMap<String, String>>,
    /// The previews among the Tiers, by (synthetic) tier: never read from a file, set by
    /// [`crate::ops::preview`] on the resources it plans a preview with.
    pub previews: BTreeMap<String, shopset_render::inputs::PreviewOf>,
    /// Migration annotations (approved steps), by Migration.
    pub migration_annotations: BTreeMap<String, BTreeMap<String, String>>,
    /// Tier annotations (holds, approvals, confirmations), by Tier.
    pub tier_annotations: BTreeMap<String, BTreeMap<String, String>>,
    /// Placements recorded in ShopSet status (`status.failureDomain`), by ShopSet.
    pub recorded_placements: BTreeMap<String, String>,
    /// Names of resources that were present but invalid, by kind: they are not "removed".
    pub invalid: BTreeMap<&'static str, Vec<String>>,
    /// True when some document could not even be identified (kind and name unknown): then no
    /// ShopSet may be treated as removed.
    pub incomplete: bool,
    /// What went wrong.
    pub errors: Vec<InputError>,
    /// Documents that are not shopset resources (a Namespace beside them, say): not used, and
    /// said so as warnings.
    pub ignored: Vec<InputError>,
    /// Resources defined more than once (by kind and name): no copy is used.
    pub duplicated: std::collections::BTreeSet<(&'static str, String)>,
    /// Argo CD's view of each generated Application, by ShopSet, from the Application
    /// documents beside the resources: what gates a shop's move.
    pub applications: BTreeMap<String, crate::ops::status::AppObservation>,
}

/// The kinds.
pub const KINDS: [&str; 7] = [
    "Tier",
    "Configuration",
    "FailureDomain",
    "ShopSet",
    "Shop",
    "Migration",
    "PreviewPolicy",
];

fn typed<T: DeserializeOwned>(value: &Value, prefix: &str) -> Result<T, (String, String)> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            prefix.to_owned()
        } else {
            format!("{prefix}.{path}")
        };
        let mut message = e.into_inner().to_string();
        if message.contains("expected a string") || message.contains("expected struct") {
            message.push_str(" (quote values that YAML would read as numbers or booleans)");
        }
        (field, message)
    })
}

impl Resources {
    /// Reads every document of a YAML text from `file`.
    pub fn add_text(&mut self, file: &str, text: &str) {
        match yaml::parse_documents(text) {
            Ok(docs) => {
                for doc in docs {
                    self.add_document(file, &doc);
                }
            }
            Err(e) => {
                self.incomplete = true;
                self.errors.push(InputError {
                    file: file.to_owned(),
                    kind: "document".into(),
                    name: String::new(),
                    field: "(YAML)".into(),
                    message: e.to_string(),
                });
            }
        }
    }

    /// Records a file that could not be read: the set is then incomplete.
    pub fn add_unreadable(&mut self, file: &str, message: &str) {
        self.incomplete = true;
        self.errors.push(InputError {
            file: file.to_owned(),
            kind: "document".into(),
            name: String::new(),
            field: "(file)".into(),
            message: message.to_owned(),
        });
    }

    /// Reads one object, already parsed (from the API server, for example); `file` says where
    /// it came from in errors.
    pub fn add_object(&mut self, file: &str, doc: &Value) {
        self.add_document(file, doc);
    }

    /// Records a problem with a document whose kind or name is unknown: the set is then
    /// incomplete, so nothing it may have held counts as removed.
    fn unidentified(&mut self, file: &str, kind: &str, field: &str, message: String) {
        self.incomplete = true;
        self.errors.push(InputError {
            file: file.to_owned(),
            kind: if kind.is_empty() { "document" } else { kind }.to_owned(),
            name: String::new(),
            field: field.to_owned(),
            message,
        });
    }

    /// Records a problem with a known resource: it is invalid, so it keeps its last rendering.
    fn invalid(
        &mut self,
        file: &str,
        kind: &'static str,
        name: &str,
        field: &str,
        message: String,
    ) {
        let names = self.invalid.entry(kind).or_default();
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
        self.errors.push(InputError {
            file: file.to_owned(),
            kind: kind.to_owned(),
            name: name.to_owned(),
            field: field.to_owned(),
            message,
        });
    }

    /// The file a resource of `kind` named `name` was read from, if it was.
    fn file_of(&self, kind: &str, name: &str) -> Option<&str> {
        match kind {
            "Tier" => self.tiers.get(name).map(|s| s.file.as_str()),
            "Configuration" => self.configurations.get(name).map(|s| s.file.as_str()),
            "FailureDomain" => self.failure_domains.get(name).map(|s| s.file.as_str()),
            "Shop" => self.shops.get(name).map(|s| s.file.as_str()),
            "Migration" => self.migrations.get(name).map(|s| s.file.as_str()),
            "PreviewPolicy" => self.preview_policies.get(name).map(|s| s.file.as_str()),
            _ => self.shop_sets.get(name).map(|s| s.file.as_str()),
        }
    }

    /// Forgets a resource read before (it turned out to be defined twice).
    fn forget(&mut self, kind: &str, name: &str) {
        match kind {
            "Tier" => {
                self.tiers.remove(name);
                self.tier_annotations.remove(name);
            }
            "Configuration" => {
                self.configurations.remove(name);
            }
            "FailureDomain" => {
                self.failure_domains.remove(name);
            }
            "Shop" => {
                self.shops.remove(name);
            }
            "Migration" => {
                self.migrations.remove(name);
                self.migration_annotations.remove(name);
            }
            "PreviewPolicy" => {
                self.preview_policies.remove(name);
                self.preview_annotations.remove(name);
            }
            _ => {
                self.shop_sets.remove(name);
                self.recorded_placements.remove(name);
            }
        }
    }

    fn add_document(&mut self, file: &str, doc: &Value) {
        let Value::Object(object) = doc else {
            // An empty document (a trailing `---`) holds nothing; anything else is a mistake.
            if !doc.is_null() {
                self.unidentified(
                    file,
                    "",
                    "(document)",
                    format!(
                        "expected a resource (a mapping with apiVersion, kind and metadata), got {}",
                        describe(doc)
                    ),
                );
            }
            return;
        };
        let text = |key: &str| object.get(key).and_then(Value::as_str).unwrap_or_default();
        let (api_version, kind) = (text("apiVersion"), text("kind"));
        let name = doc
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        // What `kubectl get -o yaml` prints: a List whose items are the resources.
        if kind.ends_with("List") && object.contains_key("items") {
            match object.get("items") {
                Some(Value::Array(items)) => {
                    for item in items {
                        self.add_document(file, item);
                    }
                }
                Some(Value::Null) => {}
                Some(other) => self.unidentified(
                    file,
                    kind,
                    "items",
                    format!("expected a list of resources, got {}", describe(other)),
                ),
                None => {}
            }
            return;
        }
        if api_version.is_empty() || kind.is_empty() {
            let missing = if api_version.is_empty() {
                "apiVersion"
            } else {
                "kind"
            };
            self.unidentified(
                file,
                kind,
                missing,
                format!(
                    "expected a Kubernetes object with apiVersion and kind; {missing} is missing"
                ),
            );
            return;
        }
        let ours = api_version == shopset_crds::API_VERSION;
        let kind_static = KINDS.iter().find(|k| **k == kind).copied();
        let kind_static = match (ours, kind_static) {
            (true, Some(kind)) => kind,
            (true, None) => {
                self.unidentified(
                    file,
                    kind,
                    "kind",
                    format!("expected one of {KINDS:?}, got {kind:?}"),
                );
                return;
            }
            (false, _) if api_version.starts_with(shopset_crds::GROUP) || kind_static.is_some() => {
                self.unidentified(
                    file,
                    kind,
                    "apiVersion",
                    format!(
                        "expected {:?}, got {api_version:?}",
                        shopset_crds::API_VERSION
                    ),
                );
                return;
            }
            (false, _) => {
                // Another object (a Namespace, a Secret) beside ours. Argo CD Applications are
                // read for status; anything else is said, not silently skipped.
                if let Some((shop_set, seen)) = crate::ops::status::application(doc) {
                    self.applications.insert(shop_set, seen);
                } else {
                    self.ignored.push(InputError {
                        file: file.to_owned(),
                        kind: kind.to_owned(),
                        name: name.to_owned(),
                        field: "apiVersion".into(),
                        message: format!("not a shopset resource ({api_version}): ignored"),
                    });
                }
                return;
            }
        };
        if let Err(message) = names::dns_label(name) {
            // The resource it was meant to be is unknown (a misspelt name of a rendered
            // ShopSet, say): nothing may count as removed.
            self.incomplete = true;
            if name.is_empty() {
                self.unidentified(file, kind, "metadata.name", message);
            } else {
                self.invalid(file, kind_static, name, "metadata.name", message);
            }
            return;
        }
        // Defined twice: neither copy is used, so neither can move or remove anything; the
        // last rendering stays until one copy is gone.
        if self.duplicated.contains(&(kind_static, name.to_owned())) {
            self.invalid(
                file,
                kind_static,
                name,
                "metadata.name",
                "defined more than once: none of the copies is used".into(),
            );
            return;
        }
        // The first copy may have been invalid: it was not kept, but it was given all the same,
        // so this one is a second definition too (else an invalid copy and a valid one would
        // let the valid one move the ShopSet, whichever was meant).
        let first = self
            .file_of(kind_static, name)
            .map(str::to_owned)
            .or_else(|| {
                self.errors
                    .iter()
                    .find(|e| e.kind == kind_static && e.name == name)
                    .map(|e| e.file.clone())
            });
        if let Some(first) = first {
            self.forget(kind_static, name);
            self.duplicated.insert((kind_static, name.to_owned()));
            self.invalid(
                file,
                kind_static,
                name,
                "metadata.name",
                format!(
                    "defined twice (also in {first}): neither copy is used, the last rendering is \
                     kept; delete one"
                ),
            );
            return;
        }
        if let Err((field, message)) = self.read_spec(file, kind_static, name, doc) {
            self.invalid(file, kind_static, name, &field, message);
        }
    }

    /// Reads the spec of a resource of one of our kinds, checking every name in it that
    /// becomes a path, a branch or an object name.
    fn read_spec(
        &mut self,
        file: &str,
        kind: &str,
        name: &str,
        doc: &Value,
    ) -> Result<(), (String, String)> {
        let spec = doc.get("spec").cloned().unwrap_or(Value::Null);
        let check = |field: &str, r: Result<(), String>| r.map_err(|m| (field.to_owned(), m));
        match kind {
            "Tier" => {
                let spec: TierSpec = typed(&spec, "spec")?;
                if name.starts_with(PREVIEW_TIER_PREFIX) {
                    return Err((
                        "metadata.name".into(),
                        format!(
                            "names starting with {PREVIEW_TIER_PREFIX:?} belong to the previews \
                             of PreviewPolicies; expected another name"
                        ),
                    ));
                }
                shopset_render::validate_tier_spec(name, &spec).map_err(|e| match e {
                    shopset_render::RenderError::Tier { field, message, .. } => (field, message),
                    other => ("spec".to_owned(), other.to_string()),
                })?;
                self.tier_annotations
                    .insert(name.to_owned(), annotations(doc));
                self.tiers.insert(name.to_owned(), Sourced::new(file, spec));
            }
            "Configuration" => {
                let spec: ConfigurationSpec = typed(&spec, "spec")?;
                if spec.inline.is_some() == spec.source.is_some() {
                    return Err(("spec".into(), "set exactly one of inline and source".into()));
                }
                if let Some(source) = &spec.source {
                    check(
                        "spec.source.url",
                        shopset_render::url_without_password(&source.url),
                    )?;
                    check("spec.source.path", names::repo_path(&source.path))?;
                    if let Some(secret) = &source.secret_ref {
                        check(
                            "spec.source.secretRef.name",
                            names::secret_name(&secret.name),
                        )?;
                    }
                }
                self.configurations
                    .insert(name.to_owned(), Sourced::new(file, spec));
            }
            "FailureDomain" => {
                let spec: FailureDomainSpec = typed(&spec, "spec")?;
                // What the schema says (admission checks it; a file has no admission).
                if !(1..=1000).contains(&spec.weight) {
                    return Err((
                        "spec.weight".into(),
                        format!("expected a weight from 1 to 1000, got {}", spec.weight),
                    ));
                }
                if let Some(capacity) = spec.capacity.filter(|c| *c < 0) {
                    return Err((
                        "spec.capacity".into(),
                        format!("expected a capacity of 0 or more, got {capacity}"),
                    ));
                }
                if spec.destination.name.is_some() == spec.destination.server.is_some() {
                    return Err((
                        "spec.destination".into(),
                        "set exactly one of name and server".into(),
                    ));
                }
                self.failure_domains
                    .insert(name.to_owned(), Sourced::new(file, spec));
            }
            "Migration" => {
                let spec: MigrationSpec = typed(&spec, "spec")?;
                check_migration(&spec)?;
                self.migration_annotations
                    .insert(name.to_owned(), annotations(doc));
                self.migrations
                    .insert(name.to_owned(), Sourced::new(file, spec));
            }
            "PreviewPolicy" => {
                let spec: PreviewPolicySpec = typed(&spec, "spec")?;
                check_preview_policy(&spec)?;
                self.preview_annotations
                    .insert(name.to_owned(), annotations(doc));
                self.preview_policies
                    .insert(name.to_owned(), Sourced::new(file, spec));
            }
            "Shop" => {
                let spec: ShopSpec = typed(&spec, "spec")?;
                check_shop(&spec)?;
                self.shops.insert(name.to_owned(), Sourced::new(file, spec));
            }
            _ => {
                let spec: ShopSetSpec = typed(&spec, "spec")?;
                check("spec.tier", names::dns_label(&spec.tier))?;
                check("spec.configuration", names::dns_label(&spec.configuration))?;
                if let Some(domain) = &spec.failure_domain {
                    check("spec.failureDomain", names::dns_label(domain))?;
                }
                if let Some(namespace) = &spec.namespace {
                    check("spec.namespace", names::dns_label(namespace))?;
                }
                if let Some(shops) = &spec.shops {
                    check("spec.shops.pool", names::dns_label(&shops.pool))?;
                    if let Some(owner) = &shops.dedicated_to {
                        check("spec.shops.dedicatedTo", names::dns_label(owner))?;
                    }
                    if !is_duration(&shops.settle) {
                        return Err((
                            "spec.shops.settle".into(),
                            format!(
                                "expected a duration such as 30s, 5m or 1h30m, got {:?}",
                                shops.settle
                            ),
                        ));
                    }
                    if let Some(upstream) = &shops.upstream
                        && (!(upstream.starts_with("http://") || upstream.starts_with("https://"))
                            || upstream.chars().any(char::is_whitespace)
                            || upstream.len() > 2048)
                    {
                        return Err((
                            "spec.shops.upstream".into(),
                            format!("expected an http:// or https:// URL, got {upstream:?}"),
                        ));
                    }
                }
                if let Some(fd) = doc.pointer("/status/failureDomain").and_then(Value::as_str) {
                    self.recorded_placements
                        .insert(name.to_owned(), fd.to_owned());
                }
                self.shop_sets
                    .insert(name.to_owned(), Sourced::new(file, spec));
            }
        }
        Ok(())
    }

    /// True when the resource of `kind` named `name` was given but is invalid (so it is
    /// neither usable nor absent).
    #[must_use]
    pub fn is_invalid(&self, kind: &str, name: &str) -> bool {
        self.invalid
            .get(kind)
            .is_some_and(|names| names.iter().any(|n| n == name))
    }
}

/// What the Shop schema says (admission checks it; a file has no admission): hosts that are
/// DNS names, given once, wildcards only when allowed; a pool and a pin that are DNS labels; a
/// weight from 1 to 1,000,000.
fn check_shop(spec: &ShopSpec) -> Result<(), (String, String)> {
    if spec.hosts.is_empty() || spec.hosts.len() > 100 {
        return Err((
            "spec.hosts".into(),
            format!("expected 1 to 100 hosts, got {}", spec.hosts.len()),
        ));
    }
    for (i, host) in spec.hosts.iter().enumerate() {
        names::host(host, spec.allow_wildcard_hosts)
            .map_err(|m| (format!("spec.hosts[{i}]"), m))?;
        if spec.hosts[..i].contains(host) {
            return Err((
                format!("spec.hosts[{i}]"),
                format!("{host:?} is given twice"),
            ));
        }
    }
    names::dns_label(&spec.pool).map_err(|m| ("spec.pool".to_owned(), m))?;
    if !(1..=1_000_000).contains(&spec.weight) {
        return Err((
            "spec.weight".into(),
            format!("expected a weight from 1 to 1000000, got {}", spec.weight),
        ));
    }
    if let Some(pin) = &spec.shop_set {
        names::dns_label(pin).map_err(|m| ("spec.shopSet".to_owned(), m))?;
    }
    Ok(())
}

/// What a YAML value is, for messages.
fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Whether `text` is a duration as the schemas write it: `([0-9]+[smh])+` (`0s` included).
/// `metadata.annotations` of a document, the string ones.
fn annotations(doc: &Value) -> BTreeMap<String, String> {
    doc.pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// What the Migration schema checks at admission, for Migrations read from files.
/// The names a preview's synthetic tier starts with (`preview-pr-12`).
pub const PREVIEW_TIER_PREFIX: &str = "preview-pr-";

/// What the PreviewPolicy schema says, for policies read from files.
fn check_preview_policy(spec: &PreviewPolicySpec) -> Result<(), (String, String)> {
    let check = |field: &str, r: Result<(), String>| r.map_err(|m| (field.to_owned(), m));
    check("spec.tier", names::dns_label(&spec.tier))?;
    check("spec.configuration", names::dns_label(&spec.configuration))?;
    if let Some(domain) = &spec.failure_domain {
        check("spec.failureDomain", names::dns_label(domain))?;
    }
    if !spec.host.contains("{{number}}") {
        return Err((
            "spec.host".into(),
            format!(
                "expected a host pattern containing {{{{number}}}} \
                 (pr-{{{{number}}}}.preview.example.com), got {:?}",
                spec.host
            ),
        ));
    }
    check(
        "spec.host",
        names::host(&shopset_crds::preview::preview_host(&spec.host, 1), false),
    )?;
    for (field, value) in [
        ("spec.ttl", &spec.ttl),
        ("spec.idleTtl", &spec.idle_ttl),
        ("spec.keepFor", &spec.keep_for),
        ("spec.source.pollInterval", &spec.source.poll_interval),
    ] {
        if !is_duration(value) {
            return Err((
                field.into(),
                format!("expected a duration such as 30s, 5m or 72h, got {value:?}"),
            ));
        }
    }
    let github = &spec.source.github;
    check(
        "spec.source.github.repository",
        shopset_render::url_without_password(&github.repository),
    )?;
    if let Some(secret) = &github.secret_ref {
        check(
            "spec.source.github.secretRef.name",
            names::secret_name(&secret.name),
        )?;
    }
    if let Some(label) = github.labels.iter().find(|l| l.trim().is_empty()) {
        return Err((
            "spec.source.github.labels".into(),
            format!("expected non-empty labels, got {label:?}"),
        ));
    }
    if !(1..=1000).contains(&spec.max_previews) {
        return Err((
            "spec.maxPreviews".into(),
            format!("expected 1 to 1000, got {}", spec.max_previews),
        ));
    }
    if !(1..=1000).contains(&spec.max_removals_per_poll) {
        return Err((
            "spec.maxRemovalsPerPoll".into(),
            format!("expected 1 to 1000, got {}", spec.max_removals_per_poll),
        ));
    }
    Ok(())
}

fn check_migration(spec: &MigrationSpec) -> Result<(), (String, String)> {
    let check = |field: &str, r: Result<(), String>| r.map_err(|m| (field.to_owned(), m));
    check("spec.from", names::dns_label(&spec.from))?;
    check("spec.to", names::dns_label(&spec.to))?;
    if spec.from == spec.to {
        return Err((
            "spec.to".into(),
            "expected another failure domain than spec.from".into(),
        ));
    }
    for (i, tier) in spec.tiers.iter().enumerate() {
        check(&format!("spec.tiers[{i}]"), names::dns_label(tier))?;
    }
    for (i, name) in spec.shop_sets.iter().enumerate() {
        check(&format!("spec.shopSets[{i}]"), names::dns_label(name))?;
    }
    if spec.max_in_flight == 0 {
        return Err(("spec.maxInFlight".into(), "expected at least 1".into()));
    }
    let mut last = 0;
    for (i, step) in spec.steps.iter().enumerate() {
        if step.percent <= last || step.percent > 100 {
            return Err((
                format!("spec.steps[{i}].percent"),
                format!(
                    "expected a share above the step before ({last}) and at most 100, got {}",
                    step.percent
                ),
            ));
        }
        last = step.percent;
        if let Some(soak) = &step.soak
            && !is_duration(soak)
        {
            return Err((
                format!("spec.steps[{i}].soak"),
                format!("expected a duration such as 30s, 10m or 1h, got {soak:?}"),
            ));
        }
    }
    if !spec.steps.is_empty() && last != 100 {
        return Err((
            format!("spec.steps[{}].percent", spec.steps.len() - 1),
            "the last step must take 100 percent of the selected ShopSets".into(),
        ));
    }
    let mut last = 0;
    for (i, weight) in spec.traffic_weights.iter().enumerate() {
        if *weight <= last || *weight > 99 {
            return Err((
                format!("spec.trafficWeights[{i}]"),
                format!(
                    "expected ascending percentages from 1 to 99 (the switch is the 100), got {weight}"
                ),
            ));
        }
        last = *weight;
    }
    if !is_duration(&spec.handover) {
        return Err((
            "spec.handover".into(),
            format!(
                "expected a duration such as 30s, 10m or 1h, got {:?}",
                spec.handover
            ),
        ));
    }
    if !(10..=86_400).contains(&spec.starting_deadline_seconds) {
        return Err((
            "spec.startingDeadlineSeconds".into(),
            format!(
                "expected 10 to 86400 seconds, got {}",
                spec.starting_deadline_seconds
            ),
        ));
    }
    Ok(())
}

fn is_duration(text: &str) -> bool {
    let mut digits = 0;
    for c in text.chars() {
        match c {
            '0'..='9' => digits += 1,
            's' | 'm' | 'h' if digits > 0 => digits = 0,
            _ => return false,
        }
    }
    !text.is_empty() && digits == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_file_resource_and_field() {
        let mut r = Resources::default();
        r.add_text(
            "a.yaml",
            "apiVersion: shopset.dev/v1alpha1\nkind: ShopSet\nmetadata: {name: good}\nspec: {tier: t, configuration: c}\n---\n\
             apiVersion: shopset.dev/v1alpha1\nkind: ShopSet\nmetadata: {name: bad}\nspec: {tier: t, configuration: c, maintenance: 3}\n---\n\
             apiVersion: v1\nkind: Namespace\nmetadata: {name: other}\n",
        );
        assert!(r.shop_sets.contains_key("good"));
        assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
        let e = &r.errors[0];
        assert_eq!(
            (
                e.file.as_str(),
                e.kind.as_str(),
                e.name.as_str(),
                e.field.as_str()
            ),
            ("a.yaml", "ShopSet", "bad", "spec.maintenance")
        );
        assert!(e.message.contains("expected a boolean"), "{}", e.message);
        assert_eq!(r.invalid["ShopSet"], vec!["bad".to_string()]);
        assert!(!r.incomplete);
    }

    #[test]
    fn shops_are_read_with_their_defaults_and_their_hosts_checked() {
        const SHOP: &str = "apiVersion: shopset.dev/v1alpha1\nkind: Shop\n";
        let mut r = Resources::default();
        r.add_text(
            "shops.yaml",
            &format!(
                "{SHOP}metadata: {{name: plain}}\nspec: {{hosts: [plain.example.com, www.plain.shop]}}\n---\n\
                 {SHOP}metadata: {{name: wild}}\nspec: {{hosts: ['*.wild.example.com']}}\n---\n\
                 {SHOP}metadata: {{name: wild-ok}}\nspec: {{hosts: ['*.ok.example.com'], allowWildcardHosts: true}}\n---\n\
                 {SHOP}metadata: {{name: twice}}\nspec: {{hosts: [a.example.com, a.example.com]}}\n---\n\
                 {SHOP}metadata: {{name: upper}}\nspec: {{hosts: [Shop.example.com]}}\n---\n\
                 {SHOP}metadata: {{name: heavy}}\nspec: {{hosts: [h.example.com], weight: 0}}\n---\n\
                 {SHOP}metadata: {{name: pinned}}\nspec: {{hosts: [p.example.com], shopSet: ss-1, pool: eu, weight: 5}}\n"
            ),
        );
        let plain = &r.shops["plain"].spec;
        assert_eq!(
            (plain.pool.as_str(), plain.weight, plain.isolate),
            ("default", 1, false)
        );
        assert!(r.shops.contains_key("wild-ok"));
        let pinned = &r.shops["pinned"].spec;
        assert_eq!(
            (
                pinned.shop_set.as_deref(),
                pinned.pool.as_str(),
                pinned.weight
            ),
            (Some("ss-1"), "eu", 5)
        );
        let errors: BTreeMap<&str, (&str, &str)> = r
            .errors
            .iter()
            .map(|e| (e.name.as_str(), (e.field.as_str(), e.message.as_str())))
            .collect();
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(
            errors["wild"].1.contains("allowWildcardHosts"),
            "{errors:?}"
        );
        assert_eq!(errors["twice"].0, "spec.hosts[1]");
        assert_eq!(errors["upper"].0, "spec.hosts[0]");
        assert_eq!(errors["heavy"].0, "spec.weight");
        assert!(r.is_invalid("Shop", "wild"));
    }

    #[test]
    fn an_invalid_copy_and_a_valid_one_are_both_unused_in_either_order() {
        // Found by the resources fuzz target: the invalid copy was reported, and the valid one
        // used, so a stale copy could move a ShopSet whose real definition had a typo.
        let invalid = "apiVersion: shopset.dev/v1alpha1\nkind: ShopSet\nmetadata: {name: s}\nspec: {tier: tier-0, configuration: c, maintenance: 3}\n";
        let valid = "apiVersion: shopset.dev/v1alpha1\nkind: ShopSet\nmetadata: {name: s}\nspec: {tier: tier-2, configuration: c}\n";
        for (first, second) in [(invalid, valid), (valid, invalid)] {
            let mut r = Resources::default();
            r.add_text("a.yaml", first);
            r.add_text("b.yaml", second);
            assert!(!r.shop_sets.contains_key("s"), "{first} then {second}");
            assert!(r.is_invalid("ShopSet", "s"));
            assert!(r.duplicated.contains(&("ShopSet", "s".to_owned())));
            let twice = r
                .errors
                .iter()
                .find(|e| e.message.contains("defined twice"));
            let twice = twice.expect("reported as defined twice");
            assert_eq!(
                (twice.file.as_str(), twice.field.as_str()),
                ("b.yaml", "metadata.name")
            );
            assert!(twice.message.contains("a.yaml"), "{}", twice.message);
        }
    }

    #[test]
    fn failure_domain_weights_and_capacities_are_checked_as_the_schema_does() {
        let fd = |extra: &str| {
            format!(
                "apiVersion: shopset.dev/v1alpha1\nkind: FailureDomain\nmetadata: {{name: d}}\nspec: {{destination: {{name: c}}{extra}}}\n"
            )
        };
        for (extra, field) in [
            (", weight: 9223372036854775807", "spec.weight"),
            (", weight: 0", "spec.weight"),
            (", weight: 1001", "spec.weight"),
            (", capacity: -1", "spec.capacity"),
        ] {
            let mut r = Resources::default();
            r.add_text("d.yaml", &fd(extra));
            assert!(r.failure_domains.is_empty(), "{extra}");
            assert_eq!(r.errors.len(), 1, "{extra}: {:?}", r.errors);
            assert_eq!(r.errors[0].field, field);
        }
        for extra in ["", ", weight: 1000, capacity: 0"] {
            let mut r = Resources::default();
            r.add_text("d.yaml", &fd(extra));
            assert!(r.errors.is_empty(), "{extra}: {:?}", r.errors);
        }
    }

    #[test]
    fn unreadable_text_marks_the_set_incomplete() {
        let mut r = Resources::default();
        r.add_text("b.yaml", "a: [unclosed\n");
        assert!(r.incomplete);
        assert_eq!(r.errors[0].file, "b.yaml");
    }
}
