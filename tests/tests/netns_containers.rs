//! Real containers through the whole pipeline
//! (`berth-unpack busybox ... | berth-netns - ... | berth-spawn start -d -`): a published port
//! served by the container's own httpd, the files it sees, and a link used by name.

use berth_e2e::fixtures;
use berth_e2e::net::{self, TestNet};
use berth_e2e::world::{Teardown, World};

use berth_e2e::until;

#[test]
fn a_real_container_serves_its_published_port_and_is_reached_over_a_link() {
    let w = World::new();
    let tn = TestNet::new(&w.env);
    let s = tn.default_slot().clone();
    fixtures::seed(&w.env, "busybox", "busybox:latest");
    let port = s.port(0);
    let web = w.piped(
        "web",
        &format!("berth-netns - -p {port}:80 --expose 80 --hostname webhost |"),
        "",
        "mkdir -p /www && echo served-by-web > /www/index.html && exec httpd -f -p 80 -h /www",
    );
    let mut ids = vec![web.clone()];
    let _down = Teardown(&w, ids.clone());
    until("the published port", || {
        net::http_get(&format!("http://127.0.0.1:{port}/")).filter(|b| b == "served-by-web\n")
    });
    assert_eq!(
        net::http_get(&format!("http://{}:{port}/", s.gateway)).as_deref(),
        Some("served-by-web\n")
    );

    let client = w.piped(
        "client",
        "berth-netns - --link web:w --add-host extra:10.9.8.7 |",
        "",
        "echo port=$W_PORT; hostname; grep -w extra /etc/hosts; wget -q -O - http://w/; exec sleep 1000",
    );
    ids.push(client.clone());
    let _down2 = Teardown(&w, vec![client.clone()]);
    let logs = until("the client's output", || {
        let r = w.run(&["berth-ps", "logs", "client"]);
        r.stdout.contains("served-by-web").then_some(r.stdout)
    });
    let web_ip = s.addr(2);
    assert!(logs.contains(&format!("port=tcp://{web_ip}:80")), "{logs}");
    assert!(
        logs.contains(&client[..12]),
        "hostname is the short id: {logs}"
    );
    assert!(logs.contains("10.9.8.7\textra"), "{logs}");

    // Removal through the stages' verbs leaves nothing of the containers behind; the default
    // bridge is shared and stays, as docker0 does.
    drop(_down2);
    drop(_down);
    assert!(net::host_links(&berth::net::attach::veth_name(&web)).is_empty());
    assert!(net::host_link_exists(&s.bridge));
    assert!(net::rules_with(&web).is_empty());
    assert!(net::addresses_held(&w.env.paths()).is_empty());
}
