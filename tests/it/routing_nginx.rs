//! The routing table's reference consumer against the real nginx (Debian's package), on
//! 127.0.0.1: shops assigned by the rule, their table rendered and read back as a router does,
//! turned into an nginx `map`; every shop host must reach the upstream of exactly the ShopSet
//! the table names, and an unknown host none.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use shopset_crds::AssignedBy;
use shopset_render::assignment::{self, Candidate, ShopRequest};
use shopset_render::routing::{self, ShopRoute, ShopSetRoute};
use shopset_tests::controller::{eventually, free_port, request_to};

const NGINX: &str = "/usr/sbin/nginx";

/// nginx, stopped when dropped.
struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `GET /` with `host` as the Host header: status and body (trimmed).
fn get(port: u16, host: &str) -> (u16, String) {
    let (status, body) = request_to(port, host, "GET", "/", &[], b"");
    (status, body.trim().to_owned())
}

/// The edge (one server, the generated map) and one upstream server per ShopSet, answering its
/// own name and the `X-ShopSet` header the edge set.
fn config(dir: &Path, edge: u16, upstreams: &BTreeMap<String, u16>) -> String {
    let mut servers = String::new();
    for (shop_set, port) in upstreams {
        servers.push_str(&format!(
            "    server {{\n        listen 127.0.0.1:{port};\n        location / {{ return 200 \"{shop_set} $http_x_shopset\\n\"; }}\n    }}\n"
        ));
    }
    let d = dir.display();
    format!(
        "worker_processes 1;\nerror_log {d}/error.log;\npid {d}/nginx.pid;\nevents {{ worker_connections 64; }}\n\
         http {{\n    access_log off;\n    client_body_temp_path {d}/body;\n    proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi;\n    uwsgi_temp_path {d}/uwsgi;\n    scgi_temp_path {d}/scgi;\n\
         map_hash_bucket_size 128;\n    include {d}/shops.map;\n\
         server {{\n        listen 127.0.0.1:{edge};\n        location / {{\n            \
         if ($shopset_upstream = \"\") {{ return 421; }}\n            \
         proxy_set_header X-ShopSet $shopset_name;\n            proxy_pass $shopset_upstream;\n        }}\n    }}\n\
         {servers}}}\n"
    )
}

#[test]
fn every_shop_host_reaches_the_upstream_of_the_shop_set_the_table_names() {
    assert!(
        Path::new(NGINX).exists(),
        "nginx is required by this test and is not installed (apt-get install -y nginx)"
    );
    // 40 shops over 5 ShopSets by the rule, one pinned, one of weight 5.
    let mut shops: BTreeMap<String, ShopRequest<'_>> = (0..40)
        .map(|i| {
            (
                format!("shop-{i:02}"),
                ShopRequest {
                    pool: "default",
                    weight: 1,
                    pin: None,
                    isolate: false,
                    recorded: None,
                },
            )
        })
        .collect();
    shops.get_mut("shop-07").expect("shop").pin = Some("ss-4");
    shops.get_mut("shop-11").expect("shop").weight = 5;
    let candidates: BTreeMap<String, Candidate<'_>> = (0..5)
        .map(|i| {
            (
                format!("ss-{i}"),
                Candidate {
                    pool: "default",
                    capacity: 20,
                    accept_new: true,
                    dedicated_to: None,
                    ready: true,
                },
            )
        })
        .collect();
    let assigned = assignment::assign(&shops, &candidates);
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let upstreams: BTreeMap<String, u16> = candidates
        .keys()
        .map(|n| (n.clone(), free_port()))
        .collect();

    // The table, as a tier branch holds it, read back as a router does.
    let rows: BTreeMap<String, ShopRoute> = assigned
        .shops
        .iter()
        .map(|(shop, outcome)| {
            let a = outcome.assigned.as_ref().expect("every shop fits");
            let hosts = vec![format!("{shop}.example.com"), format!("www.{shop}.shop")];
            (
                (*shop).to_owned(),
                ShopRoute {
                    shop_set: a.shop_set.to_owned(),
                    epoch: a.epoch,
                    hosts,
                },
            )
        })
        .collect();
    assert_eq!(
        assigned.shops["shop-07"]
            .assigned
            .as_ref()
            .map(|a| (a.shop_set, a.by)),
        Some(("ss-4", AssignedBy::Pin))
    );
    let sets: BTreeMap<String, ShopSetRoute> = upstreams
        .iter()
        .map(|(n, port)| {
            (
                n.clone(),
                ShopSetRoute {
                    failure_domain: "local".into(),
                    upstream: Some(format!("http://127.0.0.1:{port}")),
                    shift: None,
                },
            )
        })
        .collect();
    let files = routing::files("tier-0", &rows, &sets);
    let table =
        routing::load(files.iter().map(|(p, b)| (p.as_str(), b.as_slice()))).expect("loads");
    assert_eq!(table.shops, rows);
    std::fs::write(
        dir.join("shops.map"),
        routing::nginx_map(&table.shops, &table.shop_sets),
    )
    .expect("map");

    let edge = free_port();
    let conf = dir.join("nginx.conf");
    std::fs::write(&conf, config(dir, edge, &upstreams)).expect("conf");
    let test = Command::new(NGINX)
        .args(["-t", "-p"])
        .arg(dir)
        .arg("-c")
        .arg(&conf)
        .output()
        .expect("nginx runs");
    assert!(
        test.status.success(),
        "nginx -t: {}",
        String::from_utf8_lossy(&test.stderr)
    );
    let _nginx = Nginx(
        Command::new(NGINX)
            .args(["-g", "daemon off;", "-p"])
            .arg(dir)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts"),
    );
    eventually(Duration::from_secs(20), || {
        (get(edge, "shop-00.example.com").0 == 200).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "nginx does not answer: {}",
            std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
        )
    });

    for (shop, row) in &table.shops {
        for host in &row.hosts {
            let (status, body) = get(edge, host);
            assert_eq!(status, 200, "{shop} {host}");
            assert_eq!(
                body,
                format!("{} {}", row.shop_set, row.shop_set),
                "{host} reaches the upstream of {} with X-ShopSet set",
                row.shop_set
            );
        }
    }
    assert_eq!(
        get(edge, "nobody.example.com").0,
        421,
        "an unknown host goes nowhere"
    );
}
