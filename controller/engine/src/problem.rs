//! What an action could not do, and about what: a typed problem names the file, the resource
//! (its kind and name), the field and what was expected, so callers (the status conditions,
//! events, `shopctl -o json`) read those parts instead of parsing a message again.

use std::fmt;

use serde::ser::SerializeStruct as _;

use crate::resources::InputError;

/// The resource a problem is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Subject {
    /// Its kind (`Tier`, `ShopSet`, ...), or `document` when it could not be told.
    pub kind: String,
    /// Its name (empty when it could not be told).
    pub name: String,
}

impl Subject {
    /// A resource of `kind` named `name`.
    #[must_use]
    pub fn new(kind: &str, name: &str) -> Self {
        Self {
            kind: kind.to_owned(),
            name: name.to_owned(),
        }
    }
}

/// One problem. Its text (`Display`) reads `file: Kind "name": field: message`, leaving out the
/// parts it does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file (or other source) the resource came from.
    pub file: Option<String>,
    /// The resource it is about; `None` for a problem of the whole action (a repository that
    /// cannot be read, say).
    pub subject: Option<Subject>,
    /// The field path, when one field is at fault (boxed: a problem stays small enough to be
    /// an error value that is moved around freely).
    pub field: Option<Box<str>>,
    /// What was wrong and what was expected.
    pub message: String,
    /// Whether the action failed for it, or only reports a state that waits for a change
    /// elsewhere (a shop pending until its pool has room, as a Pod waits for a node).
    pub severity: Severity,
}

/// How much a problem weighs: an error makes the action fail (exit code 1, `ok` false); a
/// warning is reported (stderr, conditions, events) and the rest of the action succeeds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Severity {
    /// The action did not do what its inputs ask.
    #[default]
    Error,
    /// The inputs are carried out as far as the world allows; the rest waits.
    Warning,
}

impl Problem {
    /// A problem of one resource's `field`.
    #[must_use]
    pub fn of(kind: &str, name: &str, field: &str, message: impl Into<String>) -> Self {
        Self {
            file: None,
            subject: Some(Subject::new(kind, name)),
            field: Some(field.into()),
            message: message.into(),
            severity: Severity::Error,
        }
    }

    /// A problem of one resource as a whole (no single field).
    #[must_use]
    pub fn about(kind: &str, name: &str, message: impl Into<String>) -> Self {
        Self {
            file: None,
            subject: Some(Subject::new(kind, name)),
            field: None,
            message: message.into(),
            severity: Severity::Error,
        }
    }

    /// A problem of no resource in particular.
    #[must_use]
    pub fn general(message: impl Into<String>) -> Self {
        Self {
            file: None,
            subject: None,
            field: None,
            message: message.into(),
            severity: Severity::Error,
        }
    }

    /// The same problem, found in `file`.
    #[must_use]
    pub fn in_file(mut self, file: &str) -> Self {
        self.file = Some(file.to_owned());
        self
    }

    /// The same problem with `more` appended to its message (what was done about it).
    #[must_use]
    pub fn and(mut self, more: &str) -> Self {
        self.message.push_str(more);
        self
    }

    /// The same problem, as a warning.
    #[must_use]
    pub fn as_warning(mut self) -> Self {
        self.severity = Severity::Warning;
        self
    }

    /// Whether the action failed for it.
    #[must_use]
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Whether it is about the resource of `kind` named `name`.
    #[must_use]
    pub fn is_about(&self, kind: &str, name: &str) -> bool {
        self.subject
            .as_ref()
            .is_some_and(|s| s.kind == kind && s.name == name)
    }

