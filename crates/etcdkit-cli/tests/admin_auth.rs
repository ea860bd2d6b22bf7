//! `auth`, `user` and `role` against real etcd, compared with etcdctl 3.6 run against a
//! twin server, and the global `--user` flag against an auth-enabled member.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Pair, header};

#[tokio::test]
async fn users_roles_and_auth_print_as_etcdctl_does() {
    let pair = Pair::start().await;
    let h = header(1);
    let ok = |text: &str| text.to_owned();

    pair.check(
        &["auth", "status"],
        b"",
        0,
        "Authentication Status: false\nAuthRevision: 1\n",
        "",
    )
    .await;
    pair.check(
        &["-w", "json", "auth", "status"],
        b"",
        0,
        &format!("{{\"header\":{h},\"authRevision\":1}}\n"),
        "",
    )
    .await;

    pair.check(
        &["user", "add", "root:rootpw"],
        b"",
        0,
        "User root created\n",
        "",
    )
    .await;
    pair.check(
        &["-w", "json", "user", "add", "u2:pw"],
        b"",
        0,
        &format!("{{\"header\":{h}}}\n"),
        "",
    )
    .await;
    pair.check(
        &["user", "add", "u3", "--no-password"],
        b"",
        0,
        "User u3 created\n",
        "",
    )
    .await;
    pair.check(
        &["user", "add", "u4", "--interactive=false"],
        b"secret\n",
        0,
        "User u4 created\n",
        "",
    )
    .await;
    pair.check(
        &["user", "add", "u3:x"],
        b"",
        1,
        "",
        "Error: etcdserver: user name already exists",
    )
    .await;
    pair.check(
        &["user", "add", ":x"],
        b"",
        128,
        "",
        "Error: empty user name is not allowed",
    )
    .await;
    pair.check(
        &["user", "add"],
        b"",
        128,
        "",
        "Error: user add command requires user name as its argument",
    )
    .await;
    pair.check(&["user", "list"], b"", 0, "root\nu2\nu3\nu4\n", "")
        .await;
    pair.check(
        &["-w", "json", "user", "list"],
        b"",
        0,
        &format!("{{\"header\":{h},\"users\":[\"root\",\"u2\",\"u3\",\"u4\"]}}\n"),
        "",
    )
    .await;
    pair.check(&["user", "get", "root"], b"", 0, "User: root\nRoles:\n", "")
        .await;
    pair.check(
        &["user", "get", "nobody"],
        b"",
        1,
        "",
        "Error: etcdserver: user name not found",
    )
    .await;

    pair.check(&["role", "add", "r1"], b"", 0, "Role r1 created\n", "")
        .await;
    pair.check(
        &["-w", "json", "role", "add", "r2"],
        b"",
        0,
        &format!("{{\"header\":{h}}}\n"),
        "",
    )
    .await;
    pair.check(
        &["role", "grant-permission", "r1", "read", "/a"],
        b"",
        0,
        "Role r1 updated\n",
        "",
    )
    .await;
    pair.check(
        &["role", "grant-permission", "r1", "write", "/b", "/c"],
        b"",
        0,
        "Role r1 updated\n",
        "",
    )
    .await;
    pair.check(
        &[
            "role",
            "grant-permission",
            "r1",
            "readwrite",
            "/p",
            "--prefix",
        ],
        b"",
        0,
        "Role r1 updated\n",
        "",
    )
    .await;
    pair.check(
        &[
            "role",
            "grant-permission",
            "r1",
            "READWRITE",
            "/f",
            "--from-key",
        ],
        b"",
        0,
        "Role r1 updated\n",
        "",
    )
    .await;
    pair.check(
        &["role", "grant-permission", "r1", "rd", "k"],
        b"",
        128,
        "",
        "Error: invalid permission type: rd",
    )
    .await;
    pair.check(
        &[
            "role",
            "grant-permission",
            "r1",
            "read",
            "k",
            "e",
            "--prefix",
        ],
        b"",
        128,
        "",
        "Error: unexpected endkey argument with --prefix flag",
    )
    .await;
    pair.check(
        &["role", "get", "r1"],
        b"",
        0,
        "Role r1\nKV Read:\n\t/a\n\t[/f, <open ended>\n\t[/p, /q) (prefix /p)\nKV Write:\n\t[/b, /c) (prefix /b)\n\t[/f, <open ended>\n\t[/p, /q) (prefix /p)\n",
        "",
    )
    .await;
    pair.check(
        &["-w", "json", "role", "get", "r1"],
        b"",
        0,
        &format!("{{\"header\":{h},\"perm\":[{{\"key\":\"L2E=\"}},{{\"permType\":1,\"key\":\"L2I=\",\"range_end\":\"L2M=\"}},{{\"permType\":2,\"key\":\"L2Y=\",\"range_end\":\"AA==\"}},{{\"permType\":2,\"key\":\"L3A=\",\"range_end\":\"L3E=\"}}]}}\n"),
        "",
    )
    .await;
    pair.check(&["role", "list"], b"", 0, "r1\nr2\n", "").await;
    pair.check(
        &["-w", "json", "role", "list"],
        b"",
        0,
        &format!("{{\"header\":{h},\"roles\":[\"r1\",\"r2\"]}}\n"),
        "",
    )
    .await;
    pair.check(
        &["role", "revoke-permission", "r1", "/a"],
        b"",
        0,
        "Permission of key /a is revoked from role r1\n",
        "",
    )
    .await;
    pair.check(
        &["role", "revoke-permission", "r1", "/b", "/c"],
        b"",
        0,
        "Permission of range [/b, /c) is revoked from role r1\n",
        "",
    )
    .await;
    pair.check(
        &["role", "revoke-permission", "r1", "/f", "--from-key"],
        b"",
        0,
        "Permission of range [/f, <open ended> is revoked from role r1\n",
        "",
    )
    .await;
    pair.check(
        &["role", "revoke-permission", "r1", "nope"],
        b"",
        1,
        "",
        "Error: etcdserver: permission is not granted to the role",
    )
    .await;

    pair.check(
        &["user", "grant-role", "u2", "r1"],
        b"",
        0,
        "Role r1 is granted to user u2\n",
        "",
    )
    .await;
    pair.check(&["user", "get", "u2"], b"", 0, "User: u2\nRoles: r1\n", "")
        .await;
    pair.check(
        &["-w", "json", "user", "get", "u2"],
        b"",
        0,
        &format!("{{\"header\":{h},\"roles\":[\"r1\"]}}\n"),
        "",
    )
    .await;
    pair.check(&["user", "get", "u2", "--detail"], b"", 0, "User: u2\n\nRole r1\nKV Read:\n\t[/p, /q) (prefix /p)\nKV Write:\n\t[/p, /q) (prefix /p)\n", "").await;
    pair.check(
        &["user", "revoke-role", "u2", "r1"],
        b"",
        0,
        "Role r1 is revoked from user u2\n",
        "",
    )
    .await;
    pair.check(
        &["user", "passwd", "u2", "--interactive=false"],
        b"newpw\n",
        0,
        "Password updated\n",
        "",
    )
    .await;
    pair.check(&["role", "delete", "r2"], b"", 0, "Role r2 deleted\n", "")
        .await;
    pair.check(&["user", "delete", "u3"], b"", 0, "User u3 deleted\n", "")
        .await;

    // Auth on: the global --user flag, in both its forms.
    pair.check(
        &["user", "grant-role", "root", "root"],
        b"",
        0,
        "Role root is granted to user root\n",
        "",
    )
    .await;
    pair.check(&["auth", "enable"], b"", 0, "Authentication Enabled\n", "")
        .await;
    pair.check(
        &["get", "x"],
        b"",
        1,
        "",
        "Error: etcdserver: user name is empty",
    )
    .await;
    pair.check(
        &["--user", "root:bad", "get", "x"],
        b"",
        2,
        "",
        "Error: etcdserver: authentication failed, invalid user ID or password",
    )
    .await;
    pair.check(
        &["--user", "root:rootpw", "put", "x", "1"],
        b"",
        0,
        &ok("OK\n"),
        "",
    )
    .await;
    pair.check(
        &["--user", "root", "--password", "rootpw", "get", "x"],
        b"",
        0,
        "x\n1\n",
        "",
    )
    .await;
    pair.check(
        &["--user", "u2:newpw", "get", "x"],
        b"",
        1,
        "",
        "Error: etcdserver: permission denied",
    )
    .await;
    pair.check(
        &["--user=root:rootpw", "auth", "disable"],
        b"",
        0,
        "Authentication Disabled\n",
        "",
    )
    .await;
}

#[tokio::test]
async fn a_user_without_password_and_no_terminal_is_a_clear_error() {
    let pair = Pair::start().await;
    let out = pair.etcdkit(&["--user", "root", "get", "x"], b"").await;
    assert_eq!(out.code, 1, "{}", out.stderr_text());
    assert!(
        out.last_stderr_line().contains("no terminal"),
        "{}",
        out.stderr_text()
    );
    assert!(
        out.last_stderr_line().contains("--password"),
        "{}",
        out.stderr_text()
    );
    // The password is never printed, even in errors.
    let out = pair
        .etcdkit(&["--user", "root:s3cret-pw", "get", "x"], b"")
        .await;
    assert!(!out.stderr_text().contains("s3cret-pw"));
}
