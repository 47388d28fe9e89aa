//! Pure rendering: the resolved inputs of a tier in, the complete tree of its system branch out.
//!
//! Room and invariants:
//! - no I/O of any kind: no files, no git, no network, no clock, no environment, no randomness
//!   (the crate does not even depend on anything that could do it);
//! - same inputs, same bytes: every collection is ordered, YAML is written by [`yaml`] only;
//! - names become paths only through [`layout`], after validation; [`tree::check_path`] refuses
//!   anything that could leave the repository;
//! - a problem with one ShopSet is reported for that ShopSet ([`render_shopset`]); the engine
//!   decides what to do with it, the renderer never skips anything silently.

pub mod argo;
pub mod assignment;
pub mod base;
pub mod delivery;
pub mod error;
pub mod inputs;
pub mod isolation;
pub mod kustomize;
pub mod layers;
pub mod layout;
pub mod parallel;
pub mod placement;
mod readme;
pub mod record;
pub mod routing;
pub mod tree;
pub mod yaml;

use std::collections::BTreeMap;

use shopset_crds::names;

/// The version of the rendered layout: it changes whenever the same inputs render to other
/// bytes (2: a tier's shop rows in shards above 256 KiB, the routing table sharded by an
/// estimate of its size; 3: a tier's ShopSets in shards above 512). A commit known to be a
/// rendering of another version is checked again, by rendering it, before it is edited in
/// place.
pub const LAYOUT_VERSION: &str = "3";

pub use error::RenderError;
pub use inputs::TierInputs;
pub use tree::Tree;

/// Checks what the whole tier depends on: its spec ([`validate_tier_spec`]) and the app commit.
///
/// # Errors
/// The first problem found, naming the field.
pub fn validate_tier(inputs: &TierInputs) -> Result<(), RenderError> {
    if let Some(preview) = &inputs.preview {
        // A preview's branch is `preview/pr-<number>`, which no Tier may name.
        let (tier, branch) = (
            shopset_crds::preview::preview_tier(preview.number),
            shopset_crds::preview::preview_branch(preview.number),
        );
        if inputs.tier.name != tier || inputs.tier.spec.branch.as_deref() != Some(&branch) {
            return Err(RenderError::tier(
                &inputs.tier.name,
                "preview",
                format!(
                    "the preview of pull request {} is the tier {tier:?} on the branch {branch:?}",
                    preview.number
                ),
            ));
        }
        let mut spec = inputs.tier.spec.clone();
        spec.branch = None;
        validate_tier_spec(&inputs.tier.name, &spec)?;
    } else {
        validate_tier_spec(&inputs.tier.name, &inputs.tier.spec)?;
    }
    names::commit_id(&inputs.app_commit)
        .map_err(|message| RenderError::tier(&inputs.tier.name, "appCommit", message))
}

