//! Webhook body parsing: any body read as a GitHub push event. A push read names the branch
//! of its `ref` and only URLs the payload gives; URL normalization ignores case and keeps a
//! URL's host first (a path never supplies the host); a body signed with a secret verifies under that secret only, and
//! no other body verifies under its signature.
#![no_main]

use serde_json::Value;
use shopset_engine::webhook::{WebhookError, normalize, parse_push, sign, verify};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(push) = parse_push(data) {
        let v: Value = serde_json::from_slice(data).expect("a push was JSON");
        let r = v["ref"].as_str().expect("a push has a ref");
        assert_eq!(Some(push.branch.as_str()), r.strip_prefix("refs/heads/"));
        let repo = &v["repository"];
        for url in &push.urls {
            let given = repo
                .as_object()
                .is_some_and(|o| o.values().any(|u| u.as_str() == Some(url.as_str())));
            assert!(given, "{url:?} is not in the payload");
        }
        for url in &push.urls {
            assert_eq!(
                normalize(&url.to_ascii_uppercase()),
                normalize(url),
                "case matters in {url:?}"
            );
        }
    }
    // The host of a URL with a scheme is the start of its normalized form, so a push for one
    // host never matches a repository on another.
    if let Ok(text) = std::str::from_utf8(data) {
        let lower = text.trim().to_ascii_lowercase();
        if let Some((_, rest)) = lower.split_once("://") {
            let end = rest.find('/').unwrap_or(rest.len());
            let host = rest[..end].rsplit('@').next().unwrap_or_default();
            if rest[end..].trim_matches('/').len() > 4 {
                let n = normalize(text);
                assert!(
                    n.strip_prefix(host).is_some_and(|p| p.starts_with('/')),
                    "{text:?} normalized to {n:?}, not on host {host:?}"
                );
            }
        }
    }

    // Signatures: the first bytes (up to 16) are the secret, the rest the body.
    let (secret, body) = data.split_at(data.len().min(16));
    let signature = sign(secret, body);
    assert_eq!(verify(secret, Some(&signature), body), Ok(()));
    let mut other = body.to_vec();
    other.push(b'x');
    assert_eq!(
        verify(secret, Some(&signature), &other),
        Err(WebhookError::BadSignature)
    );
    if !secret.is_empty() {
        let mut wrong = secret.to_vec();
        wrong[0] ^= 1;
        assert_eq!(
            verify(&wrong, Some(&signature), body),
            Err(WebhookError::BadSignature)
        );
    }
    // A header made of the body itself is never accepted for it (it is not the signature).
    if let Ok(header) = std::str::from_utf8(body)
        && header != signature
    {
        assert!(verify(secret, Some(header), body).is_err());
    }
});
