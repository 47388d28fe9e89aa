//! The git engine against real servers on 127.0.0.1: git daemon, smart HTTP with basic
//! authentication, and sshd; hook rejections; secrets that never show; signed commits.

use std::path::{Path, PathBuf};
use std::process::Output;

use shopset_tests::servers::{GitDaemon, GitHttp, Redirect, Sshd, bare_repo, hook};
use shopset_tests::{app_repo_from_dir, fixtures, git, ok, shopctl_command};

/// A Tier, an inline Configuration, a FailureDomain and two ShopSets, writing to `system_url`.
struct World {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    resources: PathBuf,
}

fn world(system_url: &dyn Fn(&Path) -> String) -> World {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_owned();
    let app = dir.join("app.git");
    app_repo_from_dir(&app, &fixtures().join("apps/podinfo"), &["tier-0"]);
    std::fs::create_dir_all(dir.join("served")).unwrap();
    let url = system_url(&dir);
    let resources = dir.join("resources.yaml");
    std::fs::write(
        &resources,
        format!(
            "apiVersion: shopset.dev/v1alpha1\nkind: Tier\nmetadata: {{name: tier-0}}\nspec:\n  app: {{url: \"{app}\", path: kustomize}}\n  system: {{url: \"{url}\"}}\n---\n\
             apiVersion: shopset.dev/v1alpha1\nkind: Configuration\nmetadata: {{name: plan}}\nspec:\n  inline: {{values: {{A: \"1\"}}}}\n---\n\
             apiVersion: shopset.dev/v1alpha1\nkind: FailureDomain\nmetadata: {{name: zone}}\nspec:\n  destination: {{name: c1}}\n---\n\
             apiVersion: shopset.dev/v1alpha1\nkind: ShopSet\nmetadata: {{name: shop-a}}\nspec: {{tier: tier-0, configuration: plan}}\n---\n\
             apiVersion: shopset.dev/v1alpha1\nkind: ShopSet\nmetadata: {{name: shop-b}}\nspec: {{tier: tier-0, configuration: plan}}\n",
            app = app.display()
        ),
    )
    .unwrap();
    World {
        _tmp: tmp,
        dir,
        resources,
    }
}

