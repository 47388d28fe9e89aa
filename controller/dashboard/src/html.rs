//! The pages, as HTML written here: one small style sheet inline, no script, no external asset
//! (the dashboard works air-gapped). Every value is escaped.

use std::fmt::Write as _;

use shopset_engine::ops::log::ShopSetFiles;

use crate::view::{Page, Query, ShopPage, ShopQuery, ShopSetRow, TierCard, View};

/// `text` with `&`, `<`, `>`, `"` and `'` escaped.
#[must_use]
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#1d2329;background:#f6f7f9}\
header{background:#1d2329;color:#fff;padding:.6rem 1.2rem;display:flex;gap:1.5rem;align-items:baseline}\
header a{color:#cfe3ff;text-decoration:none}header .when{margin-left:auto;font-size:.8rem;color:#9aa6b2}\
main{padding:1rem 1.2rem}.tiers{display:flex;gap:1rem;flex-wrap:wrap}\
.tier{background:#fff;border:1px solid #d8dde3;border-radius:6px;padding:.8rem 1rem;min-width:18rem;flex:1}\
.tier h2{margin:.1rem 0 .5rem;font-size:1.2rem}.ok{color:#1a7f37}.no{color:#b42318}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem .8rem;margin:0}dt{color:#57606a}dd{margin:0;overflow-wrap:anywhere;min-width:0}\
code,pre{font-family:ui-monospace,monospace;font-size:.85rem}pre{background:#f0f2f4;padding:.5rem;overflow-x:auto}\
table{border-collapse:collapse;width:100%;background:#fff}th,td{border-bottom:1px solid #e3e7eb;padding:.3rem .5rem;text-align:left;font-size:.9rem}\
form{display:flex;gap:.6rem;flex-wrap:wrap;margin-bottom:.8rem}.pager{margin-top:.6rem;display:flex;gap:1rem}";

fn page(title: &str, view: &View, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} · shopset</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <link rel=\"icon\" href=\"data:,\"><style>{STYLE}</style></head>\
         <body><header><strong>shopset</strong><a href=\"/\">Tiers</a><a href=\"/shopsets\">ShopSets</a>\
         <a href=\"/shops\">Shops</a><a href=\"/failure-domains\">Failure domains</a>\
         <a href=\"/previews\">Previews</a><a href=\"/activity\">Activity</a>\
         <span class=\"when\">{source}, {generated}</span></header><main>{body}</main></body></html>\n",
        title = escape(title),
        source = escape(&view.source),
        generated = escape(&view.generated),
    )
}

fn short(commit: Option<&String>) -> String {
    commit.map_or_else(
        || "-".into(),
        |c| format!("<code>{}</code>", escape(c.get(..12).unwrap_or(c))),
    )
}

fn count(n: Option<i32>) -> String {
    n.map_or_else(|| "-".into(), |n| n.to_string())
}

fn tier_card(t: &TierCard, out: &mut String) {
    let o = &t.overview;
    let promotable = match o.promotable {
        Some(true) => "<span class=\"ok\">promotable</span>".to_owned(),
        Some(false) => "<span class=\"no\">not promotable</span>".to_owned(),
        None => "-".to_owned(),
    };
    let _ = write!(
        out,
        "<section class=\"tier\" data-tier=\"{name}\"><h2>{name}</h2><dl>\
         <dt>branch</dt><dd><code>{branch}</code></dd>\
         <dt>from</dt><dd>{from}</dd>\
         <dt>app running</dt><dd>{running}</dd>\
         <dt>app branch</dt><dd>{tip}</dd>\
         <dt>system</dt><dd>{system}</dd>\
         <dt>ShopSets</dt><dd><span class=\"shopsets\">{total}</span> \
         (synced <span class=\"synced\">{synced}</span>, healthy <span class=\"healthy\">{healthy}</span>)</dd>\
         <dt>gate</dt><dd>{promotable}</dd>",
        name = escape(&o.tier),
        branch = escape(&o.branch),
        from = o.promotes_from.as_deref().map_or("-".into(), escape),
        running = short(o.app_running.as_ref()),
        tip = short(o.app_branch_tip.as_ref()),
        system = short(o.system_commit.as_ref()),
        total = o.shop_sets,
        synced = count(o.synced),
        healthy = count(o.healthy),
    );
    for reason in &o.gate {
        let _ = write!(out, "<dt></dt><dd>{}</dd>", escape(reason));
    }
    for (label, value) in [("hold", &o.hold), ("pin", &o.pin), ("frozen", &o.frozen)] {
        if let Some(v) = value {
            let _ = write!(out, "<dt>{label}</dt><dd>{}</dd>", escape(v));
        }
    }
    for window in &o.freeze_windows {
        let _ = write!(out, "<dt>freeze</dt><dd>{}</dd>", escape(window));
    }
    if t.not_ready_count > 0 {
        let _ = write!(
            out,
            "<dt>not ready</dt><dd><a href=\"/shopsets?tier={tier}\">{n}</a></dd>",
            tier = escape(&o.tier),
            n = t.not_ready_count
        );
        for line in &o.not_ready {
            let _ = write!(out, "<dt></dt><dd>{}</dd>", escape(line));
        }
    }
    out.push_str("</dl><pre>");
    for c in &t.commands {
        let _ = writeln!(out, "{}", escape(c));
    }
    out.push_str("</pre></section>");
}

/// The home page: the chain of tiers.
#[must_use]
pub fn tiers(view: &View) -> String {
    let mut body = String::from("<div class=\"tiers\">");
    for t in &view.tiers {
        tier_card(t, &mut body);
    }
    body.push_str("</div>");
    page("Tiers", view, &body)
}

fn options(
    name: &str,
    selected: Option<&str>,
    counts: &std::collections::BTreeMap<String, usize>,
) -> String {
    let mut out = format!("<select name=\"{name}\"><option value=\"\">every {name}</option>");
    for (value, n) in counts {
        let chosen = if selected == Some(value.as_str()) {
            " selected"
        } else {
            ""
        };
        let _ = write!(
            out,
            "<option value=\"{v}\"{chosen}>{v} ({n})</option>",
            v = escape(value)
        );
    }
    out.push_str("</select>");
    out
}

/// The link to page `page` of the same query.
fn link(query: &Query, page: usize) -> String {
    let mut parts = Vec::new();
    for (key, value) in [
        ("tier", &query.tier),
        ("domain", &query.domain),
        ("state", &query.state),
        ("prefix", &query.prefix),
    ] {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            parts.push(format!("{key}={}", percent(v)));
        }
    }
    if let Some(size) = query.size {
        parts.push(format!("size={size}"));
    }
    parts.push(format!("page={page}"));
    format!("/shopsets?{}", parts.join("&amp;"))
}

/// `text` percent-encoded for a query string (unreserved characters kept).
fn percent(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The ShopSet list: the filters (with their counts), one page of rows, the pager.
#[must_use]
pub fn shop_sets(view: &View, query: &Query, found: &Page<'_>) -> String {
    let mut body = String::from("<form method=\"get\" action=\"/shopsets\">");
    body.push_str(&options("tier", query.tier.as_deref(), &found.facets.tiers));
    body.push_str(&options(
        "domain",
        query.domain.as_deref(),
        &found.facets.domains,
    ));
    body.push_str(&options(
        "state",
        query.state.as_deref(),
        &found.facets.states,
    ));
    let _ = write!(
        body,
        "<input name=\"prefix\" placeholder=\"name prefix\" value=\"{}\"><button>Filter</button></form>",
        escape(query.prefix.as_deref().unwrap_or_default())
    );
    let _ = write!(
        body,
        "<p><span class=\"matched\">{}</span> of <span class=\"total\">{}</span> ShopSets; page \
         <span class=\"page\">{}</span> of <span class=\"pages\">{}</span></p>",
        found.matched, found.total, found.page, found.pages
    );
    body.push_str(
        "<table><thead><tr><th>ShopSet</th><th>tier</th><th>domain</th><th>state</th>\
         <th>sync</th><th>health</th><th>commit</th><th>path</th></tr></thead><tbody>",
    );
    for row in &found.items {
        let _ = write!(
            body,
            "<tr data-shopset=\"{name}\"><td><a href=\"/shopsets/{link}\">{name}</a></td><td>{tier}</td><td>{domain}</td>\
             <td title=\"{message}\">{state}</td><td>{sync}</td><td>{health}</td><td>{commit}</td>\
             <td><code>{path}</code></td></tr>",
            name = escape(&row.name),
            link = percent(&row.name),
            tier = escape(&row.tier),
            domain = escape(row.failure_domain.as_deref().unwrap_or("-")),
            message = escape(&row.message),
            state = escape(&row.state),
            sync = escape(row.sync.as_deref().unwrap_or("-")),
            health = escape(row.health.as_deref().unwrap_or("-")),
            commit = short(row.system_commit.as_ref()),
            path = escape(row.path.as_deref().unwrap_or("-")),
        );
    }
    body.push_str("</tbody></table><div class=\"pager\">");
    if found.page > 1 {
        let _ = write!(
            body,
            "<a rel=\"prev\" href=\"{}\">previous</a>",
            link(query, found.page - 1)
        );
    }
    if found.page < found.pages {
        let _ = write!(
            body,
            "<a rel=\"next\" href=\"{}\">next</a>",
            link(query, found.page + 1)
        );
    }
    body.push_str("</div>");
    page("ShopSets", view, &body)
}

/// The Shop lookup: a host or a name prefix, the Shop with that host, one page of names.
#[must_use]
pub fn shops(view: &View, query: &ShopQuery, found: &ShopPage<'_>) -> String {
    let q = query.q.as_deref().unwrap_or_default();
    let mut body = format!(
        "<form method=\"get\" action=\"/shops\"><input name=\"q\" size=\"40\" \
         placeholder=\"host, or the start of a Shop's name\" value=\"{}\"><button>Find</button></form>",
        escape(q)
    );
    let row = |s: &crate::view::ShopRow, out: &mut String| {
        let _ = write!(
            out,
            "<tr data-shop=\"{name}\"><td>{name}</td><td>{hosts}</td><td>{shop_set}</td><td>{tier}</td>\
             <td>{domain}</td><td title=\"{message}\">{phase}</td><td>{epoch}</td><td>{pool}</td><td>{weight}</td></tr>",
            name = escape(&s.name),
            hosts = escape(&s.hosts.join(", ")),
            shop_set = s.shop_set.as_deref().map_or_else(
                || "-".to_owned(),
                |ss| format!(
                    "<a href=\"/shopsets?prefix={}\">{}</a>",
                    percent(ss),
                    escape(ss)
                )
            ),
            tier = escape(s.tier.as_deref().unwrap_or("-")),
            domain = escape(s.failure_domain.as_deref().unwrap_or("-")),
            message = escape(&s.message),
            phase = escape(&s.phase),
            epoch = s.epoch,
            pool = escape(&s.pool),
            weight = s.weight,
        );
    };
    let head = "<table><thead><tr><th>Shop</th><th>hosts</th><th>ShopSet</th><th>tier</th>\
                <th>domain</th><th>phase</th><th>epoch</th><th>pool</th><th>weight</th></tr></thead><tbody>";
    if let Some(s) = found.by_host {
        let _ = write!(
            body,
            "<h2>Host <code>{}</code></h2><p class=\"by-host\">served by ShopSet <strong>{}</strong></p>{head}",
            escape(q),
            escape(s.shop_set.as_deref().unwrap_or("(none yet)"))
        );
        row(s, &mut body);
        body.push_str("</tbody></table>");
    }
    let _ = write!(
        body,
        "<p><span class=\"matched\">{}</span> of <span class=\"total\">{}</span> Shops by name; \
         page <span class=\"page\">{}</span> of <span class=\"pages\">{}</span></p>{head}",
        found.matched, found.total, found.page, found.pages
    );
    for s in &found.items {
        row(s, &mut body);
    }
    body.push_str("</tbody></table><div class=\"pager\">");
    let link = |page: usize| {
        let size = query
            .size
            .map(|s| format!("&amp;size={s}"))
            .unwrap_or_default();
        format!("/shops?q={}{size}&amp;page={page}", percent(q))
    };
    if found.page > 1 {
        let _ = write!(
            body,
            "<a rel=\"prev\" href=\"{}\">previous</a>",
            link(found.page - 1)
        );
    }
    if found.page < found.pages {
        let _ = write!(
            body,
            "<a rel=\"next\" href=\"{}\">next</a>",
            link(found.page + 1)
        );
    }
    body.push_str("</div>");
    page("Shops", view, &body)
}

/// The failure domains: what each holds, and the migrations from or to it.
#[must_use]
pub fn failure_domains(view: &View) -> String {
    let mut body = String::from(
        "<table><thead><tr><th>failure domain</th><th>destination</th><th>ShopSets</th>\
         <th>capacity</th><th>not ready</th><th>Shops</th><th>cordoned</th><th>migrations</th></tr></thead><tbody>",
    );
    for d in &view.failure_domains {
        let _ = write!(
            body,
            "<tr data-domain=\"{name}\"><td><a href=\"/shopsets?domain={link}\">{name}</a></td>\
             <td><code>{destination}</code></td><td class=\"placed\">{placed}</td><td>{capacity}</td>\
             <td class=\"not-ready\">{not_ready}</td><td class=\"shops\">{shops}</td><td>{cordoned}</td><td>{migrations}</td></tr>",
            name = escape(&d.name),
            link = percent(&d.name),
            destination = escape(&d.destination),
            placed = d.shop_sets,
            capacity = d.capacity.map_or_else(|| "-".to_owned(), |c| c.to_string()),
            not_ready = d.not_ready,
            shops = d.shops,
            cordoned = if d.cordoned { "yes" } else { "no" },
            migrations = if d.migrations.is_empty() {
                "-".to_owned()
            } else {
                d.migrations
                    .iter()
                    .map(|m| escape(m))
                    .collect::<Vec<_>>()
                    .join("<br>")
            },
        );
    }
    body.push_str("</tbody></table>");
    page("Failure domains", view, &body)
}

/// One ShopSet: its row, its rendered files (each text folded under its path) and the
/// commits that changed them.
#[must_use]
pub fn shop_set(view: &View, row: &ShopSetRow, files: &Result<ShopSetFiles, String>) -> String {
    let mut body = format!(
        "<h1 data-shopset=\"{name}\">{name}</h1><dl>\
         <dt>tier</dt><dd>{tier}</dd><dt>failure domain</dt><dd>{domain}</dd>\
         <dt>state</dt><dd class=\"state\">{state}</dd><dt>why</dt><dd>{message}</dd>\
         <dt>sync</dt><dd>{sync}</dd><dt>health</dt><dd>{health}</dd>\
         <dt>commit</dt><dd>{commit}</dd><dt>path</dt><dd><code>{path}</code></dd></dl>",
        name = escape(&row.name),
        tier = escape(&row.tier),
        domain = escape(row.failure_domain.as_deref().unwrap_or("-")),
        state = escape(&row.state),
        message = escape(if row.message.is_empty() {
            "-"
        } else {
            &row.message
        }),
        sync = escape(row.sync.as_deref().unwrap_or("-")),
        health = escape(row.health.as_deref().unwrap_or("-")),
        commit = short(row.system_commit.as_ref()),
        path = escape(
            &row.path
                .clone()
                .unwrap_or_else(|| shopset_render::layout::shopset_dir(&row.name))
        ),
    );
    match files {
        Err(why) => {
            let _ = write!(body, "<p class=\"no\">Files not read: {}</p>", escape(why));
        }
        Ok(f) => {
            let _ = write!(
                body,
                "<h2>Rendered files</h2><p>at <code>{}</code>: <span class=\"files\">{}</span> files</p>",
                escape(f.commit.get(..12).unwrap_or(&f.commit)),
                f.files.len()
            );
            for file in &f.files {
                match &file.text {
                    Some(text) => {
                        let _ = write!(
                            body,
                            "<details data-file=\"{path}\"><summary><code>{path}</code> ({size} bytes)</summary><pre>{text}</pre></details>",
                            path = escape(&file.path),
                            size = file.size,
                            text = escape(text),
                        );
                    }
                    None => {
                        let _ = write!(
                            body,
                            "<p data-file=\"{path}\"><code>{path}</code> ({size} bytes, not shown)</p>",
                            path = escape(&file.path),
                            size = file.size,
                        );
                    }
                }
            }
            body.push_str(
                "<h2>History</h2><table><thead><tr><th>when</th><th>commit</th><th>app</th>\
                 <th>what</th><th>by</th></tr></thead><tbody>",
            );
            for d in &f.history {
                let _ = write!(
                    body,
                    "<tr class=\"change\"><td>{date}</td><td>{commit}</td><td>{app}</td><td>{subject}</td><td>{author}</td></tr>",
                    date = escape(&d.date),
                    commit = short(Some(&d.commit)),
                    app = short(d.app_commit.as_ref()),
                    subject = escape(&d.subject),
                    author = escape(&d.author),
                );
            }
            body.push_str("</tbody></table>");
            if f.truncated {
                let _ = write!(
                    body,
                    "<p>The last {} commits of the branch were read; <code>shopctl log {}</code> \
                     reads further.</p>",
                    f.walked,
                    escape(&row.tier)
                );
            }
        }
    }
    page(&row.name, view, &body)
}

/// The activity of the tier branches, newest first.
#[must_use]
pub fn activity(view: &View) -> String {
    let mut body = String::from(
        "<table><thead><tr><th>when</th><th>tier</th><th>what</th><th>commit</th><th>app</th>\
         <th>summary</th><th>by</th></tr></thead><tbody>",
    );
    for a in &view.activity {
        let _ = write!(
            body,
            "<tr class=\"activity\" data-kind=\"{kind}\"><td>{date}</td><td>{tier}</td><td>{kind}</td>\
             <td>{commit}</td><td>{app}</td><td>{summary}</td><td>{author}</td></tr>",
            date = escape(&a.date),
            tier = escape(&a.tier),
            kind = escape(a.kind),
            commit = short(Some(&a.commit)),
            app = short(a.app_commit.as_ref()),
            summary = escape(&a.summary),
            author = escape(&a.author),
        );
    }
    body.push_str("</tbody></table>");
    let _ = write!(
        body,
        "<p>The last {} commits of each tier branch; <code>shopctl log TIER</code> reads further.</p>",
        crate::view::ACTIVITY_PER_TIER
    );
    page("Activity", view, &body)
}

/// The previews of pull requests.
#[must_use]
pub fn previews(view: &View) -> String {
    let mut body = format!(
        "<p><span class=\"previews\">{}</span> previews</p><table><thead><tr><th>policy</th><th>pull request</th>\
         <th>commit</th><th>host</th><th>deployed</th><th>last push</th><th>expires</th><th>asleep</th></tr></thead><tbody>",
        view.previews.len()
    );
    for p in &view.previews {
        let _ = write!(
            body,
            "<tr data-preview=\"{number}\"><td>{policy}</td><td>{pr}</td><td>{commit}</td>\
             <td><code>{host}</code></td><td>{deployed}</td><td>{pushed}</td><td>{expires}</td><td>{asleep}</td></tr>",
            number = p.number,
            policy = escape(&p.policy),
            pr = if p.pull_request.is_empty() {
                format!("#{}", p.number)
            } else {
                format!("<a href=\"{}\">#{}</a>", escape(&p.pull_request), p.number)
            },
            commit = short(Some(&p.commit)),
            host = escape(&p.host),
            deployed = escape(&p.deployed),
            pushed = escape(&p.pushed),
            expires = escape(&p.expires),
            asleep = if p.asleep { "yes" } else { "no" },
        );
    }
    body.push_str("</tbody></table>");
    page("Previews", view, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_links_keep_the_filters() {
        assert_eq!(
            escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
        let q = Query {
            tier: Some("tier 0&1".into()),
            state: Some("Ready".into()),
            ..Query::default()
        };
        assert_eq!(
            link(&q, 3),
            "/shopsets?tier=tier%200%261&amp;state=Ready&amp;page=3"
        );
    }
}
