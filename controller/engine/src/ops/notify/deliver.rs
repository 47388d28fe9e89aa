//! Sending: Slack's Web API (`chat.postMessage`, then `chat.update` of the same message), a
//! webhook signed with HMAC-SHA256, GitHub commit statuses. Each request is retried with
//! backoff a bounded number of times; a failure is returned, never raised, so whatever
//! called (a promotion, a sync) goes on. Secrets are read by reference when needed and never
//! written anywhere: errors are scrubbed of them.

use std::time::Duration;

use hmac::{Hmac, Mac as _};
use serde_json::{Value, json};
use sha2::Sha256;
use shopset_crds::{
    NotificationChannel, NotificationPolicySpec, NotificationPolicyStatus, SentMessage,
};
use shopset_git::Secret;

use super::{Message, Send, plan, remember};

/// The header of a webhook's signature: `sha256=<hex HMAC-SHA256 of the body>`.
pub const SIGNATURE_HEADER: &str = "X-Shopset-Signature-256";
/// The header naming a webhook's event.
pub const EVENT_HEADER: &str = "X-Shopset-Event";

/// Slack's Web API, when a channel names none.
pub const SLACK_API: &str = "https://slack.com/api";
/// GitHub's API, when a channel names none.
pub const GITHUB_API: &str = "https://api.github.com";

/// How hard to try.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Tries per request.
    pub attempts: u32,
    /// The wait before the second try, doubled for each next one.
    pub backoff: Duration,
    /// The longest one request may take.
    pub timeout: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            attempts: 3,
            backoff: Duration::from_millis(250),
            timeout: Duration::from_secs(5),
        }
    }
}

/// Where secrets come from: `(Secret name, key)` → value.
pub type Secrets<'a> = &'a (dyn Fn(&str, &str) -> Option<Secret> + Sync);

/// A message that did not get through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The channel.
    pub channel: String,
    /// The message's key.
    pub key: String,
    /// Why (scrubbed of secrets).
    pub error: String,
}

/// What one round of deliveries did.
#[derive(Debug, Default)]
pub struct Delivered {
    /// Sent (and recorded).
    pub sent: Vec<SentMessage>,
    /// Not sent.
    pub failed: Vec<Failure>,
}

/// Sends each of `messages` to each channel its rules name, unless `record` says the channel
/// has it already, and records what went through. A channel that fails is not tried again
/// in this round (its other messages fail with it), so a channel that is down costs one
/// retried request per round.
pub fn deliver(
    spec: &NotificationPolicySpec,
    record: &mut NotificationPolicyStatus,
    messages: &[Message],
    secrets: Secrets<'_>,
    retry: &Retry,
    now: &str,
) -> Delivered {
    let mut out = Delivered::default();
    let mut results = Vec::new();
    {
        let sends = plan(spec, record, messages);
        let mut down: Vec<&str> = Vec::new();
        for send in sends {
            let channel = send.channel.name.as_str();
            if down.contains(&channel) {
                out.failed.push(Failure {
                    channel: channel.to_owned(),
                    key: send.message.key.clone(),
                    error: "not tried: the channel failed earlier in this round".into(),
                });
                continue;
            }
            match send_one(&send, secrets, retry) {
                Ok(id) => results.push(SentMessage {
                    key: send.message.key.clone(),
                    channel: channel.to_owned(),
                    id,
                    digest: send.digest.clone(),
                    at: now.to_owned(),
                }),
                Err(error) => {
                    down.push(channel);
                    out.failed.push(Failure {
                        channel: channel.to_owned(),
                        key: send.message.key.clone(),
                        error,
                    });
                }
            }
        }
    }
    for sent in results {
        remember(record, sent.clone());
        out.sent.push(sent);
    }
    record.failed_deliveries += out.failed.len() as u64;
    out
}

/// Sends a test message to `channel` of `spec` (`shopctl notify test`): nothing recorded.
///
/// # Errors
/// No such channel, or it failed (after its retries).
pub fn test(
    spec: &NotificationPolicySpec,
    channel: &str,
    secrets: Secrets<'_>,
    retry: &Retry,
    now: &str,
) -> Result<Option<String>, String> {
    let found = spec
        .channels
        .iter()
        .find(|c| c.name == channel)
        .ok_or_else(|| {
            let names: Vec<&str> = spec.channels.iter().map(|c| c.name.as_str()).collect();
            format!("no channel {channel:?}: expected one of {names:?}")
        })?;
    let message = Message {
        event: super::Event::RolloutSucceeded,
        key: format!("test/{}", super::digest(now)),
        tier: None,
        shop_sets: Vec::new(),
        title: format!("shopset: a test message to {channel} ({now})"),
        text: "If you read this, the channel works.".into(),
        commits: Vec::new(),
        status: None,
    };
    if found.github.is_some() {
        // A commit status needs a commit: the test checks the token can read the API.
        return github_check(found, secrets, retry).map(|()| None);
    }
    send_one(
        &Send {
            message: &message,
            channel: found,
            previous: None,
            digest: String::new(),
        },
        secrets,
        retry,
    )
}

