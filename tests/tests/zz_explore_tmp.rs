use e2e_tests::{Env, EnvOptions};
#[test]
fn explore() {
    let env = Env::start(EnvOptions::default());
    std::fs::write(
        "/tmp/explore-env",
        format!(
            "{} {} {}\n",
            env.id(),
            env.dir().display(),
            env.driver_name()
        ),
    )
    .unwrap();
    while !std::path::Path::new("/tmp/explore-stop").exists() {
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    let _ = std::fs::remove_file("/tmp/explore-stop");
}
