//! Device sign-in details against the identity emulator.

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use nuage_emulator::{Config, Emulator};
use nuage_graph::auth::{AppRegistration, DeviceFlow, Endpoints};

const CLIENT: &str = "3f2b6a8e-1c4d-4e5f-9a0b-7c8d9e0f1a2b";

fn setup(interval: Duration) -> (nuage_emulator::Handle, Endpoints, AppRegistration) {
    let mut config = Config::for_tests();
    config.device_poll_interval = interval;
    let emu = Emulator::start_in_thread(config).unwrap();
    let endpoints = Endpoints {
        authority: emu.authority_url(),
        graph: emu.graph_url(),
    };
    (
        emu,
        endpoints,
        AppRegistration {
            client_id: CLIENT.into(),
            tenant: "common".into(),
        },
    )
}

#[test]
fn slow_down_adds_five_seconds_to_the_interval_and_sign_in_still_completes() {
    let (emu, endpoints, app) = setup(Duration::from_secs(1));
    // Poll every 200 ms although the server asks for 1 s, with the person
    // approving after 0.7 s: the second poll gets slow_down, after which
    // the client waits 5 s more, then gets the tokens.
    let flow = DeviceFlow::start(&endpoints, &app)
        .unwrap()
        .poll_every(Duration::from_millis(200));
    let code = flow.user_code.clone();
    let started = Instant::now();
    let approver = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(700));
        emu.approve(&code).unwrap();
        emu
    });
    let tokens = flow.wait(&AtomicBool::new(false)).unwrap();
    let waited = started.elapsed();
    let emu = approver.join().unwrap();
    assert!(tokens.refresh_token.is_some());
    assert!(
        waited >= Duration::from_secs(5),
        "slow_down must add 5 s, waited {waited:?}"
    );
    assert!(waited < Duration::from_secs(9), "{waited:?}");
    let st = emu.state();
    assert!(
        st["requests"]["by_status"]["400"].as_u64().unwrap() >= 2,
        "pending and slow_down answers: {}",
        st["requests"]
    );
}

#[test]
fn a_cancelled_sign_in_stops_at_once() {
    let (_emu, endpoints, app) = setup(Duration::from_secs(1));
    let flow = DeviceFlow::start(&endpoints, &app).unwrap();
    let cancel = std::sync::Arc::new(AtomicBool::new(false));
    let c = cancel.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        c.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let started = Instant::now();
    let e = flow.wait(&cancel).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(e.to_string().contains("cancelled"), "{e}");
}