/// Checks a Tier's name and spec, before anything is fetched: every name that becomes a path,
/// a branch or an object name, the URLs, and the Application patch against the protected
/// fields.
///
/// # Errors
/// The first problem found, naming the field.
pub fn validate_tier_spec(tier: &str, spec: &shopset_crds::TierSpec) -> Result<(), RenderError> {
    let check = |field: &str, r: Result<(), String>| {
        r.map_err(|message| RenderError::tier(tier, field, message))
    };
    check("metadata.name", names::tier_name(tier))?;
    if let Some(branch) = &spec.branch {
        check("spec.branch", names::dns_label(branch))?;
    }
    if let Some(from) = &spec.promotes_from {
        check("spec.promotesFrom", names::dns_label(from))?;
    }
    check("spec.app.path", names::repo_path(&spec.app.path))?;
    check("spec.app.url", url_without_password(&spec.app.url))?;
    check("spec.system.url", url_without_password(&spec.system.url))?;
    if let Some(secret) = &spec.app.secret_ref {
        check("spec.app.secretRef.name", names::secret_name(&secret.name))?;
    }
    if let Some(secret) = &spec.system.secret_ref {
        check(
            "spec.system.secretRef.name",
            names::secret_name(&secret.name),
        )?;
    }
    check(
        "spec.argocd.namespace",
        names::dns_label(&spec.argocd.namespace),
    )?;
    if let Some(routing) = &spec.routing {
        check(
            "spec.routing.namespace",
            names::dns_label(&routing.namespace),
        )?;
        let d = &routing.destination;
        if d.name.is_some() == d.server.is_some() {
            return Err(RenderError::tier(
                tier,
                "spec.routing.destination",
                "set exactly one of name and server",
            ));
        }
        let app = format!("{}routing-{tier}", names::ROOT_APPLICATION_PREFIX);
        if app.len() > 63 {
            return Err(RenderError::tier(
                tier,
                "metadata.name",
                format!(
                    "with spec.routing, the routing Application {app} must fit Argo CD's \
                     63-character label values: use a tier name of at most {} characters",
                    63 - (app.len() - tier.len())
                ),
            ));
        }
    }
    if spec.safety.max_removals.percent > 100 {
        return Err(RenderError::tier(
            tier,
            "spec.safety.maxRemovals.percent",
            format!(
                "expected a percentage from 0 to 100, got {}",
                spec.safety.max_removals.percent
            ),
        ));
    }
    if let Some(patch) = &spec.argocd.application_patch {
        if !patch.is_object() {
            return Err(RenderError::tier(
                tier,
                "spec.argocd.applicationPatch",
                "expected an object (a JSON merge patch)",
            ));
        }
        argo::check_application_patch(patch, &spec.argocd.application_patch_allows).map_err(
            |(field, message)| {
                RenderError::tier(
                    tier,
                    format!("spec.argocd.applicationPatch.{field}"),
                    message,
                )
            },
        )?;
    }
    if let Some(policy) = &spec.argocd.sync_policy
        && !policy.is_object()
    {
        return Err(RenderError::tier(
            tier,
            "spec.argocd.syncPolicy",
            "expected an object",
        ));
    }
    Ok(())
}

/// Refuses URLs that carry a password: credentials belong in a Secret, never in a URL that ends
/// up in `.gitmodules`, Applications and logs.
///
/// # Errors
/// A sentence saying what was expected.
pub fn url_without_password(url: &str) -> Result<(), String> {
    let authority = url
        .split_once("://")
        .map_or("", |(_, rest)| rest.split('/').next().unwrap_or(""));
    match authority.rsplit_once('@') {
        Some((userinfo, _)) if userinfo.contains(':') => Err(
            "expected a URL without a password; put credentials in the Secret named by secretRef"
                .to_owned(),
        ),
        _ if url.is_empty() => Err("expected a repository URL".to_owned()),
        _ => Ok(()),
    }
}

/// Renders one ShopSet of the tier: its overlay files and its Application.
///
/// # Errors
/// A problem with the ShopSet, its configuration or its failure domain.
pub fn render_shopset(
    inputs: &TierInputs,
    name: &str,
) -> Result<Vec<(String, Vec<u8>)>, RenderError> {
    render_shopset_checked(inputs, name, None)
}

/// [`render_shopset`], and, when `base` is given, a check of the merged settings against what
/// the base at the app commit holds ([`base::check`]): a setting that names something the
/// base lacks is an error instead of a commit that fails later in Argo CD. The bytes are the
/// same either way.
///
/// # Errors
/// As [`render_shopset`], and what [`base::check`] finds.
pub fn render_shopset_checked(
    inputs: &TierInputs,
    name: &str,
    base: Option<&base::BaseCatalog>,
) -> Result<Vec<(String, Vec<u8>)>, RenderError> {
    render_shopset_with(inputs, name, base, &inputs::hosts_of(&inputs.shops, name))
}