fn sync(w: &World, extra: &[&str]) -> Output {
    shopctl_command()
        .env("SHOPSET_CACHE_DIR", w.dir.join("cache"))
        .args(extra)
        .args(["sync", "-f"])
        .arg(&w.resources)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn served_tip(repo: &Path, branch: &str) -> Option<String> {
    let out = git(
        repo,
        &[
            "--git-dir",
            &repo.display().to_string(),
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("refs/heads/{branch}"),
        ],
    );
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[test]
fn git_daemon_push_then_nothing_to_push() {
    let served = std::cell::RefCell::new(None);
    let w = world(&|dir| {
        bare_repo(&dir.join("served/system.git"));
        let daemon = GitDaemon::start(&dir.join("served"));
        let url = daemon.url("system.git");
        *served.borrow_mut() = Some(daemon);
        url
    });
    let system = w.dir.join("served/system.git");
    let first = sync(&w, &[]);
    assert!(first.status.success(), "{}", text(&first));
    assert!(text(&first).contains("committed"), "{}", text(&first));
    let tip = served_tip(&system, "tier-0").expect("pushed");
    let reflog = std::fs::read_to_string(system.join("logs/refs/heads/tier-0")).unwrap();
    assert_eq!(reflog.lines().count(), 1);

    let second = sync(&w, &[]);
    assert!(text(&second).contains("unchanged"), "{}", text(&second));
    assert_eq!(served_tip(&system, "tier-0").as_deref(), Some(tip.as_str()));
    let reflog = std::fs::read_to_string(system.join("logs/refs/heads/tier-0")).unwrap();
    assert_eq!(reflog.lines().count(), 1, "a no-op sync pushes nothing");
    // The cache persisted and was reused: one cache directory per repository.
    let caches: Vec<_> = std::fs::read_dir(w.dir.join("cache")).unwrap().collect();
    assert_eq!(caches.len(), 2, "app and system caches");
}

#[test]
fn a_hook_rejection_is_a_rejection_not_a_success() {
    let served = std::cell::RefCell::new(None);
    let w = world(&|dir| {
        let repo = dir.join("served/system.git");
        bare_repo(&repo);
        hook(
            &repo,
            "pre-receive",
            "#!/bin/sh\necho 'branch tier-0 is protected: merge by pull request' >&2\nexit 1\n",
        );
        let daemon = GitDaemon::start(&dir.join("served"));
        let url = daemon.url("system.git");
        *served.borrow_mut() = Some(daemon);
        url
    });
    let out = sync(&w, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    assert!(
        all.contains("failed") && all.contains("refused") && all.contains("protected"),
        "{all}"
    );
    assert_eq!(
        served_tip(&w.dir.join("served/system.git"), "tier-0"),
        None,
        "nothing landed"
    );
}

#[test]
fn http_basic_auth_and_no_secret_in_any_output() {
    let marker = format!("Mk-{}-s3cret", std::process::id());
    let served = std::cell::RefCell::new(None);
    let w = world(&|dir| {
        bare_repo(&dir.join("served/system.git"));
        let http = GitHttp::start(&dir.join("served"), "shopset", &marker);
        let url = http.url("system.git");
        *served.borrow_mut() = Some(http);
        url
    });
    let good = w.dir.join("password");
    std::fs::write(&good, format!("{marker}\n")).unwrap();
    let bad = w.dir.join("wrong");
    std::fs::write(&bad, format!("{marker}-wrong\n")).unwrap();
    let mut outputs = Vec::new();

    let denied = sync(
        &w,
        &[
            "--git-credentials-host",
            "127.0.0.1",
            "--git-username",
            "shopset",
            "--git-password-file",
            &bad.display().to_string(),
        ],
    );
    assert_eq!(denied.status.code(), Some(1));
    assert!(
        text(&denied)
            .to_ascii_lowercase()
            .contains("authentication"),
        "{}",
        text(&denied)
    );
    outputs.push(text(&denied));

    let pushed = sync(
        &w,
        &[
            "--git-credentials-host",
            "127.0.0.1",
            "--git-username",
            "shopset",
            "--git-password-file",
            &good.display().to_string(),
        ],
    );
    assert!(pushed.status.success(), "{}", text(&pushed));
    assert!(text(&pushed).contains("committed"));
    outputs.push(text(&pushed));
    let again = sync(
        &w,
        &[
            "-v",
            "--git-credentials-host",
            "127.0.0.1",
            "--git-username",
            "shopset",
            "--git-password-file",
            &good.display().to_string(),
        ],
    );
    assert!(text(&again).contains("unchanged"));
    outputs.push(text(&again));

    // A password in a URL is refused, and the refusal does not repeat it.
    let with_password = std::fs::read_to_string(&w.resources).unwrap().replace(
        "http://127.0.0.1",
        &format!("http://shopset:{marker}@127.0.0.1"),
    );
    let file = w.dir.join("leaky.yaml");
    std::fs::write(&file, with_password).unwrap();
    let (requests, _) = served.borrow().as_ref().unwrap().seen.counts();
    let refused = shopctl_command()
        .env("SHOPSET_CACHE_DIR", w.dir.join("cache"))
        .args(["sync", "-f"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused).contains("without a password"),
        "{}",
        text(&refused)
    );
    assert_eq!(
        served.borrow().as_ref().unwrap().seen.counts().0,
        requests,
        "refused before any request"
    );
    outputs.push(text(&refused));

    // An unreachable server.
    let gone = std::fs::read_to_string(&w.resources)
        .unwrap()
        .replace("http://127.0.0.1:", "http://127.0.0.1:1");
    let file = w.dir.join("gone.yaml");
    std::fs::write(&file, gone).unwrap();
    let unreachable = shopctl_command()
        .env("SHOPSET_CACHE_DIR", w.dir.join("cache2"))
        .args([
            "--git-credentials-host",
            "127.0.0.1",
            "--git-password-file",
            &good.display().to_string(),
            "sync",
            "-f",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(unreachable.status.code(), Some(1));
    outputs.push(text(&unreachable));

    for (i, out) in outputs.iter().enumerate() {
        assert!(!out.contains(&marker), "output {i} shows the secret: {out}");
    }
    let system = w.dir.join("served/system.git");
    let log = ok(&git(
        &system,
        &[
            "--git-dir",
            &system.display().to_string(),
            "log",
            "--format=%B",
            "tier-0",
        ],
    ));
    assert!(!log.contains(&marker));
    for entry in walk(&w.dir.join("cache")) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(&marker),
            "{} holds the secret",
            entry.display()
        );
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p))
        } else {
            out.push(p)
        }
    }
    out
}

