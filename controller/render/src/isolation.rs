//! A ShopSet's isolation in its cluster (`shopset_crds::isolation`): the objects its overlay
//! adds beside the base, each under `isolation/` of the overlay directory and listed in its
//! `resources:`. Every part is on unless a layer switches it off; the defaults are the
//! constants of `shopset_crds::isolation`.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use shopset_crds::ConfigBody;
use shopset_crds::isolation::{
    DEFAULT_EDGE_NAMESPACE, DEFAULT_LIMIT, DEFAULT_QUOTA, DEFAULT_REQUEST, DisruptionBudget,
    Isolation, SharedService,
};
use shopset_crds::names;

use crate::error::RenderError;

/// Name of the generated ResourceQuota, LimitRange and NetworkPolicy.
pub const NAME: &str = "shopset-isolation";

/// Whether the ShopSet's Namespace is rendered (then its Application does not ask Argo CD to
/// create it).
#[must_use]
pub fn renders_namespace(settings: &ConfigBody) -> bool {
    settings
        .isolation
        .as_ref()
        .and_then(|i| i.namespace)
        .unwrap_or(true)
}

/// Whether the default-deny NetworkPolicy is rendered.
#[must_use]
pub fn network_isolated(settings: &ConfigBody) -> bool {
    settings
        .isolation
        .as_ref()
        .and_then(|i| i.network.as_ref())
        .and_then(|n| n.enabled)
        .unwrap_or(true)
}

/// The defaults, as the first configuration layer ([`crate::layers::effective`]): a later
/// layer changes an entry, or removes it with `null`.
#[must_use]
pub fn defaults() -> Value {
    let map = |entries: &[(&str, &str)]| -> Value {
        entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    json!({ "isolation": {
        "quota": { "hard": map(&DEFAULT_QUOTA) },
        "limits": { "defaultRequest": map(&DEFAULT_REQUEST), "default": map(&DEFAULT_LIMIT) },
        "network": { "services": { "dns": dns() } },
    } })
}

/// The entries a merge left (a `null` that removed nothing stays `None`).
fn present(map: &BTreeMap<String, Option<String>>) -> BTreeMap<String, String> {
    map.iter()
        .filter_map(|(k, v)| Some((k.clone(), v.clone()?)))
        .collect()
}

/// A Kubernetes quantity, roughly: digits with an optional fraction and suffix.
fn check_quantity(shopset: &str, field: &str, text: &str) -> Result<(), RenderError> {
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let suffix = &text[digits.len()..];
    let ok = !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && digits.chars().filter(|c| *c == '.').count() <= 1
        && [
            "", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei",
        ]
        .contains(&suffix);
    if ok {
        Ok(())
    } else {
        Err(RenderError::shopset(
            shopset,
            field,
            format!("expected a Kubernetes quantity (`500m`, `2`, `8Gi`), got {text:?}"),
        ))
    }
}

fn quantities(
    shopset: &str,
    field: &str,
    map: &BTreeMap<String, String>,
) -> Result<Value, RenderError> {
    for (k, v) in map {
        check_quantity(shopset, &format!("{field}.{k}"), v)?;
    }
    Ok(json!(map))
}

/// `5432/TCP` → `{port: 5432, protocol: TCP}`.
fn port(shopset: &str, field: &str, text: &str) -> Result<Value, RenderError> {
    let (number, protocol) = text.split_once('/').unwrap_or((text, "TCP"));
    let number: u16 = number.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
        RenderError::shopset(
            shopset,
            field,
            format!("expected a port as 5432/TCP, 53/UDP or 443, got {text:?}"),
        )
    })?;
    if !["TCP", "UDP", "SCTP"].contains(&protocol) {
        return Err(RenderError::shopset(
            shopset,
            field,
            format!("expected the protocol TCP, UDP or SCTP, got {protocol:?}"),
        ));
    }
    Ok(json!({ "port": number, "protocol": protocol }))
}

fn check_cidr(shopset: &str, field: &str, cidr: &str) -> Result<(), RenderError> {
    let ok = cidr.split_once('/').is_some_and(|(address, prefix)| {
        let v4 = address.parse::<std::net::Ipv4Addr>().is_ok();
        let v6 = address.parse::<std::net::Ipv6Addr>().is_ok();
        prefix
            .parse::<u8>()
            .is_ok_and(|p| (v4 && p <= 32) || (v6 && p <= 128))
    });
    if ok {
        Ok(())
    } else {
        Err(RenderError::shopset(
            shopset,
            field,
            format!("expected a CIDR (10.0.5.10/32), got {cidr:?}"),
        ))
    }
}

/// The egress rule to one shared service.
fn service_rule(shopset: &str, name: &str, s: &SharedService) -> Result<Value, RenderError> {
    let field = format!("isolation.network.services.{name}");
    let mut peer = serde_json::Map::new();
    match (&s.namespace, &s.cidr) {
        (Some(ns), None) => {
            names::dns_label(ns)
                .map_err(|m| RenderError::shopset(shopset, format!("{field}.namespace"), m))?;
            peer.insert(
                "namespaceSelector".into(),
                json!({ "matchLabels": { "kubernetes.io/metadata.name": ns } }),
            );
            if !s.pod_labels.is_empty() {
                peer.insert("podSelector".into(), json!({ "matchLabels": s.pod_labels }));
            }
        }
        (None, Some(cidr)) => {
            check_cidr(shopset, &format!("{field}.cidr"), cidr)?;
            peer.insert("ipBlock".into(), json!({ "cidr": cidr }));
        }
        _ => {
            return Err(RenderError::shopset(
                shopset,
                field,
                "expected exactly one of namespace and cidr",
            ));
        }
    }
    let mut rule = json!({ "to": [Value::Object(peer)] });
    if !s.ports.is_empty() {
        let ports = s
            .ports
            .iter()
            .enumerate()
            .map(|(i, p)| port(shopset, &format!("{field}.ports[{i}]"), p))
            .collect::<Result<Vec<_>, _>>()?;
        rule["ports"] = Value::Array(ports);
    }
    Ok(rule)
}