/// [`render_shopset_checked`], given the hosts the ShopSet lists
/// ([`inputs::hosts_by_shop_set`], computed once for a whole tier).
///
/// # Errors
/// The Deployments a ShopSet's settings release by canary, on any of its sides
/// ([`delivery::progressive`]). Cheap for a ShopSet none of whose layers mentions progressive
/// delivery: nothing is merged. A ShopSet whose settings do not merge has none (its render
/// reports why).
#[must_use]
pub fn progressive_workloads(
    inputs: &TierInputs,
    name: &str,
) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    let Some(placed) = inputs.shop_sets.get(name) else {
        return out;
    };
    let Some(config) = inputs.configurations.get(&placed.spec.configuration) else {
        return out;
    };
    for side in placed.sides(name) {
        let mut layers = vec![&config.document];
        if let Some(domain) = inputs.failure_domains.get(&side.failure_domain) {
            layers.extend(domain.config.as_ref());
        }
        layers.extend(placed.spec.overrides.as_deref());
        if !delivery::mentioned(&layers) {
            continue;
        }
        if let Ok(settings) = layers::effective(&layers, placed.spec.maintenance) {
            out.extend(delivery::progressive(&settings));
        }
    }
    out
}

/// As [`render_shopset_checked`].
pub fn render_shopset_with(
    inputs: &TierInputs,
    name: &str,
    base: Option<&base::BaseCatalog>,
    hosts: &[&str],
) -> Result<Vec<(String, Vec<u8>)>, RenderError> {
    let err = |field: &str, message: String| RenderError::shopset(name, field, message);
    names::dns_label(name).map_err(|m| err("metadata.name", m))?;
    let placed = inputs
        .shop_sets
        .get(name)
        .ok_or_else(|| err("metadata.name", "not in the tier's inputs".into()))?;
    let spec = &placed.spec;
    if spec.tier != inputs.tier.name {
        return Err(err(
            "spec.tier",
            format!("expected {:?}, the tier being rendered", inputs.tier.name),
        ));
    }
    let namespace = spec.namespace.as_deref().unwrap_or(name);
    names::dns_label(namespace).map_err(|m| err("spec.namespace", m))?;
    let config = inputs
        .configurations
        .get(&spec.configuration)
        .ok_or_else(|| {
            err(
                "spec.configuration",
                format!("configuration {:?} does not exist", spec.configuration),
            )
        })?;
    let mut files = Vec::new();
    for side in placed.sides(name) {
        let domain = inputs
            .failure_domains
            .get(&side.failure_domain)
            .ok_or_else(|| {
                let field = if side.failure_domain == placed.failure_domain {
                    "spec.failureDomain"
                } else {
                    "migration.to"
                };
                err(
                    field,
                    format!("failure domain {:?} does not exist", side.failure_domain),
                )
            })?;
        let mut layers = vec![&config.document];
        layers.extend(domain.config.as_ref());
        layers.extend(spec.overrides.as_deref());
        let settings = layers::effective(&layers, spec.maintenance).map_err(|m| {
            err(
                "spec.overrides",
                format!("the merged configuration is not valid: {m}"),
            )
        })?;
        if let Some(base) = base {
            base::check(name, &settings, base)?;
        }
        let labels = BTreeMap::from([
            ("shopset.dev/shopset", name),
            ("shopset.dev/tier", inputs.tier.name.as_str()),
            ("shopset.dev/configuration", spec.configuration.as_str()),
            ("shopset.dev/failure-domain", side.failure_domain.as_str()),
        ]);
        let dir = layout::side_dir(name, &side.name);
        files.extend(
            kustomize::overlay(&kustomize::Overlay {
                shopset: name,
                dir: &dir,
                standby: side.standby,
                deadline: side.deadline,
                edge: inputs
                    .tier
                    .spec
                    .routing
                    .as_ref()
                    .map(|r| r.namespace.as_str()),
                namespace,
                labels,
                app_path: &inputs.tier.spec.app.path,
                settings: &settings,
                hosts,
                tier: &inputs.tier.name,
                failure_domain: &side.failure_domain,
                rollouts_leaving: &placed.rollouts_leaving,
                asleep: inputs.preview.as_ref().is_some_and(|p| p.asleep),
            })
            .map_err(|e| match e {
                RenderError::ShopSet {
                    shopset,
                    field,
                    message,
                } => RenderError::ShopSet {
                    shopset,
                    field: format!(
                        "configuration {:?} + overrides: {field}",
                        spec.configuration
                    ),
                    message,
                },
                other => other,
            })?,
        );
        let app = argo::shopset_application(
            inputs,
            &argo::AppParams {
                shopset: name,
                name: &side.name,
                path: &dir,
                side: (side.name != name).then_some(side.failure_domain.as_str()),
                namespace,
                namespace_rendered: isolation::renders_namespace(&settings),
                ignored_replicas: delivery::ignored_replicas(&settings, &placed.rollouts_leaving),
                destination: &domain.destination,
                suspend: spec.suspend,
                maintenance: spec.maintenance,
                deletion: spec.workload_deletion,
            },
        );
        files.push((
            layout::side_application_file(name, &side.name),
            yaml::to_string(&app).into_bytes(),
        ));
    }
    for (path, _) in &files {
        tree::check_path(path)?;
    }
    Ok(files)
}