#[test]
fn ssh_with_host_key_checking() {
    let sshd = std::cell::RefCell::new(None);
    let w = world(&|dir| {
        let repo = dir.join("served/system.git");
        bare_repo(&repo);
        let server = Sshd::start(&dir.join("sshd"));
        let url = server.url(&repo);
        *sshd.borrow_mut() = Some(server);
        url
    });
    let server = sshd.borrow();
    let server = server.as_ref().unwrap();
    let key = server.client_key.display().to_string();

    let empty = w.dir.join("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    let unknown = sync(
        &w,
        &[
            "--git-credentials-host",
            "127.0.0.1",
            "--git-ssh-key",
            &key,
            "--git-known-hosts",
            &empty.display().to_string(),
        ],
    );
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        text(&unknown).contains("Host key verification failed"),
        "{}",
        text(&unknown)
    );

    let known = server.known_hosts.display().to_string();
    let pushed = sync(
        &w,
        &[
            "--git-credentials-host",
            "127.0.0.1",
            "--git-ssh-key",
            &key,
            "--git-known-hosts",
            &known,
        ],
    );
    assert!(pushed.status.success(), "{}", text(&pushed));
    assert!(served_tip(&w.dir.join("served/system.git"), "tier-0").is_some());
}

/// `git verify-commit tier-0` against an SSH allowed-signers file.
fn verify_ssh_signed(repo: &Path, allowed: &Path) -> Output {
    git(
        repo,
        &[
            "--git-dir",
            &repo.display().to_string(),
            "-c",
            &format!("gpg.ssh.allowedSignersFile={}", allowed.display()),
            "verify-commit",
            "tier-0",
        ],
    )
}

#[test]
fn signed_commits_verify() {
    let w = world(&|dir| {
        let repo = dir.join("served/system.git");
        bare_repo(&repo);
        repo.display().to_string()
    });
    let key = w.dir.join("signing_key");
    shopset_tests::servers::ssh_keygen(&key);
    let out = sync(&w, &["--sign-ssh-key", &key.display().to_string()]);
    assert!(out.status.success(), "{}", text(&out));
    let public = std::fs::read_to_string(w.dir.join("signing_key.pub")).unwrap();
    let allowed = w.dir.join("allowed_signers");
    std::fs::write(
        &allowed,
        format!("shopset@localhost namespaces=\"git\" {public}"),
    )
    .unwrap();
    let system = w.dir.join("served/system.git");
    let verify = verify_ssh_signed(&system, &allowed);
    assert!(verify.status.success(), "{}", text(&verify));
    // And an unsigned commit does not verify, so the check means something.
    let unsigned_world = world(&|dir| {
        let repo = dir.join("served/system.git");
        bare_repo(&repo);
        repo.display().to_string()
    });
    assert!(sync(&unsigned_world, &[]).status.success());
    let system = unsigned_world.dir.join("served/system.git");
    let verify = verify_ssh_signed(&system, &allowed);
    assert!(!verify.status.success());
}

