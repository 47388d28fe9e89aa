//! Same inputs, same bytes: two renders in two processes with the inputs in another order, and a
//! render from the recorded `.shopset/inputs.yaml`.

use shopset_tests::{ok, read_dir_files, run_shopctl};

#[test]
fn renders_are_identical_whatever_the_input_order() {
    let (tmp, dir) = shopset_tests::quickstart();

    // The same documents, files and documents in reverse order, in one file.
    let mut files: Vec<_> = std::fs::read_dir(dir.join("resources"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut docs = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        docs.extend(text.split("\n---\n").map(str::to_owned));
    }
    assert!(docs.len() >= 15, "{} documents", docs.len());
    docs.reverse();
    let reversed = tmp.path().join("reversed.yaml");
    std::fs::write(&reversed, docs.join("\n---\n")).unwrap();

    let out1 = tmp.path().join("out1");
    let out2 = tmp.path().join("out2");
    ok(&run_shopctl([
        "render",
        "-f",
        &dir.join("resources").display().to_string(),
        "--out",
        &out1.display().to_string(),
    ]));
    ok(&run_shopctl([
        "render",
        "-f",
        &reversed.display().to_string(),
        "--out",
        &out2.display().to_string(),
    ]));
    let a = read_dir_files(&out1);
    let b = read_dir_files(&out2);
    assert!(a.len() > 50, "{} files", a.len());
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (path, bytes) in &a {
        assert!(b[path] == *bytes, "{path} differs between the two renders");
    }

    // The branch in git has exactly the rendered bytes, and re-rendering from the recorded
    // inputs gives them again.
    let repo = shopset_git::Repo::open(&dir.join("system.git").display().to_string()).unwrap();
    for tier in ["tier-0", "tier-1", "tier-2"] {
        let tip = repo.tip(tier).unwrap().unwrap();
        let in_git: std::collections::BTreeMap<String, Vec<u8>> = repo
            .read_dir(&tip, "")
            .unwrap()
            .into_iter()
            .filter_map(|e| match e {
                shopset_git::FileEntry::File { path, bytes } => {
                    Some((format!("{tier}/{path}"), bytes))
                }
                shopset_git::FileEntry::Symlink { .. } => None,
            })
            .collect();
        let rendered: std::collections::BTreeMap<_, _> = a
            .iter()
            .filter(|(p, _)| {
                p.starts_with(&format!("{tier}/")) && !p.starts_with(&format!("{tier}/base/"))
            })
            .map(|(p, b)| (p.clone(), b.clone()))
            .collect();
        assert_eq!(in_git, rendered, "{tier}: git branch = render");

        let out3 = tmp.path().join(format!("out3-{tier}"));
        let inputs = out1.join(tier).join(".shopset/inputs.yaml");
        ok(&run_shopctl([
            "render",
            "--inputs",
            &inputs.display().to_string(),
            "--out",
            &out3.display().to_string(),
        ]));
        let again = read_dir_files(&out3.join(tier));
        let original = read_dir_files(&out1.join(tier));
        assert_eq!(again, original, "{tier}: render from .shopset/inputs.yaml");
    }
}