fn secret(secrets: Secrets<'_>, name: &str, key: &str) -> Result<Secret, String> {
    secrets(name, key).ok_or_else(|| format!("Secret {name:?} has no key {key:?} here"))
}

/// One message to one channel: the id to record (Slack's message), or why not.
fn send_one(
    send: &Send<'_>,
    secrets: Secrets<'_>,
    retry: &Retry,
) -> Result<Option<String>, String> {
    let c = send.channel;
    if let Some(slack) = &c.slack {
        let token = secret(secrets, &slack.secret_ref.name, "token")?;
        let api = slack
            .api
            .as_deref()
            .unwrap_or(SLACK_API)
            .trim_end_matches('/');
        let text = slack_text(send.message);
        let update = send
            .previous
            .and_then(|p| p.id.as_deref())
            .and_then(|id| id.split_once('/'));
        let (method, body) = match update {
            Some((channel, ts)) => (
                "chat.update",
                json!({"channel": channel, "ts": ts, "text": text}),
            ),
            None => (
                "chat.postMessage",
                json!({"channel": slack.channel, "text": text, "unfurl_links": false}),
            ),
        };
        let answer = with_retries(retry, &[token.expose()], || {
            let (status, value) = post_json(
                &format!("{api}/{method}"),
                &body,
                &[("Authorization", &format!("Bearer {}", token.expose()))],
                retry,
            )?;
            if status >= 500 || status == 429 {
                return Err(Attempt::Again(format!("Slack {method}: HTTP {status}")));
            }
            if value["ok"].as_bool() != Some(true) {
                let error = value["error"].as_str().unwrap_or("no error named");
                return Err(Attempt::Final(format!(
                    "Slack {method}: HTTP {status}: {error}"
                )));
            }
            Ok(value)
        })?;
        let channel = answer["channel"].as_str().unwrap_or(&slack.channel);
        let ts = answer["ts"].as_str().unwrap_or_default();
        return Ok(Some(format!("{channel}/{ts}")));
    }
    if let Some(hook) = &c.webhook {
        let key = match &hook.secret_ref {
            Some(s) => Some(secret(secrets, &s.name, "secret")?),
            None => None,
        };
        let body = webhook_body(send.message);
        let bytes = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
        let mut headers = vec![(EVENT_HEADER, send.message.event.name().to_owned())];
        if let Some(key) = &key {
            headers.push((SIGNATURE_HEADER, signature(key.expose().as_bytes(), &bytes)));
        }
        let scrub: Vec<&str> = key.iter().map(Secret::expose).collect();
        with_retries(retry, &scrub, || {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let (status, _) = post(&hook.url, &bytes, &headers, retry)?;
            match status {
                200..=299 => Ok(()),
                408 | 429 | 500.. => Err(Attempt::Again(format!("webhook: HTTP {status}"))),
                _ => Err(Attempt::Final(format!("webhook: HTTP {status}"))),
            }
        })?;
        return Ok(None);
    }
    if let Some(gh) = &c.github {
        let Some(state) = send.message.github_state() else {
            return Ok(None);
        };
        let token = secret(secrets, &gh.secret_ref.name, "token")?;
        let api = gh.api.as_deref().unwrap_or(GITHUB_API);
        let tier = send.message.tier.as_deref().unwrap_or("tier");
        let context = format!("shopset/{tier}");
        let target = gh.target_url.as_ref().map(|u| u.replace("{{tier}}", tier));
        for commit in &send.message.commits {
            let client = shopset_git::forge::GitHub::new(api, &commit.url, Some(&token))
                .map_err(|e| e.to_string())?;
            with_retries(retry, &[token.expose()], || {
                client
                    .set_status(
                        &commit.commit,
                        state,
                        &send.message.title,
                        &context,
                        target.as_deref(),
                    )
                    .map_err(|e| match e {
                        shopset_git::forge::ForgeError::Refused { status, .. } if status < 500 => {
                            Attempt::Final(e.to_string())
                        }
                        other => Attempt::Again(other.to_string()),
                    })
            })?;
        }
        return Ok(None);
    }
    Err(format!("channel {}: no kind", c.name))
}