#[test]
fn gpg_signed_commits_verify() {
    let w = world(&|dir| {
        let repo = dir.join("served/system.git");
        bare_repo(&repo);
        repo.display().to_string()
    });
    let home = w.dir.join("gnupg");
    std::fs::create_dir_all(&home).unwrap();
    let gpg = |args: &[&str]| {
        std::process::Command::new("gpg")
            .env("GNUPGHOME", &home)
            .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args(args)
            .output()
            .expect("gpg runs")
    };
    let made = gpg(&[
        "--quick-gen-key",
        "shopset <shopset@localhost>",
        "ed25519",
        "sign",
        "never",
    ]);
    assert!(made.status.success(), "{}", text(&made));
    let listed = gpg(&["--list-secret-keys", "--with-colons"]);
    let fingerprint = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .find_map(|l| {
            l.strip_prefix("fpr:")
                .map(|r| r.trim_matches(':').to_owned())
        })
        .expect("a fingerprint");
    let out = shopctl_command()
        .env("SHOPSET_CACHE_DIR", w.dir.join("cache"))
        .env("GNUPGHOME", &home)
        .args(["--sign-gpg-key", &fingerprint, "sync", "-f"])
        .arg(&w.resources)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let system = w.dir.join("served/system.git");
    let verify = std::process::Command::new("git")
        .env("GNUPGHOME", &home)
        .arg("--git-dir")
        .arg(&system)
        .args(["verify-commit", "tier-0"])
        .output()
        .unwrap();
    assert!(verify.status.success(), "{}", text(&verify));
    let _ = std::process::Command::new("gpgconf")
        .env("GNUPGHOME", &home)
        .args(["--kill", "gpg-agent"])
        .output();
}

/// Mounts a Secret named `name` under `<dir>/secrets` with `files`, and makes the Tier's system
/// repository refer to it. Returns the `--secrets-dir` argument.
fn mount_secret(w: &World, name: &str, files: &[(&str, &str)]) -> String {
    let secrets = w.dir.join("secrets");
    let dir = secrets.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for (key, value) in files {
        std::fs::write(dir.join(key), value).unwrap();
    }
    refer_to_secret(w, name);
    secrets.display().to_string()
}

fn refer_to_secret(w: &World, name: &str) {
    let text = std::fs::read_to_string(&w.resources).unwrap();
    let start = text.find("  system: {url: \"").unwrap();
    let end = start + text[start..].find('\n').unwrap();
    let url = text[start..end].split('"').nth(1).unwrap().to_owned();
    let line = format!("  system: {{url: \"{url}\", secretRef: {{name: \"{name}\"}}}}");
    std::fs::write(
        &w.resources,
        format!("{}{line}{}", &text[..start], &text[end..]),
    )
    .unwrap();
}

fn http_world(marker: &str) -> (World, GitHttp) {
    let served = std::cell::RefCell::new(None);
    let w = world(&|dir| {
        bare_repo(&dir.join("served/system.git"));
        let http = GitHttp::start(&dir.join("served"), "shopset", marker);
        let url = http.url("system.git");
        *served.borrow_mut() = Some(http);
        url
    });
    let http = served.into_inner().unwrap();
    (w, http)
}