/// Renders the complete tree of the tier's branch.
///
/// # Errors
/// A problem with the tier, or with any ShopSet (the engine removes or replaces failing ShopSets
/// before calling this, using [`render_shopset`]).
pub fn render_tier(inputs: &TierInputs) -> Result<Tree, RenderError> {
    let mut tree = render_common(inputs)?;
    let hosts = inputs::hosts_by_shop_set(&inputs.shops);
    for name in inputs.shop_sets.keys() {
        let listed = hosts.get(name.as_str()).map_or(&[][..], Vec::as_slice);
        for (path, bytes) in render_shopset_with(inputs, name, None, listed)? {
            tree.insert(path, bytes)?;
        }
    }
    Ok(tree)
}

/// Everything of the tier's tree that is not a ShopSet's own: the Application lists, the root
/// Application, `.gitmodules` and the `base` gitlink, the recorded inputs and the README.
/// [`render_tier`] is this plus [`render_shopset`] of every ShopSet; the engine uses the two
/// parts to update a large tree without rendering the ShopSets that did not change.
///
/// # Errors
/// A problem with the tier.
pub fn render_common(inputs: &TierInputs) -> Result<Tree, RenderError> {
    render_common_with(inputs, &Touched::default())
}

/// What an edit touches, for [`render_common_with`]: `None` is everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Touched<'a> {
    /// The shards (hash prefixes) whose Application lists gained or lost a ShopSet.
    pub application_shards: Option<&'a std::collections::BTreeSet<String>>,
    /// The shards (hash prefixes of shop names) holding a shop row that changed: of a sharded
    /// record or routing table, only their files are written.
    pub shop_shards: Option<&'a std::collections::BTreeSet<String>>,
    /// The shards (hash prefixes of ShopSet names) holding a recorded ShopSet entry that
    /// changed: of a sharded record, only their files are written.
    pub shop_set_shards: Option<&'a std::collections::BTreeSet<String>>,
}

/// [`render_common`], with only the parts `touched` names: an edit that adds or removes no
/// ShopSet of a shard leaves that shard's Application list as it was, and one that changes no
/// shop row of a shard leaves that shard's files of rows as they were.
///
/// # Errors
/// As [`render_common`].
pub fn render_common_with(inputs: &TierInputs, touched: &Touched<'_>) -> Result<Tree, RenderError> {
    let shards = touched.application_shards;
    validate_tier(inputs)?;
    let mut tree = Tree::default();
    let spec = &inputs.tier.spec;
    for (path, value) in argo::applications_kustomizations(inputs, shards) {
        tree.insert(path, yaml::to_string(&value))?;
    }
    tree.insert(
        layout::bootstrap_file(&inputs.tier.name),
        yaml::to_string(&argo::root_application(inputs)),
    )?;
    if let Some(project) = argo::app_project(inputs) {
        tree.insert(
            format!("{}/{}", layout::APPLICATIONS, argo::PROJECT_FILE),
            yaml::to_string(&project),
        )?;
    }
    tree.insert(
        ".gitmodules".to_owned(),
        format!(
            "[submodule \"{base}\"]\n\tpath = {base}\n\turl = {url}\n\tbranch = {branch}\n",
            base = layout::BASE,
            url = spec.app.url,
            branch = inputs.branch(),
        ),
    )?;
    tree.insert_gitlink(layout::BASE.to_owned(), inputs.app_commit.clone())?;
    let recorded = record::TouchedShards {
        shops: touched.shop_shards,
        shop_sets: touched.shop_set_shards,
    };
    for (path, text) in record::files(inputs, recorded) {
        tree.insert(path, text)?;
    }
    tree.insert("README.md".to_owned(), readme::readme(inputs))?;
    for (path, bytes) in routing::from_inputs_with(inputs, touched.shop_shards) {
        tree.insert(path, bytes)?;
    }
    Ok(tree)
}