fn github_check(
    channel: &NotificationChannel,
    secrets: Secrets<'_>,
    retry: &Retry,
) -> Result<(), String> {
    let gh = channel.github.as_ref().ok_or("not a GitHub channel")?;
    let token = secret(secrets, &gh.secret_ref.name, "token")?;
    let api = gh
        .api
        .as_deref()
        .unwrap_or(GITHUB_API)
        .trim_end_matches('/');
    with_retries(retry, &[token.expose()], || {
        let agent = agent(retry);
        let mut response = agent
            .get(format!("{api}/rate_limit"))
            .header("Authorization", format!("Bearer {}", token.expose()))
            .header("User-Agent", "shopset")
            .call()
            .map_err(|e| Attempt::Again(e.to_string()))?;
        let status = response.status().as_u16();
        let _ = response.body_mut().read_to_string();
        match status {
            200..=299 => Ok(()),
            500.. => Err(Attempt::Again(format!("GitHub: HTTP {status}"))),
            _ => Err(Attempt::Final(format!("GitHub: HTTP {status}"))),
        }
    })
}

/// What Slack shows.
fn slack_text(m: &Message) -> String {
    if m.text.is_empty() {
        format!("*{}*", m.title)
    } else {
        format!("*{}*\n{}", m.title, m.text)
    }
}

/// What a webhook receives.
fn webhook_body(m: &Message) -> Value {
    json!({
        "event": m.event.name(),
        "severity": m.event.severity(),
        "key": m.key,
        "tier": m.tier,
        "shopSets": m.shop_sets.iter().take(100).collect::<Vec<_>>(),
        "shopSetCount": m.shop_sets.len(),
        "title": m.title,
        "text": m.text,
        "commits": m.commits.iter().map(|c| json!({
            "repository": shopset_git::redact_url(&c.url),
            "commit": c.commit,
        })).collect::<Vec<_>>(),
    })
}

/// `sha256=<hex HMAC-SHA256 of body under key>`.
#[must_use]
pub fn signature(key: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

enum Attempt {
    /// Worth another try (a timeout, a 5xx, a 429).
    Again(String),
    /// Not (a 4xx: the request itself is wrong).
    Final(String),
}

fn with_retries<T>(
    retry: &Retry,
    scrub: &[&str],
    mut once: impl FnMut() -> Result<T, Attempt>,
) -> Result<T, String> {
    let mut wait = retry.backoff;
    let mut last = String::new();
    for attempt in 1..=retry.attempts.max(1) {
        match once() {
            Ok(v) => return Ok(v),
            Err(Attempt::Final(e)) => return Err(shopset_git::scrub(&e, scrub)),
            Err(Attempt::Again(e)) => {
                last = e;
                if attempt < retry.attempts {
                    std::thread::sleep(wait);
                    wait *= 2;
                }
            }
        }
    }
    Err(format!(
        "{} (after {} tries)",
        shopset_git::scrub(&last, scrub),
        retry.attempts.max(1)
    ))
}

fn agent(retry: &Retry) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(retry.timeout))
        .http_status_as_error(false)
        .build()
        .into()
}

fn post(
    url: &str,
    body: &[u8],
    headers: &[(&str, &str)],
    retry: &Retry,
) -> Result<(u16, String), Attempt> {
    let mut request = agent(retry)
        .post(url)
        .header("Content-Type", "application/json; charset=utf-8")
        .header("User-Agent", "shopset");
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let mut response = request
        .send(body)
        .map_err(|e| Attempt::Again(format!("{}: {e}", shopset_git::redact_url(url))))?;
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    Ok((status, text))
}

fn post_json(
    url: &str,
    body: &Value,
    headers: &[(&str, &str)],
    retry: &Retry,
) -> Result<(u16, Value), Attempt> {
    let bytes = serde_json::to_vec(body).map_err(|e| Attempt::Final(e.to_string()))?;
    let (status, text) = post(url, &bytes, headers, retry)?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_the_body() {
        // RFC 4231, test case 2.
        let sig = signature(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            sig,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn retries_stop_at_a_final_answer_and_after_the_attempts() {
        let retry = Retry {
            attempts: 3,
            backoff: Duration::from_millis(1),
            timeout: Duration::from_secs(1),
        };
        let mut tries = 0;
        let r: Result<(), String> = with_retries(&retry, &["s3cret"], || {
            tries += 1;
            Err(Attempt::Again("HTTP 500 with s3cret".into()))
        });
        assert_eq!(tries, 3);
        let e = r.expect_err("fails");
        assert!(!e.contains("s3cret") && e.contains("after 3 tries"), "{e}");
        let mut tries = 0;
        let _ = with_retries::<()>(&retry, &[], || {
            tries += 1;
            Err(Attempt::Final("HTTP 404".into()))
        });
        assert_eq!(tries, 1);
    }
}
