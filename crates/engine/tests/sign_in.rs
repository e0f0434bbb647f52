//! Device sign-in details against the identity emulator.

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use nuage_emulator::{Config, Emulator};
use nuage_graph::GraphError;
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
    // the client waits 5 s more, then gets the tokens. Time passes on the
    // emulator's clock as the client pauses: nothing sleeps.
    let flow = DeviceFlow::start(&endpoints, &app)
        .unwrap()
        .poll_every(Duration::from_millis(200));
    let code = flow.user_code.clone();
    let mut pauses = Vec::new();
    let mut elapsed = Duration::ZERO;
    let tokens = flow
        .wait_with(&mut |d| {
            pauses.push(d);
            emu.advance_clock(d);
            elapsed += d;
            if elapsed >= Duration::from_millis(700) && !emu.pending_user_codes().is_empty() {
                emu.approve(&code).unwrap();
            }
            true
        })
        .unwrap();
    assert!(tokens.refresh_token.is_some());
    assert_eq!(
        pauses,
        [
            Duration::from_millis(200),
            Duration::from_millis(200),
            Duration::from_millis(5200),
        ],
        "pending, slow_down (+5 s), then the tokens"
    );
    let st = emu.state();
    assert!(
        st["requests"]["by_status"]["400"].as_u64().unwrap() >= 2,
        "pending and slow_down answers: {}",
        st["requests"]
    );
}

#[test]
fn an_unanswered_code_expires_when_its_lifetime_has_passed() {
    let (emu, endpoints, app) = setup(Duration::from_secs(5));
    let flow = DeviceFlow::start(&endpoints, &app).unwrap();
    let mut polls = 0;
    let e = flow
        .wait_with(&mut |d| {
            polls += 1;
            emu.advance_clock(d);
            true
        })
        .unwrap_err();
    assert!(matches!(e, GraphError::SignInExpired), "{e}");
    // Polled every 5 s for the code's whole lifetime, then given up.
    let lifetime = emu.config().device_code_lifetime.as_secs();
    assert_eq!(polls, lifetime / 5, "{polls} polls over {lifetime} s");
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