/// `.shopset/inputs.yaml` for these inputs.
///
/// Written as indented JSON, which is YAML too: the file is machine-written and machine-read on
/// every sync, and at 10,000 ShopSets a YAML parse of it cost ten times a JSON parse (measured
/// by the git engine benchmark). Field order is the structs' order and maps are sorted, so the
/// bytes depend only on the inputs.
#[must_use]
pub fn inputs_yaml(inputs: &TierInputs) -> String {
    // About 240 bytes a ShopSet: sized once instead of grown by doubling.
    json_text(inputs, 4096 + 256 * inputs.shop_sets.len())
}

/// `value` as the recorded files are written: indented JSON that is YAML too, ending in a
/// newline; `capacity` is a guess of its size.
pub(crate) fn json_text<T: serde::Serialize + ?Sized>(value: &T, capacity: usize) -> String {
    let mut bytes = Vec::with_capacity(capacity);
    let mut writer =
        serde_json::Serializer::with_formatter(&mut bytes, YamlSafeJson(PrettyFormatter::new()));
    value.serialize(&mut writer).expect("inputs are JSON");
    bytes.push(b'\n');
    String::from_utf8(bytes).expect("JSON is UTF-8")
}

use serde_json::ser::{Formatter, PrettyFormatter};

/// Characters JSON may hold raw but YAML may not (outside YAML 1.2's printable set: DEL, the
/// C1 controls, U+FFFE and U+FFFF); JSON's control characters below U+0020 are escaped by
/// serde_json already.
fn yaml_unprintable(c: char) -> bool {
    matches!(c, '\u{7f}'..='\u{9f}' | '\u{fffe}' | '\u{ffff}')
}

/// Pretty JSON whose strings are also valid YAML: the characters YAML refuses raw are written
/// as `\uXXXX` escapes, which JSON and YAML read alike. (The fuzz target `inputs` found a
/// DEL in a patch target written raw, which made `.shopset/inputs.yaml` unreadable as YAML.)
struct YamlSafeJson<'a>(PrettyFormatter<'a>);

impl Formatter for YamlSafeJson<'_> {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut rest = fragment;
        while let Some(at) = rest.find(yaml_unprintable) {
            let (raw, tail) = rest.split_at(at);
            writer.write_all(raw.as_bytes())?;
            let mut chars = tail.chars();
            if let Some(c) = chars.next() {
                write!(writer, "\\u{:04x}", u32::from(c))?;
            }
            rest = chars.as_str();
        }
        writer.write_all(rest.as_bytes())
    }

    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_array(w)
    }

    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array(w)
    }

    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_array_value(w, first)
    }

    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array_value(w)
    }

    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object(w)
    }

    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object(w)
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_object_key(w, first)
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object_value(w)
    }

    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object_value(w)
    }
}

/// Largest recorded inputs accepted, in bytes (the file is written by the product).
pub const MAX_INPUTS_BYTES: usize = 512 * 1024 * 1024;

