//! The cold-write benchmark (issue 17, point 2): a new tier branch's whole tree written into
//! an empty repository as one pack, its blobs hashed and its objects compressed on every core,
//! beside the same write on one thread, measured in the same run on the same tree; both must
//! give the same tree id. The tree is shaped like a tier's rendering: per ShopSet an overlay
//! (kustomization, values, isolation objects) and an Application, most files different from
//! ShopSet to ShopSet, some the same; and one large recorded-inputs file. It prints figures;
//! it asserts nothing about time.
//!
//! `cargo bench -p shopset-tests --bench pack -- 33000` (ShopSets; 33,000 by default, a third
//! of 100,000: one tier).

use std::time::Instant;

use shopset_render::tree::Tree;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn tree(n: usize) -> Tree {
    let mut t = Tree::default();
    let mut inputs = String::new();
    for i in 0..n {
        let name = format!("shop-{i:06}");
        let shard = format!("{:02x}", i % 256);
        let dir = format!("shopsets/{shard}/{name}");
        t.files.insert(
            format!("{dir}/kustomization.yaml"),
            format!(
                "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: {name}\n\
                 resources:\n- ../../../base/kustomize\n- isolation/namespace.yaml\n- isolation/quota.yaml\n\
                 labels:\n- pairs:\n    shopset.dev/shopset: {name}\n    shopset.dev/tier: tier-0\n  \
                 includeSelectors: false\n  includeTemplates: true\nconfigMapGenerator:\n- name: shopset-values\n  \
                 files:\n  - \"PLAN=values/PLAN\"\n  - \"REGION=values/REGION\"\nreplicas:\n- name: web\n  count: {}\n",
                1 + i % 5
            )
            .into_bytes(),
        );
        t.files
            .insert(format!("{dir}/values/PLAN"), b"standard".to_vec());
        t.files.insert(
            format!("{dir}/values/REGION"),
            format!("region-{}", i % 7).into_bytes(),
        );
        t.files.insert(
            format!("{dir}/isolation/namespace.yaml"),
            format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n").into_bytes(),
        );
        t.files.insert(
            format!("{dir}/isolation/quota.yaml"),
            b"apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: shopset-isolation\nspec:\n  hard:\n    pods: \"50\"\n"
                .to_vec(),
        );
        t.files.insert(
            format!("applications/{shard}/{name}.yaml"),
            format!(
                "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {name}\n  \
                 namespace: argocd\n  labels:\n    shopset.dev/shopset: {name}\nspec:\n  project: shopset-tier-0\n  \
                 source:\n    repoURL: https://git.example.com/system.git\n    targetRevision: tier-0\n    \
                 path: {dir}\n  destination:\n    name: cluster-{}\n    namespace: {name}\n",
                i % 3
            )
            .into_bytes(),
        );
        inputs.push_str(&format!(
            "  {name}:\n    failureDomain: fd-{}\n    spec: {{tier: tier-0, configuration: standard}}\n",
            i % 3
        ));
    }
    t.files
        .insert(".shopset/inputs.yaml".into(), inputs.into_bytes());
    t.gitlinks.insert(
        "base".into(),
        "1111111111111111111111111111111111111111".into(),
    );
    t
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(33_000);
    let rounds = 3;
    let t = tree(n);
    let bytes: usize = t.files.values().map(Vec::len).sum();
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    println!(
        "cold write: {n} ShopSets, {} files, {:.1} MB, into an empty repository; {cores} cores",
        t.files.len(),
        bytes as f64 / 1e6
    );
    let mut one = Vec::new();
    let mut all = Vec::new();
    for round in 0..rounds {
        for (times, parallel) in [(&mut one, false), (&mut all, true)] {
            let dir = tempfile::tempdir().unwrap();
            let repo = shopset_git::Repo::open_or_init_bare(&dir.path().join("r.git")).unwrap();
            let start = Instant::now();
            let id = if parallel {
                repo.write_tree(&t)
            } else {
                repo.write_tree_on_one_thread(&t)
            }
            .unwrap();
            times.push((start.elapsed().as_secs_f64() * 1000.0, id));
            if round == 0 && parallel {
                let packed: u64 = std::fs::read_dir(dir.path().join("r.git/objects/pack"))
                    .unwrap()
                    .map(|e| e.unwrap().metadata().unwrap().len())
                    .sum();
                println!("pack and index: {:.1} MB", packed as f64 / 1e6);
            }
        }
        assert_eq!(one[round].1, all[round].1, "the same tree either way");
    }
    let median = |v: &Vec<(f64, String)>| {
        let mut ms: Vec<f64> = v.iter().map(|(ms, _)| *ms).collect();
        ms.sort_by(f64::total_cmp);
        ms[ms.len() / 2]
    };
    let (a, b) = (median(&one), median(&all));
    println!("one thread:   {a:>8.0} ms (median of {rounds})");
    println!("every core:   {b:>8.0} ms (median of {rounds})");
    println!("ratio:        {:>8.2}x faster, tree {}", a / b, all[0].1);
}