    /// The name of the `kind` resource it is about, if it is about one.
    #[must_use]
    pub fn name_of(&self, kind: &str) -> Option<&str> {
        self.subject
            .as_ref()
            .filter(|s| s.kind == kind)
            .map(|s| s.name.as_str())
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{file}: ")?;
        }
        if let Some(s) = &self.subject {
            write!(f, "{} {:?}: ", s.kind, s.name)?;
        }
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl From<&InputError> for Problem {
    fn from(e: &InputError) -> Self {
        Self {
            file: Some(e.file.clone()),
            subject: Some(Subject::new(&e.kind, &e.name)),
            field: Some(e.field.as_str().into()),
            message: e.message.clone(),
            severity: Severity::Error,
        }
    }
}

impl From<shopset_render::RenderError> for Problem {
    fn from(e: shopset_render::RenderError) -> Self {
        use shopset_render::RenderError;
        match e {
            RenderError::Tier {
                tier,
                field,
                message,
            } => Self::of("Tier", &tier, &field, message),
            RenderError::ShopSet {
                shopset,
                field,
                message,
            } => Self::of("ShopSet", &shopset, &field, message),
            RenderError::Path(e) => Self::general(e.to_string()),
        }
    }
}

/// Whether any of `problems` is an error (warnings alone leave an action successful).
#[must_use]
pub fn any_error(problems: &[Problem]) -> bool {
    problems.iter().any(Problem::is_error)
}

/// As JSON: `{file, subject: {kind, name}, field, message, severity, text}`, `text` being the
/// whole line as printed.
impl serde::Serialize for Problem {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct SubjectJson<'a> {
            kind: &'a str,
            name: &'a str,
        }
        let mut s = serializer.serialize_struct("Problem", 6)?;
        s.serialize_field("file", &self.file)?;
        s.serialize_field(
            "subject",
            &self.subject.as_ref().map(|x| SubjectJson {
                kind: &x.kind,
                name: &x.name,
            }),
        )?;
        s.serialize_field("field", &self.field)?;
        s.serialize_field("message", &self.message)?;
        s.serialize_field("severity", &self.severity)?;
        s.serialize_field("text", &self.to_string())?;
        s.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_leaves_out_the_parts_a_problem_does_not_have() {
        let p = Problem::of("ShopSet", "eu-1", "spec.tier", "Tier \"x\" does not exist")
            .in_file("shops.yaml");
        assert_eq!(
            p.to_string(),
            "shops.yaml: ShopSet \"eu-1\": spec.tier: Tier \"x\" does not exist"
        );
        assert!(p.is_about("ShopSet", "eu-1"));
        assert!(!p.is_about("Tier", "eu-1"));
        assert_eq!(p.name_of("ShopSet"), Some("eu-1"));
        assert_eq!(
            Problem::about("Tier", "prod", "system repository: gone").to_string(),
            "Tier \"prod\": system repository: gone"
        );
        assert_eq!(Problem::general("no resources").to_string(), "no resources");
    }

    #[test]
    fn an_input_error_keeps_its_text_and_its_parts() {
        let e = InputError {
            file: "t.yaml".into(),
            kind: "Tier".into(),
            name: "prod".into(),
            field: "spec.app.url".into(),
            message: "expected a URL".into(),
        };
        let p = Problem::from(&e);
        assert_eq!(p.to_string(), e.to_string());
        assert!(p.is_about("Tier", "prod"));
    }

    #[test]
    fn json_carries_the_parts_and_the_text() {
        let p = Problem::of("ShopSet", "a", "spec.x", "bad").and(" (kept)");
        let json = serde_json::to_value(&p).expect("serializes");
        assert_eq!(json["subject"]["kind"], "ShopSet");
        assert_eq!(json["subject"]["name"], "a");
        assert_eq!(json["field"], "spec.x");
        assert_eq!(json["message"], "bad (kept)");
        assert_eq!(json["text"], "ShopSet \"a\": spec.x: bad (kept)");
        assert_eq!(json["file"], serde_json::Value::Null);
        assert_eq!(json["severity"], "error");
        let w = serde_json::to_value(p.as_warning()).expect("serializes");
        assert_eq!(w["severity"], "warning");
    }

    #[test]
    fn only_errors_fail_an_action() {
        let error = Problem::general("broken");
        let warning = Problem::general("waiting").as_warning();
        assert!(!any_error(&[]));
        assert!(!any_error(std::slice::from_ref(&warning)));
        assert!(any_error(&[warning, error]));
    }
}
