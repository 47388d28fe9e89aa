//! The text of a promotion's pull request: the Tier's `spec.promotion.pullRequest` with its
//! placeholders filled in, the defaults for what it leaves out. Pure: no git, no GitHub.
//!
//! A placeholder is `{{ name }}`, the spaces inside the braces optional, the name one of
//! [`NAMES`]. Every `{{` opens a placeholder: an unknown name or a `{{` without `}}` is an
//! error naming the field, so a typo is reported when the promotion is planned and never
//! reaches a pull request. There is no escape for a literal `{{`.

use shopset_crds::PullRequestTemplate;

/// The placeholders, in the order the error messages list them.
pub const NAMES: [&str; 8] = [
    "from",
    "to",
    "commit",
    "short",
    "subject",
    "repository",
    "branch",
    "gate",
];

/// The title when the Tier names none.
pub const DEFAULT_TITLE: &str = "Promote {{ short }} from {{ from }} to {{ to }}";

/// The body when the Tier names none.
pub const DEFAULT_BODY: &str = "shopset promotes `{{ commit }}` from {{ from }} to {{ to }}: \
    the commit tested on {{ from }} and nothing else.\n\nGate: {{ gate }}.\n\nWhat it \
    brings:\n\n{{ changes }}\nMerge by \
    fast-forward to keep the commit identical (shopset does this when the tier promotes \
    automatically). A merge commit keeps the tree but not the commit; squash and rebase make \
    new commits.\n";

/// The labels when the Tier names none.
pub const DEFAULT_LABELS: [&str; 3] = ["shopset", "promotion", "{{ to }}"];

/// The field of the Tier the templates come from, for error messages.
const FIELD: &str = "spec.promotion.pullRequest";

/// What the placeholders stand for.
#[derive(Debug, Clone, Copy)]
pub struct Values<'a> {
    /// `{{ from }}`: the tier promoted from.
    pub from: &'a str,
    /// `{{ to }}`: the tier promoted into.
    pub to: &'a str,
    /// `{{ commit }}`: the full id of the commit the branch moves to (`{{ short }}`: its first
    /// 12 characters).
    pub commit: &'a str,
    /// `{{ subject }}`: `app` or `configuration`.
    pub subject: &'a str,
    /// `{{ repository }}`: the repository (credentials redacted).
    pub repository: &'a str,
    /// `{{ branch }}`: the branch the pull request merges into.
    pub branch: &'a str,
    /// `{{ gate }}`: `holds`, or why not.
    pub gate: &'a str,
    /// `{{ changes }}`: the commits the promotion brings, as a Markdown list (bounded).
    pub changes: &'a str,
}

impl<'a> Values<'a> {
    /// The value of placeholder `name`, if it is one.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&'a str> {
        match name {
            "from" => Some(self.from),
            "to" => Some(self.to),
            "commit" => Some(self.commit),
            "short" => Some(self.commit.get(..12).unwrap_or(self.commit)),
            "subject" => Some(self.subject),
            "repository" => Some(self.repository),
            "branch" => Some(self.branch),
            "gate" => Some(self.gate),
            "changes" => Some(self.changes),
            _ => None,
        }
    }
}

/// A template that cannot be filled in. `field` is the full path in the Tier
/// (`spec.promotion.pullRequest.labels[1]`); terminal: the Tier must change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A name that is not a placeholder.
    #[error("{field}: unknown placeholder {{{{ {name} }}}}; the placeholders are {}", NAMES.join(", "))]
    Unknown {
        /// The field.
        field: String,
        /// The name, as written (trimmed).
        name: String,
    },
    /// A `{{` without `}}`.
    #[error("{field}: the `{{{{` at character {at} has no `}}}}`")]
    Unclosed {
        /// The field.
        field: String,
        /// Where the `{{` is (in characters, from 0).
        at: usize,
    },
    /// A title or label that is nothing but spaces once filled in.
    #[error("{field}: empty once the placeholders are filled in")]
    Empty {
        /// The field.
        field: String,
    },
}

