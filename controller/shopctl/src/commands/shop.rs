//! `shopctl shop`: list, where, capacity, from the tier branches and the resources.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde_json::json;
use shopset_engine::ops::shops::{self, ShopLine, ShopsReport};

use super::Context;
use crate::cli::{Format, ShopCommand};
use crate::load::Source;

fn dash(value: Option<&str>) -> &str {
    value.unwrap_or("-")
}

fn line(text: &mut String, s: &ShopLine) {
    let moving = match (&s.warming, &s.draining) {
        (Some(to), _) => format!(" (moving to {to})"),
        (None, Some(from)) => format!(" (moved from {from}, settling)"),
        (None, None) => String::new(),
    };
    let _ = writeln!(
        text,
        "{:<24} {:<16} {:<10} {:<12} {:<9} {:>6} {}{moving}",
        s.shop,
        dash(s.shop_set.as_deref()),
        dash(s.tier.as_deref()),
        dash(s.failure_domain.as_deref()),
        format!("{:?}", s.phase),
        s.weight,
        s.hosts.first().map_or("-", String::as_str),
    );
}

fn report(
    ctx: &Context,
    source: &dyn Fn(&[PathBuf]) -> anyhow::Result<Source>,
    files: &[PathBuf],
) -> anyhow::Result<ShopsReport> {
    let resources = source(files)?.resources()?;
    let mut repos = ctx.repos(&resources);
    let report = shops::report(&resources, &mut repos);
    super::report_problems(&report.problems);
    Ok(report)
}

pub fn run(
    ctx: &Context,
    format: Format,
    what: &ShopCommand,
    source: &dyn Fn(&[PathBuf]) -> anyhow::Result<Source>,
) -> anyhow::Result<bool> {
    match what {
        ShopCommand::List {
            files,
            shop_set,
            pool,
            tier,
        } => {
            let report = report(ctx, source, files)?;
            let keep = |s: &&ShopLine| {
                shop_set.as_ref().is_none_or(|x| s.involves(x))
                    && pool.as_ref().is_none_or(|x| s.pool.as_ref() == Some(x))
                    && tier.as_ref().is_none_or(|x| s.tier.as_ref() == Some(x))
            };
            let shown: Vec<&ShopLine> = report.shops.iter().filter(keep).collect();
            let mut text = format!(
                "{:<24} {:<16} {:<10} {:<12} {:<9} {:>6} {}\n",
                "SHOP", "SHOPSET", "TIER", "DOMAIN", "PHASE", "WEIGHT", "HOST"
            );
            for s in &shown {
                line(&mut text, s);
            }
            crate::output::print(format, &text, &json!(shown));
            Ok(!shopset_engine::any_error(&report.problems))
        }
        ShopCommand::Where { host, files } => {
            let report = report(ctx, source, files)?;
            let Some(s) = report.serving(host) else {
                eprintln!("error: no shop has host {host:?} in any tier branch");
                crate::output::print(format, "", &json!(null));
                return Ok(false);
            };
            let text = format!(
                "{host}: shop {} on ShopSet {} (tier {}, failure domain {}, epoch {})\n",
                s.shop,
                dash(s.shop_set.as_deref()),
                dash(s.tier.as_deref()),
                dash(s.failure_domain.as_deref()),
                s.epoch
            );
            crate::output::print(format, &text, &json!(s));
            Ok(!shopset_engine::any_error(&report.problems))
        }
        ShopCommand::Move { .. }
        | ShopCommand::Isolate { .. }
        | ShopCommand::Add { .. }
        | ShopCommand::Remove { .. } => {
            anyhow::bail!("shop add, remove, move and isolate are edits: commands::run makes them")
        }
        ShopCommand::Capacity { files } => {
            let report = report(ctx, source, files)?;
            let mut text = format!(
                "{:<12} {:<16} {:<10} {:>8} {:>9} {:>6} {:>6}  NOTE\n",
                "POOL", "SHOPSET", "TIER", "LOAD", "CAPACITY", "USED", "FITS"
            );
            for c in &report.capacity {
                let note = match (&c.dedicated_to, c.accept_new, c.ready) {
                    (Some(shop), _, _) => format!("dedicated to {shop}"),
                    (None, _, false) => "in maintenance or suspended: takes no shop now".to_owned(),
                    (None, false, true) => "takes no new shops".to_owned(),
                    (None, true, true) => String::new(),
                };
                let _ = writeln!(
                    text,
                    "{:<12} {:<16} {:<10} {:>8} {:>9} {:>5}% {:>6}  {note}",
                    c.pool, c.shop_set, c.tier, c.load, c.capacity, c.utilisation_percent, c.fits
                );
            }
            let pending = report.shops.iter().filter(|s| s.shop_set.is_none()).count();
            if pending > 0 {
                let shops = if pending == 1 { "shop" } else { "shops" };
                let _ = writeln!(
                    text,
                    "{pending} {shops} pending (in the resources, in no tier branch yet)"
                );
            }
            crate::output::print(
                format,
                &text,
                &json!({ "capacity": report.capacity, "pending": pending }),
            );
            Ok(!shopset_engine::any_error(&report.problems))
        }
    }
}