#[test]
fn a_secret_is_sent_only_to_the_host_it_declares() {
    let marker = format!("Hb-{}-s3cret", std::process::id());
    let (w, http) = http_world(&marker);
    let port = http.port;
    let creds = [("username", "shopset"), ("password", marker.as_str())];
    let system = w.dir.join("served/system.git");

    // Declared for another port of the same machine: refused before any request.
    let other = format!("127.0.0.1:{}", port.wrapping_add(1));
    let secrets = mount_secret(&w, "elsewhere", &[creds[0], creds[1], ("host", &other)]);
    let out = sync(&w, &["--secrets-dir", &secrets]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    assert!(
        all.contains("Secret elsewhere")
            && all.contains(&format!("declared for host {other}"))
            && all.contains(&format!("not for 127.0.0.1:{port}"))
            && all.contains("not sent"),
        "{all}"
    );
    assert_eq!(http.seen.counts(), (0, 0), "nothing reached the server");

    // A Secret declaring no host is never sent.
    let secrets = mount_secret(&w, "anywhere", &creds);
    let out = sync(&w, &["--secrets-dir", &secrets]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("Secret anywhere declare no host") && text(&out).contains("`host` key"),
        "{}",
        text(&out)
    );
    // A Secret that is not mounted: no request without it either.
    refer_to_secret(&w, "not-mounted");
    let out = sync(&w, &["--secrets-dir", &secrets]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("Secret not-mounted is not mounted"),
        "{}",
        text(&out)
    );
    assert_eq!(http.seen.counts(), (0, 0), "nothing reached the server");
    assert_eq!(served_tip(&system, "tier-0"), None);

    // Declared by URL prefix (Argo CD's `url` key), then by host and port: sent, and pushed.
    let prefix = format!("http://127.0.0.1:{port}/");
    let secrets = mount_secret(&w, "by-url", &[creds[0], creds[1], ("url", &prefix)]);
    let out = sync(&w, &["--secrets-dir", &secrets]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(served_tip(&system, "tier-0").is_some());
    let host = format!("127.0.0.1:{port}");
    let secrets = mount_secret(&w, "by-host", &[creds[0], creds[1], ("host", &host)]);
    let out = sync(&w, &["--secrets-dir", &secrets]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains(&marker));
}

#[test]
fn credentials_do_not_follow_a_redirect_to_another_host() {
    let marker = format!("Rd-{}-s3cret", std::process::id());
    let (w, http) = http_world(&marker);
    // The Tier names a host that redirects to the real server under another host name.
    let redirect = Redirect::start(&format!("http://localhost:{}", http.port));
    let text_before = std::fs::read_to_string(&w.resources).unwrap();
    std::fs::write(
        &w.resources,
        text_before.replace(&http.url("system.git"), &redirect.url("system.git")),
    )
    .unwrap();
    let declared = format!("127.0.0.1:{}", redirect.port);
    let secrets = mount_secret(
        &w,
        "redirected",
        &[
            ("username", "shopset"),
            ("password", marker.as_str()),
            ("host", declared.as_str()),
        ],
    );
    let out = sync(&w, &["--secrets-dir", &secrets]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let (requests, with_credentials) = http.seen.counts();
    assert!(
        redirect.seen.counts().0 >= 1 && requests >= 1,
        "git followed the redirect: {:?} {requests}",
        redirect.seen.counts()
    );
    assert_eq!(with_credentials, 0, "the redirect target got credentials");
    assert!(!text(&out).contains(&marker));
}

#[test]
fn a_secret_ref_cannot_name_a_directory_outside_the_secrets_dir() {
    let marker = format!("Tr-{}-s3cret", std::process::id());
    let (w, http) = http_world(&marker);
    let outside = w.dir.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let host = format!("127.0.0.1:{}", http.port);
    for (key, value) in [
        ("username", "shopset"),
        ("password", &marker),
        ("host", &host),
    ] {
        std::fs::write(outside.join(key), value).unwrap();
    }
    std::fs::create_dir_all(w.dir.join("secrets")).unwrap();
    refer_to_secret(&w, "../outside");
    let secrets = w.dir.join("secrets").display().to_string();
    let out = sync(&w, &["--secrets-dir", &secrets]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("spec.system.secretRef.name")
            && text(&out).contains("expected a Secret name"),
        "{}",
        text(&out)
    );
    assert_eq!(http.seen.counts(), (0, 0), "nothing reached the server");
}

#[test]
fn default_credentials_need_a_declared_host() {
    let marker = format!("Df-{}-s3cret", std::process::id());
    let (w, http) = http_world(&marker);
    let password = w.dir.join("password");
    std::fs::write(&password, &marker).unwrap();
    let out = sync(
        &w,
        &["--git-password-file", &password.display().to_string()],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("--git-credentials-host"),
        "{}",
        text(&out)
    );
    let elsewhere = sync(
        &w,
        &[
            "--git-credentials-host",
            "git.example.com",
            "--git-password-file",
            &password.display().to_string(),
        ],
    );
    assert_eq!(elsewhere.status.code(), Some(1), "{}", text(&elsewhere));
    assert!(text(&elsewhere).contains("declared for host git.example.com"));
    assert_eq!(http.seen.counts(), (0, 0), "nothing reached the server");
}