/// The cluster's DNS, allowed by default.
fn dns() -> Value {
    json!({
        "namespace": "kube-system",
        "podLabels": { "k8s-app": "kube-dns" },
        "ports": ["53/UDP", "53/TCP"],
    })
}

fn budget(
    shopset: &str,
    workload: &str,
    b: &DisruptionBudget,
) -> Result<(String, Value), RenderError> {
    let field = format!("isolation.disruptionBudgets.{workload}");
    names::dns_label(workload).map_err(|m| RenderError::shopset(shopset, &field, m))?;
    let amount = |text: &str, which: &str| -> Result<Value, RenderError> {
        if let Some(pct) = text.strip_suffix('%') {
            if pct.parse::<u8>().is_ok_and(|p| p <= 100) {
                return Ok(json!(text));
            }
        } else if let Ok(n) = text.parse::<u32>() {
            return Ok(json!(n));
        }
        Err(RenderError::shopset(
            shopset,
            format!("{field}.{which}"),
            format!("expected a count (1) or a percentage (50%), got {text:?}"),
        ))
    };
    let mut spec = serde_json::Map::new();
    match (&b.min_available, &b.max_unavailable) {
        (Some(min), None) => {
            spec.insert("minAvailable".into(), amount(min, "minAvailable")?);
        }
        (None, Some(max)) => {
            spec.insert("maxUnavailable".into(), amount(max, "maxUnavailable")?);
        }
        _ => {
            return Err(RenderError::shopset(
                shopset,
                field,
                "expected exactly one of minAvailable and maxUnavailable",
            ));
        }
    }
    let selector = if b.selector.is_empty() {
        BTreeMap::from([("app.kubernetes.io/name".to_owned(), workload.to_owned())])
    } else {
        b.selector.clone()
    };
    spec.insert("selector".into(), json!({ "matchLabels": selector }));
    Ok((
        format!("isolation/pdb-{workload}.yaml"),
        json!({
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": { "name": workload },
            "spec": Value::Object(spec),
        }),
    ))
}

/// The isolation objects of one ShopSet's overlay, as (path relative to the overlay, object),
/// in a fixed order. `edge` is the Tier's edge namespace (`spec.routing.namespace`), if any.
///
/// # Errors
/// A setting that would make an invalid object, naming its field.
pub fn objects(
    shopset: &str,
    namespace: &str,
    settings: &ConfigBody,
    edge: Option<&str>,
) -> Result<Vec<(String, Value)>, RenderError> {
    let none = Isolation::default();
    let i = settings.isolation.as_ref().unwrap_or(&none);
    let on = |enabled: Option<bool>| enabled.unwrap_or(true);
    let mut out = Vec::new();
    if renders_namespace(settings) {
        out.push((
            "isolation/namespace.yaml".to_owned(),
            json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": namespace } }),
        ));
    }
    let quota = i.quota.clone().unwrap_or_default();
    if on(quota.enabled) {
        let hard = present(&quota.hard);
        out.push((
            "isolation/quota.yaml".to_owned(),
            json!({
                "apiVersion": "v1",
                "kind": "ResourceQuota",
                "metadata": { "name": NAME },
                "spec": { "hard": quantities(shopset, "isolation.quota.hard", &hard)? },
            }),
        ));
    }
    let limits = i.limits.clone().unwrap_or_default();
    if on(limits.enabled) {
        let mut item = serde_json::Map::new();
        item.insert("type".into(), json!("Container"));
        let request = present(&limits.default_request);
        let limit = present(&limits.default);
        let max = present(&limits.max);
        for (key, map, field) in [
            ("default", &limit, "isolation.limits.default"),
            (
                "defaultRequest",
                &request,
                "isolation.limits.defaultRequest",
            ),
            ("max", &max, "isolation.limits.max"),
        ] {
            if !map.is_empty() {
                item.insert(key.into(), quantities(shopset, field, map)?);
            }
        }
        out.push((
            "isolation/limits.yaml".to_owned(),
            json!({
                "apiVersion": "v1",
                "kind": "LimitRange",
                "metadata": { "name": NAME },
                "spec": { "limits": [Value::Object(item)] },
            }),
        ));
    }
    let network = i.network.clone().unwrap_or_default();
    if on(network.enabled) {
        let edge = network
            .edge_namespace
            .as_deref()
            .or(edge)
            .unwrap_or(DEFAULT_EDGE_NAMESPACE);
        names::dns_label(edge)
            .map_err(|m| RenderError::shopset(shopset, "isolation.network.edgeNamespace", m))?;
        let mut egress = vec![json!({ "to": [{ "podSelector": {} }] })];
        for (name, s) in &network.services {
            if let Some(s) = s {
                egress.push(service_rule(shopset, name, s)?);
            }
        }
        out.push((
            "isolation/network-policy.yaml".to_owned(),
            json!({
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": { "name": NAME },
                "spec": {
                    "podSelector": {},
                    "policyTypes": ["Ingress", "Egress"],
                    "ingress": [
                        { "from": [{ "podSelector": {} }] },
                        { "from": [{ "namespaceSelector": {
                            "matchLabels": { "kubernetes.io/metadata.name": edge } } }] },
                    ],
                    "egress": egress,
                },
            }),
        ));
    }
    for (workload, b) in &i.disruption_budgets {
        if let Some(b) = b {
            out.push(budget(shopset, workload, b)?);
        }
    }
    Ok(out)
}