/// Reads `.shopset/inputs.yaml` (JSON as written by [`inputs_yaml`], or any YAML of the same
/// shape, for files written by hand).
///
/// # Errors
/// Not JSON or YAML, or not the shape of [`TierInputs`] (the message names the place).
pub fn parse_inputs(text: &str) -> Result<TierInputs, String> {
    let inputs: TierInputs = if text.trim_start().starts_with('{') {
        if text.len() > MAX_INPUTS_BYTES {
            return Err(format!(
                "{} bytes is more than the limit of {MAX_INPUTS_BYTES}",
                text.len()
            ));
        }
        serde_json::from_str(text).map_err(|e| e.to_string())?
    } else {
        let value = yaml::parse(text).map_err(|e| e.to_string())?;
        serde_json::from_value(value).map_err(|e| e.to_string())?
    };
    if inputs.kind != inputs::INPUTS_KIND {
        return Err(format!(
            "expected kind {:?}, got {:?}",
            inputs::INPUTS_KIND,
            inputs.kind
        ));
    }
    Ok(inputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_inputs_are_yaml_too_whatever_the_strings_hold() {
        // Characters JSON writes raw but YAML refuses: the file must stay readable as YAML.
        let odd = "a\u{7f}b\u{85}c\u{9f}d\u{fffe}e\u{ffff}f\u{a0}g\u{1f}h\"i\\j";
        let mut inputs = parse_inputs(
            r#"{"apiVersion": "shopset.dev/v1alpha1", "kind": "RenderInputs", "appCommit": "x",
                "tier": {"name": "t", "spec": {"app": {"url": "u", "path": "p"},
                "system": {"url": "s"}, "argocd": {"namespace": "argocd", "project": "default"}}}}"#,
        )
        .expect("minimal inputs");
        inputs.app_commit = odd.to_owned();
        let text = inputs_yaml(&inputs);
        assert!(
            text.contains(r"a\u007fb\u0085c\u009fd\ufffee\uffff"),
            "{text}"
        );
        assert!(
            text.contains("f\u{a0}g"),
            "printable characters stay raw: {text}"
        );
        let as_yaml = yaml::parse(&text).expect("the recorded inputs are YAML");
        let as_json: serde_json::Value = serde_json::from_str(&text).expect("and JSON");
        assert_eq!(as_yaml, as_json);
        assert_eq!(as_json["appCommit"], odd);
        assert_eq!(parse_inputs(&text).expect("read back"), inputs);
    }

    #[test]
    fn a_tier_that_names_its_edge_gets_a_routing_application_when_it_has_shops() {
        let spec: shopset_crds::TierSpec = serde_json::from_value(serde_json::json!({
            "app": {"url": "/a"}, "system": {"url": "/s"},
            "routing": {"destination": {"name": "edge"}, "namespace": "router"},
        }))
        .expect("a spec");
        let mut inputs = TierInputs::new("tier-0".into(), spec, "1".repeat(40));
        let file = format!(
            "{}/{}",
            layout::APPLICATIONS,
            argo::ROUTING_APPLICATION_FILE
        );
        assert!(
            !render_common(&inputs)
                .expect("renders")
                .files
                .contains_key(&file),
            "no shops, no routing Application"
        );
        inputs.shops.insert(
            "acme".into(),
            inputs::AssignedShop {
                shop_set: "s".into(),
                epoch: 0,
                by: shopset_crds::AssignedBy::Rule,
                hosts: vec!["acme.example.com".into()],
                weight: 1,
                warming: None,
                draining: None,
            }
            .into(),
        );
        let tree = render_common(&inputs).expect("renders");
        let app =
            yaml::parse(std::str::from_utf8(&tree.files[&file]).expect("UTF-8")).expect("YAML");
        assert_eq!(app["metadata"]["name"], "shopset-routing-tier-0");
        assert_eq!(app["spec"]["source"]["path"], "routing");
        assert_eq!(app["spec"]["destination"]["name"], "edge");
        assert_eq!(app["spec"]["destination"]["namespace"], "router");
        let listed = yaml::parse(
            std::str::from_utf8(&tree.files["applications/kustomization.yaml"]).expect("UTF-8"),
        )
        .expect("YAML");
        assert!(
            listed["resources"]
                .as_array()
                .expect("resources")
                .iter()
                .any(|r| r == "routing.yaml"),
            "{listed}"
        );
        let mut wrong = inputs.tier.spec.clone();
        wrong.routing.as_mut().expect("routing").destination.server = Some("https://x".into());
        assert!(validate_tier_spec("tier-0", &wrong).is_err());
    }
}
