use super::{Level, LogState};
use crate::bindings::warden::host::log::Host;

impl Host for LogState {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        self.push(level, message);
        Ok(())
    }
}
