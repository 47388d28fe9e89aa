//! `shopctl notify test CHANNEL`: one test message through a NotificationPolicy's channel, by
//! the engine's own delivery (`ops::notify::test`), as the controller would send it.

use std::path::PathBuf;

use shopset_engine::ops::notify;

use super::Context;
use crate::cli::{Format, NotifyCommand};
use crate::load::Source;

pub fn run(
    ctx: &Context,
    format: Format,
    what: &NotifyCommand,
    source: &dyn Fn(&[PathBuf]) -> anyhow::Result<Source>,
) -> anyhow::Result<bool> {
    let NotifyCommand::Test {
        channel,
        policy,
        files,
    } = what;
    let resources = source(files)?.resources()?;
    let name = match policy {
        Some(name) => name.clone(),
        None => {
            let all: Vec<&String> = resources.notification_policies.keys().collect();
            match all[..] {
                [one] => one.clone(),
                [] => anyhow::bail!("no NotificationPolicy among the resources"),
                _ => {
                    anyhow::bail!("several NotificationPolicies ({all:?}): name one with --policy")
                }
            }
        }
    };
    let spec = &resources
        .notification_policies
        .get(&name)
        .ok_or_else(|| anyhow::anyhow!("no NotificationPolicy {name:?} among the resources"))?
        .spec;
    let dir = ctx.secrets_dir.clone();
    let secrets = move |secret: &str, key: &str| {
        let dir = dir.as_ref()?;
        std::fs::read_to_string(dir.join(secret).join(key))
            .ok()
            .map(|t| shopset_git::Secret::new(t.trim().to_owned()))
    };
    let now = k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let result = notify::test(spec, channel, &secrets, &notify::Retry::default(), &now);
    match (&result, format) {
        (Ok(id), Format::Json) => println!(
            "{}",
            serde_json::json!({"policy": name, "channel": channel, "sent": true, "id": id})
        ),
        (Ok(id), _) => println!(
            "sent a test message to {channel} ({name}){}",
            id.as_ref().map_or(String::new(), |id| format!(": {id}"))
        ),
        (Err(e), Format::Json) => println!(
            "{}",
            serde_json::json!({"policy": name, "channel": channel, "sent": false, "error": e})
        ),
        (Err(e), _) => eprintln!("error: NotificationPolicy {name}: channel {channel}: {e}"),
    }
    Ok(result.is_ok())
}
