//! Test helpers shared by the TTLog crates' end-to-end tests (a dev
//! dependency of `ttlog-tui` and `ttlog-cli`; not published).
//!
//! [`tmux`] runs a terminal program in a real tmux session, sends it keys
//! and reads its screen, as a user at a terminal would.

pub mod tmux {
    //! A real terminal for end-to-end tests: tmux, driven with `send-keys`
    //! and read with `capture-pane`.
    //!
    //! ```no_run
    //! use ttlog_testkit::tmux::{Session, shell_line, skip_without_tmux};
    //! if skip_without_tmux() {
    //!     return;
    //! }
    //! let s = Session::start("demo", (80, 24), &shell_line("/usr/bin/less".as_ref(), "/etc/hosts"));
    //! s.wait_for(&["localhost"]);
    //! s.keys(&["q"]);
    //! s.wait_exit_restored(0);
    //! ```

    use std::path::Path;
    use std::process::Command;
    use std::time::{Duration, Instant};

    /// How long [`Session::wait_for`] and [`Session::wait_gone`] wait.
    const PATIENCE: Duration = Duration::from_secs(30);

    /// Runs `tmux ARGS` and returns its standard output.
    pub fn tmux(args: &[&str]) -> String {
        let out = Command::new("tmux").args(args).output().expect("run tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Whether a test that needs tmux should be skipped: tmux is missing
    /// (it says so on stderr). Under CI (`CI` set), where `.ci/run`
    /// installs tmux, a missing tmux is a failure instead.
    ///
    /// # Panics
    /// Under CI without tmux.
    pub fn skip_without_tmux() -> bool {
        let have = Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success());
        if !have {
            assert!(std::env::var_os("CI").is_none(), "tmux is missing in CI: .ci/run installs it");
            eprintln!("skipped: tmux is not installed");
        }
        !have
    }

    /// The shell line that runs `program args`, then prints `EXIT=<status>.`
    /// and `MODE=icanon` or `MODE=-icanon` (whether the terminal is back in
    /// canonical, cooked mode), then keeps the pane open.
    pub fn shell_line(program: &Path, args: &str) -> String {
        format!(
            "{} {args}; echo \"EXIT=$?.\"; stty -a | grep -o -- '-\\?icanon' | sed 's/^/MODE=/'; sleep 60",
            program.display()
        )
    }

    /// A tmux session running one shell command, killed when dropped.
    #[derive(Debug)]
    pub struct Session {
        /// The session's name (`-t` target).
        pub name: String,
    }

    impl Session {
        /// Starts `command` in a new detached session of `size` (columns,
        /// rows) with `TERM=xterm-256color`; `tag` makes the name unique
        /// within the test process.
        ///
        /// # Panics
        /// When tmux cannot start the session.
        pub fn start(tag: &str, size: (u16, u16), command: &str) -> Session {
            let name = format!("ttlog-e2e-{tag}-{}", std::process::id());
            let (x, y) = (size.0.to_string(), size.1.to_string());
            let status = Command::new("tmux")
                .args(["new-session", "-d", "-s", &name, "-x", &x, "-y", &y, command])
                .env("TERM", "xterm-256color")
                .status()
                .expect("run tmux new-session");
            assert!(status.success(), "tmux new-session");
            Session { name }
        }

        /// The visible screen, as text.
        pub fn screen(&self) -> String {
            tmux(&["capture-pane", "-p", "-t", &self.name])
        }

        /// Sends keys by tmux name (`"Enter"`, `"C-c"`, `"j"`, …).
        pub fn keys(&self, keys: &[&str]) {
            for k in keys {
                tmux(&["send-keys", "-t", &self.name, k]);
            }
        }

        /// Types `text` literally.
        pub fn text(&self, text: &str) {
            tmux(&["send-keys", "-t", &self.name, "-l", text]);
        }

        /// Waits until the screen contains every one of `want`, and returns it.
        ///
        /// # Panics
        /// After 30 s, showing the screen.
        #[track_caller]
        pub fn wait_for(&self, want: &[&str]) -> String {
            let start = Instant::now();
            loop {
                let s = self.screen();
                if want.iter().all(|w| s.contains(w)) {
                    return s;
                }
                assert!(start.elapsed() < PATIENCE, "waited {PATIENCE:?} for {want:?}; the screen is:\n{s}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }

        /// For a session started with [`shell_line`]: waits until the
        /// program has ended with exit status `code`, checks that the
        /// terminal is back in canonical mode, and returns the screen.
        ///
        /// # Panics
        /// After 30 s, or when the terminal was left in raw mode.
        #[track_caller]
        pub fn wait_exit_restored(&self, code: i32) -> String {
            let screen = self.wait_for(&[&format!("EXIT={code}."), "MODE="]);
            assert!(screen.contains("MODE=icanon"), "terminal left in raw mode:\n{screen}");
            screen
        }

        /// Waits until the screen no longer contains `gone`.
        ///
        /// # Panics
        /// After 30 s, showing the screen.
        #[track_caller]
        pub fn wait_gone(&self, gone: &str) {
            let start = Instant::now();
            while self.screen().contains(gone) {
                assert!(start.elapsed() < PATIENCE, "{gone:?} still shown:\n{}", self.screen());
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    impl Drop for Session {
        fn drop(&mut self) {
            tmux(&["kill-session", "-t", &self.name]);
        }
    }
}
