//! The git engine against real servers on 127.0.0.1: git daemon, smart HTTP with basic
//! authentication, and sshd; hook rejections; secrets that never show; signed commits.

use std::path::{Path, PathBuf};
use std::process::Output;

use shopset_tests::servers::{GitDaemon, GitHttp, Sshd, bare_repo, hook};
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
    let pushed = sync(&w, &["--git-ssh-key", &key, "--git-known-hosts", &known]);
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