/// Fills in the placeholders of `template` (the text of `field`, named in errors).
///
/// # Errors
/// An unknown placeholder, or a `{{` without `}}`.
pub fn fill(field: &str, template: &str, values: &Values<'_>) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let inside = &rest[open + 2..];
        let Some(close) = inside.find("}}") else {
            let at = template.len() - rest.len() + open;
            return Err(TemplateError::Unclosed {
                field: field.to_owned(),
                at: template[..at].chars().count(),
            });
        };
        let name = inside[..close].trim();
        let value = values.get(name).ok_or_else(|| TemplateError::Unknown {
            field: field.to_owned(),
            name: name.to_owned(),
        })?;
        out.push_str(value);
        rest = &inside[close + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The text of one pull request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PullRequestText {
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// Labels, without duplicates.
    pub labels: Vec<String>,
}

/// The text of the pull request for `values`: the Tier's `template` (absent or partial: the
/// defaults for what it leaves out). Labels named by the template replace the defaults.
///
/// # Errors
/// A field cannot be filled in, or the title or a label is empty once it is.
pub fn text(
    template: Option<&PullRequestTemplate>,
    values: &Values<'_>,
) -> Result<PullRequestText, TemplateError> {
    let title_field = format!("{FIELD}.title");
    let title = template.and_then(|t| t.title.as_deref());
    let title = fill(&title_field, title.unwrap_or(DEFAULT_TITLE), values)?
        .trim()
        .to_owned();
    if title.is_empty() {
        return Err(TemplateError::Empty { field: title_field });
    }
    let body = template.and_then(|t| t.body.as_deref());
    let body = fill(
        &format!("{FIELD}.body"),
        body.unwrap_or(DEFAULT_BODY),
        values,
    )?;
    let given = template.map(|t| t.labels.as_slice()).unwrap_or_default();
    let labels: Vec<&str> = if given.is_empty() {
        DEFAULT_LABELS.to_vec()
    } else {
        given.iter().map(String::as_str).collect()
    };
    let mut filled: Vec<String> = Vec::with_capacity(labels.len());
    for (i, label) in labels.iter().enumerate() {
        let field = format!("{FIELD}.labels[{i}]");
        let label = fill(&field, label, values)?.trim().to_owned();
        if label.is_empty() {
            return Err(TemplateError::Empty { field });
        }
        if !filled.contains(&label) {
            filled.push(label);
        }
    }
    Ok(PullRequestText {
        title,
        body,
        labels: filled,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

    fn values() -> Values<'static> {
        Values {
            from: "tier-0",
            to: "tier-1",
            commit: COMMIT,
            subject: "app",
            repository: "https://github.com/acme/app.git",
            branch: "tier-1",
            gate: "holds",
            changes: "- `0123456789ab` a change (dev)\n",
        }
    }

    fn template(title: Option<&str>, body: Option<&str>, labels: &[&str]) -> PullRequestTemplate {
        PullRequestTemplate {
            title: title.map(str::to_owned),
            body: body.map(str::to_owned),
            labels: labels.iter().map(|l| (*l).to_owned()).collect(),
        }
    }

    #[test]
    fn every_placeholder_with_or_without_spaces() {
        let text = fill(
            "f",
            "{{from}}>{{ to }}|{{  commit\t}}|{{short}}|{{ subject }}|{{repository}}|{{ branch}}|{{gate }}",
            &values(),
        );
        assert_eq!(
            text.as_deref(),
            Ok(format!(
                "tier-0>tier-1|{COMMIT}|0123456789ab|app|https://github.com/acme/app.git|tier-1|holds"
            )
            .as_str())
        );
        assert_eq!(
            fill("f", "no placeholder }} {", &values()).as_deref(),
            Ok("no placeholder }} {")
        );
        assert_eq!(fill("f", "", &values()).as_deref(), Ok(""));
        let short = Values {
            commit: "abc",
            ..values()
        };
        assert_eq!(fill("f", "{{ short }}", &short).as_deref(), Ok("abc"));
    }

    #[test]
    fn the_defaults_are_the_texts_shopset_always_wrote() {
        let t = text(None, &values()).expect("defaults fill in");
        assert_eq!(t.title, "Promote 0123456789ab from tier-0 to tier-1");
        assert_eq!(
            t.body,
            format!(
                "shopset promotes `{COMMIT}` from tier-0 to tier-1: the commit tested on tier-0 \
                 and nothing else.\n\nGate: holds.\n\nWhat it brings:\n\n- `0123456789ab` a \
                 change (dev)\n\nMerge by fast-forward to keep the commit \
                 identical (shopset does this when the tier promotes automatically). A merge \
                 commit keeps the tree but not the commit; squash and rebase make new commits.\n"
            )
        );
        assert_eq!(t.labels, ["shopset", "promotion", "tier-1"]);
        assert_eq!(text(Some(&template(None, None, &[])), &values()), Ok(t));
    }

    #[test]
    fn a_template_replaces_only_what_it_names() {
        let t = text(
            Some(&template(
                Some("release {{ short }} -> {{ to }}"),
                None,
                &["{{ subject }}", "promote-to-{{to}}", "app"],
            )),
            &values(),
        )
        .expect("fills in");
        assert_eq!(t.title, "release 0123456789ab -> tier-1");
        assert!(t.body.starts_with("shopset promotes `"), "{}", t.body);
        assert_eq!(
            t.labels,
            ["app", "promote-to-tier-1"],
            "replaced, no duplicates"
        );
        let t = text(Some(&template(None, Some("{{ gate }}"), &[])), &values()).expect("body");
        assert_eq!(t.body, "holds");
        assert_eq!(t.title, "Promote 0123456789ab from tier-0 to tier-1");
    }

    #[test]
    fn an_unknown_placeholder_names_the_field_and_the_name() {
        let e = text(
            Some(&template(Some("Promote {{ sha }}"), None, &[])),
            &values(),
        )
        .expect_err("unknown");
        assert_eq!(
            e,
            TemplateError::Unknown {
                field: "spec.promotion.pullRequest.title".into(),
                name: "sha".into()
            }
        );
        assert_eq!(
            e.to_string(),
            "spec.promotion.pullRequest.title: unknown placeholder {{ sha }}; the placeholders \
             are from, to, commit, short, subject, repository, branch, gate"
        );
        let e = text(
            Some(&template(None, Some("{{ .Values.x }}"), &[])),
            &values(),
        )
        .expect_err("unknown");
        assert!(
            e.to_string().starts_with(
                "spec.promotion.pullRequest.body: unknown placeholder {{ .Values.x }}"
            ),
            "{e}"
        );
        let e = text(Some(&template(None, None, &["ok", "{{ To }}"])), &values())
            .expect_err("names are case-sensitive");
        assert!(
            e.to_string()
                .starts_with("spec.promotion.pullRequest.labels[1]: unknown placeholder {{ To }}"),
            "{e}"
        );
    }

    #[test]
    fn an_unclosed_or_empty_template_is_an_error() {
        let e = text(
            Some(&template(Some("é {{ to }} {{ from"), None, &[])),
            &values(),
        )
        .expect_err("unclosed");
        assert_eq!(
            e.to_string(),
            "spec.promotion.pullRequest.title: the `{{` at character 11 has no `}}`"
        );
        let e = text(Some(&template(Some("  "), None, &[])), &values()).expect_err("empty");
        assert_eq!(
            e,
            TemplateError::Empty {
                field: "spec.promotion.pullRequest.title".into()
            }
        );
        let e = text(Some(&template(None, None, &[" "])), &values()).expect_err("empty");
        assert_eq!(
            e.to_string(),
            "spec.promotion.pullRequest.labels[0]: empty once the placeholders are filled in"
        );
        let t = text(Some(&template(None, Some(""), &[])), &values()).expect("an empty body");
        assert_eq!(t.body, "");
    }
}
