//! The global `--cacert`, `--cert` and `--key` flags against a member that requires
//! client certificates, compared with etcdctl 3.6 on the same member.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{etcdctl_bin, etcdkit_bin, normalize, run};
use etcdkit_testkit::{ClientTls, EtcdServer};
use rcgen::{
    BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, SanType,
};

/// Writes a CA, a server certificate for 127.0.0.1 and a client certificate to `dir`.
fn make_pki(dir: &std::path::Path) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "etcdkit cli test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca, ca_key);

    let mut server = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    server
        .subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_key = KeyPair::generate().unwrap();
    let server_cert = server.signed_by(&server_key, &issuer).unwrap();

    let mut client = CertificateParams::new(Vec::<String>::new()).unwrap();
    client
        .distinguished_name
        .push(rcgen::DnType::CommonName, "etcdkit-cli-test");
    client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_key = KeyPair::generate().unwrap();
    let client_cert = client.signed_by(&client_key, &issuer).unwrap();

    let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
    write("ca.pem", &ca_pem);
    write("server.pem", &server_cert.pem());
    write("server-key.pem", &server_key.serialize_pem());
    write("client.pem", &client_cert.pem());
    write("client-key.pem", &client_key.serialize_pem());
}

fn args(list: &[String]) -> Vec<String> {
    list.to_vec()
}

#[tokio::test]
async fn cacert_cert_and_key_reach_a_mutual_tls_member() {
    let dir = tempfile::tempdir().unwrap();
    make_pki(dir.path());
    let path = |name: &str| -> PathBuf { dir.path().join(name) };
    let server = tokio::time::timeout(
        Duration::from_secs(60),
        EtcdServer::builder()
            .client_tls(ClientTls {
                cert_file: path("server.pem"),
                key_file: path("server-key.pem"),
                trusted_ca_file: Some(path("ca.pem")),
                client_cert_auth: true,
            })
            .start_server(),
    )
    .await
    .unwrap()
    .unwrap();
    let ep = server.endpoint();
    assert!(ep.starts_with("https://"), "{ep}");
    let flag = |name: &str, file: &str| format!("--{name}={}", path(file).display());
    let tls = vec![
        format!("--endpoints={ep}"),
        flag("cacert", "ca.pem"),
        flag("cert", "client.pem"),
        flag("key", "client-key.pem"),
    ];
    let with = |more: &[&str]| {
        let mut all = tls.clone();
        all.extend(more.iter().map(|s| (*s).to_owned()));
        all
    };

    let put = run(&etcdkit_bin(), &with(&["put", "tls-k", "v"]), b"").await;
    assert_eq!(
        (put.code, put.stdout_text()),
        (0, "OK\n".to_owned()),
        "{}",
        put.stderr_text()
    );
    let get = run(&etcdkit_bin(), &with(&["get", "tls-k"]), b"").await;
    assert_eq!((get.code, get.stdout_text()), (0, "tls-k\nv\n".to_owned()));
    let health = run(&etcdkit_bin(), &with(&["endpoint", "health"]), b"").await;
    assert_eq!(health.code, 0, "{}", health.stderr_text());
    if let Some(etcdctl) = etcdctl_bin().await {
        let theirs = run(&etcdctl, &with(&["get", "tls-k"]), b"").await;
        assert_eq!((theirs.code, theirs.stdout), (get.code, get.stdout.clone()));
        let theirs = run(&etcdctl, &with(&["-w", "json", "get", "tls-k"]), b"").await;
        let ours = run(&etcdkit_bin(), &with(&["-w", "json", "get", "tls-k"]), b"").await;
        assert_eq!(
            normalize(&ours.stdout_text()),
            normalize(&theirs.stdout_text())
        );
    }

    // Without the client certificate: a TLS error within the command timeout.
    let no_cert = args(&[
        format!("--endpoints={ep}"),
        flag("cacert", "ca.pem"),
        "--command-timeout=3s".to_owned(),
        "get".to_owned(),
        "tls-k".to_owned(),
    ]);
    let out = run(&etcdkit_bin(), &no_cert, b"").await;
    assert_ne!(out.code, 0);
    assert!(out.stdout.is_empty());
    assert!(out.stderr_text().contains("TLS"), "{}", out.stderr_text());
    // A certificate without its key is refused before connecting.
    let half = args(&[
        format!("--endpoints={ep}"),
        flag("cert", "client.pem"),
        "get".to_owned(),
        "k".to_owned(),
    ]);
    let out = run(&etcdkit_bin(), &half, b"").await;
    assert_eq!(
        (out.code, out.last_stderr_line()),
        (128, "Error: --cert is given without --key".to_owned())
    );
    // A missing file is a bad argument, as in etcdctl.
    let missing = args(&[
        format!("--endpoints={ep}"),
        "--cacert=/nonexistent/ca.pem".to_owned(),
        "get".to_owned(),
        "k".to_owned(),
    ]);
    let out = run(&etcdkit_bin(), &missing, b"").await;
    assert_eq!(
        (out.code, out.last_stderr_line()),
        (
            128,
            "Error: open /nonexistent/ca.pem: no such file or directory".to_owned()
        )
    );
}

#[tokio::test]
async fn insecure_skip_tls_verify_accepts_an_unknown_ca_like_etcdctl() {
    let dir = tempfile::tempdir().unwrap();
    make_pki(dir.path());
    let path = |name: &str| -> PathBuf { dir.path().join(name) };
    let server = tokio::time::timeout(
        Duration::from_secs(60),
        EtcdServer::builder()
            .client_tls(ClientTls {
                cert_file: path("server.pem"),
                key_file: path("server-key.pem"),
                trusted_ca_file: None,
                client_cert_auth: false,
            })
            .start_server(),
    )
    .await
    .unwrap()
    .unwrap();
    // Without the scheme: the TLS flags alone decide that TLS is spoken.
    let ep = server.endpoint().trim_start_matches("https://").to_owned();
    let line = |more: &[&str]| {
        let mut all = vec![
            format!("--endpoints={ep}"),
            "--command-timeout=2s".to_owned(),
        ];
        all.extend(more.iter().map(|s| (*s).to_owned()));
        all
    };
    let skip = line(&["--insecure-skip-tls-verify", "get", "k"]);
    let untrusted = line(&["--insecure-transport=false", "get", "k"]);
    let ours = run(&etcdkit_bin(), &skip, b"").await;
    assert_eq!(
        (ours.code, ours.stdout_text()),
        (0, String::new()),
        "{}",
        ours.stderr_text()
    );
    // Verifying against the public roots fails: the test CA is not one of them.
    let refused = run(&etcdkit_bin(), &untrusted, b"").await;
    assert_eq!(refused.code, 1, "{}", refused.stderr_text());
    if let Some(etcdctl) = etcdctl_bin().await {
        let theirs = run(&etcdctl, &skip, b"").await;
        assert_eq!((theirs.code, theirs.stdout), (ours.code, ours.stdout));
        let theirs = run(&etcdctl, &untrusted, b"").await;
        assert_eq!(theirs.code, refused.code);
    }
}
