//! AFL target: one SMTP command line -> `Command::parse`. Crashes on a panic, a
//! non-deterministic parse, or a syntax error that is not a 5xx with a status.
use postern_smtp::command::Command;

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let command = Command::parse(data);
        assert_eq!(command, Command::parse(data));
        if let Command::Invalid(reply) = &command {
            assert!((500..600).contains(&reply.code) && reply.status.is_some());
        }
    });
}
